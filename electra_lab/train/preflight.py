"""Checks made before any data is built or step trained: a run that cannot write its folder or reach
its tracking server should say so in seconds, not after the corpus is packed (or never, while MLflow
retries an unreachable server for minutes)."""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.tracking import sqlite_path


class RunSetupError(ElectraLabError, OSError):
    """The run's output folder or tracking store cannot be used."""


def check_output_dir(run_dir: Path) -> None:
    """The run folder exists (or can be made) and a file can be written in it."""
    probe = run_dir / f".write-check-{os.getpid()}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise RunSetupError(f"run folder {run_dir} is not writable ({exc.strerror or exc}): set run.output_dir "
                            "to a folder you can write") from None


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """An http(s) tracking server answers its /health endpoint; a sqlite store's folder is writable."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s):
                return
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RunSetupError(f"MLflow tracking server {uri} cannot be reached ({reason}): start it, fix "
                                "run.tracking_uri, or pass --no-tracking") from None
    db = sqlite_path(uri)
    if db is not None:
        folder = db.parent
        existing = next(p for p in [folder, *folder.parents] if p.exists())  # the store makes the rest
        if not os.access(existing, os.W_OK):
            raise RunSetupError(f"the MLflow sqlite store {uri} cannot be written (folder {folder}): fix "
                                "run.tracking_uri, or pass --no-tracking")


def checkpoint_bytes(models) -> int:
    """A checkpoint's size, about: fp32 weights and Adam's two moments per parameter."""
    return 3 * 4 * sum(p.numel() for p in models.parameters())


def check_free_space(run_dir: Path, models, kept: int) -> None:
    """Room for what the run writes at its peak: a new checkpoint beside the two kept (less the `kept`
    already there) and the exported encoder, so a full disk stops the run before it trains."""
    import shutil

    per_checkpoint = checkpoint_bytes(models)
    needed = per_checkpoint * (3 - kept) + per_checkpoint // 3
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise RunSetupError(f"not enough free space for run folder {run_dir}: {free / 2**20:.1f} MB free, the run "
                            f"needs about {needed / 2**20:.1f} MB (checkpoints of {per_checkpoint / 2**20:.1f} MB, "
                            "two kept, and the export): free space or set run.output_dir elsewhere")
