"""A fine-tuning job's progress file, {"kind": "finetune", "task", "seed", "done", "total", "step",
"steps"}: the task and seed running now, how many of the job's (task, seed) runs are done, and
the current run's optimiser updates. A parent process (demo, studies) shows it as the job's line."""
from __future__ import annotations

import time
from pathlib import Path

from electra_lab.progress import write_progress


class FinetuneProgress:
    """Writes nothing when `path` is None. Updates are written at most every `every_s` seconds:
    a tiny model's update takes milliseconds, a file replace per update would show in its speed."""

    def __init__(self, path: Path | None, total: int, every_s: float = 1.0):
        self.path, self.every_s = path, every_s
        self.fields = {"kind": "finetune", "task": None, "seed": None, "done": 0, "total": total, "step": 0, "steps": 0}
        self.written = 0.0

    def start(self, task: str, seed: int) -> None:
        self.fields.update(task=task, seed=seed, step=0, steps=0)
        self._write()

    def update(self, step: int, steps: int) -> None:
        self.fields.update(step=step, steps=steps)
        if time.monotonic() - self.written >= self.every_s:
            self._write()

    def run_done(self) -> None:
        self.fields["done"] += 1
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            write_progress(self.path, **self.fields)
            self.written = time.monotonic()
