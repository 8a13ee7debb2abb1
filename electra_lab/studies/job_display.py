"""What the study job runner shows: its start / done / FAILED lines, and one live line per running
job, read from the progress file the job keeps (electra_lab.progress).

On a terminal every running job gets a tqdm bar of its own that is redrawn at each poll and
cleared when the job ends. Elsewhere (a log file, CI) redrawn bars would fill the log with
carriage returns, so the same line is printed as plain text, at most every `status_every` seconds.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from electra_lab.progress import read_progress


def _width(stream) -> dict:
    """tqdm's width settings: follow the terminal's width, or a fixed 120 columns where the terminal
    reports none (a pseudo-terminal opened by `script` or CI says 0 columns, and tqdm then draws nothing)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return {"dynamic_ncols": True} if columns > 0 else {"ncols": 120}


def progress_line(fields: dict | None) -> str:
    """One job's progress as short text ('' while it has written none)."""
    if not fields:
        return ""
    if fields.get("kind") == "pretrain":
        parts = [f"step {fields.get('step', '?')}/{fields.get('total_steps', '?')}"]
        if fields.get("tokens_per_s") is not None:
            parts.append(f"{tqdm.format_sizeof(fields['tokens_per_s'])} tok/s")
        if fields.get("loss") is not None:
            parts.append(f"loss {fields['loss']:.3f}")
        if fields.get("phase"):
            parts.append(str(fields["phase"]))
        if fields.get("eta_s") is not None:
            parts.append(f"ETA {tqdm.format_interval(fields['eta_s'])}")
        return ", ".join(parts)
    if fields.get("kind") == "finetune":
        line = (f"{fields.get('task', '?')} seed {fields.get('seed', '?')}, "
                f"{fields.get('done', '?')}/{fields.get('total', '?')} done")
        if fields.get("steps"):
            line += f", update {fields.get('step', 0)}/{fields['steps']}"
        return line
    return ", ".join(f"{k} {v}" for k, v in fields.items() if k not in ("kind", "updated"))


def progress_counts(fields: dict | None) -> tuple[int, int] | None:
    """(done, total) for a job's bar, when its progress says so."""
    if not fields:
        return None
    done, total = (("step", "total_steps") if fields.get("kind") == "pretrain" else ("done", "total"))
    if isinstance(fields.get(done), int) and isinstance(fields.get(total), int) and fields[total] > 0:
        return fields[done], fields[total]
    return None


class JobDisplay:
    """Start/done lines through `echo` (default: above the bars on `stream`), live lines per job."""

    def __init__(self, stream=None, live: bool | None = None, echo=None, status_every: float = 30.0,
                 overall: tuple[str, int, int] | None = None):
        self.stream = stream or sys.stderr
        # a bar redrawn in place needs a terminal; None: decide from the stream
        self.live = bool(getattr(self.stream, "isatty", lambda: False)()) if live is None else live
        self.echo = echo or (lambda message: tqdm.write(message, file=self.stream))
        self.status_every = status_every
        self.bars: dict[str, tqdm] = {}
        self.positions: dict[str, int] = {}  # each bar keeps its row while it lives
        self.started: dict[str, float] = {}
        self.last_status: dict[str, tuple[float, str]] = {}
        self.overall = None  # (label, done, total), or a tqdm bar on row 0 when live
        if overall is not None:
            label, done, total = overall
            self.overall = (tqdm(total=total, initial=done, desc=f"{label}: units", position=0, leave=True,
                                 file=self.stream, unit="unit", **_width(self.stream))
                            if self.live else [label, done, total])

    def advance(self) -> None:
        """One more unit of the whole study done."""
        if isinstance(self.overall, tqdm):
            self.overall.update(1)
        elif self.overall is not None:
            self.overall[1] += 1
            self.echo(f"[jobs] {self.overall[0]}: {self.overall[1]}/{self.overall[2]} units done")

    def event(self, message: str) -> None:
        self.echo(message)

    def start(self, name: str) -> None:
        self.started[name] = time.time()
        if self.live:
            taken = set(self.positions.values())
            first = 1 if isinstance(self.overall, tqdm) else 0  # row 0 holds the study's bar
            self.positions[name] = next(row for row in range(first, len(taken) + first + 1) if row not in taken)
            self.bars[name] = tqdm(total=None, desc=name, position=self.positions[name], leave=False, file=self.stream,
                                   bar_format="{desc}{postfix}", **_width(self.stream))
            self.bars[name].set_postfix_str("starting")

    def update(self, name: str, progress_path: Path | None) -> None:
        fields = read_progress(progress_path) if progress_path else None
        if fields and fields.get("updated", 0) < self.started.get(name, 0) - 1:
            fields = None  # left by an earlier run of the job (a resumed study), not this one
        text = progress_line(fields)
        if self.live:
            self._redraw(self.bars[name], fields, text)
        elif text:
            when, last = self.last_status.get(name, (self.started[name], ""))
            if text != last and time.time() - when >= self.status_every:
                self.echo(f"[jobs] {name}: {text}")
                self.last_status[name] = (time.time(), text)

    def finish(self, name: str) -> None:
        bar = self.bars.pop(name, None)
        self.positions.pop(name, None)
        if bar is not None:
            bar.close()
        self.last_status.pop(name, None)

    def close(self) -> None:
        for name in list(self.bars):
            self.finish(name)
        if isinstance(self.overall, tqdm):
            self.overall.close()

    @staticmethod
    def _redraw(bar: tqdm, fields: dict | None, text: str) -> None:
        counts = progress_counts(fields)
        if counts:
            bar.bar_format = "{desc} {bar:20}{postfix}"
            bar.total, bar.n = counts[1], counts[0]
        bar.set_postfix_str(text or "starting", refresh=False)
        bar.refresh()
