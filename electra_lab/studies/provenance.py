"""Who made a result: command, commit, machine, time. Written beside every file in results/."""
from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone

import torch

from electra_lab.tracking import git_commit


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {os.cpu_count()} cores{gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def provenance(command: str | None = None) -> dict:
    return {
        "command": command or " ".join(["electra-lab", *sys.argv[1:]]),
        "commit": git_commit(),
        "machine": machine(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def provenance_markdown(info: dict) -> str:
    return "\n".join(f"- {k}: `{v}`" for k, v in info.items()) + "\n"


def frame_markdown(frame, digits: int = 3) -> str:
    """A pandas frame as a Markdown table (no extra dependency)."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) >= 1e4 else f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
