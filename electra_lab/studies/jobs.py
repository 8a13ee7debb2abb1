"""Run a study's commands as subprocesses, a few at a time, each after the jobs it needs.

Studies on a small CPU run several single-threaded processes side by side (tiny matmuls scale
poorly across threads). A job whose output already exists is skipped, so a study that was stopped
resumes where it was; a failed job stops the study after the running ones finish, naming it.
While jobs run, each shows one live line from its progress file (studies/job_display.py).
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.studies.job_display import JobDisplay


@dataclass
class Job:
    name: str
    command: list[str]
    done_when: Path | None = None  # the job is finished once this file exists
    after: list[str] = field(default_factory=list)  # names of jobs that must finish first
    log: Path | None = None  # stdout and stderr go here (else inherited)
    progress: Path | None = None  # the progress file the job keeps (electra_lab.progress), shown while it runs
    ok_codes: tuple[int, ...] = ()  # exit codes that mean "not done here, not failed" (e.g. taken by another worker)
    expected_seconds: float = 0.0  # its expected wall time, for a deadline (run_jobs' start_by)

    def finished(self) -> bool:
        return self.done_when is not None and self.done_when.exists()


class JobFailed(ElectraLabError, RuntimeError):
    """A study job exited non-zero (its log is named), or the jobs can never all start."""


def run_jobs(jobs: list[Job], workers: int = 2, poll_seconds: float = 1.0, echo=None, stream=None,
             live: bool | None = None, status_every: float = 30.0,
             overall: tuple[str, int, int] | None = None, start_by: float | None = None) -> list[str]:
    """Run the unfinished jobs, at most `workers` at a time. Lines go to `echo` (default: `stream`,
    above the live bars); live: one redrawn bar per running job (None: when `stream`, default
    stderr, is a terminal), else a plain status line per job at most every `status_every` s.
    overall: (label, done, total) of a bar over the whole study, advanced as jobs succeed.
    start_by: a deadline (time.time()): a job is not started when its expected_seconds would take it
    past it, nor any job after it; running jobs finish. Returns the names of the jobs left so."""
    display = JobDisplay(stream, live, echo, status_every, overall)
    try:
        return _run(jobs, workers, poll_seconds, display, start_by)
    finally:
        display.close()


def _leave_for_later(pending: list[Job], done: set[str], left: list[str], start_by: float | None,
                     display: JobDisplay) -> None:
    """Move from `pending` to `left` every job that cannot start in time: one that needs a job left
    for later, or a ready one whose expected time would take it past start_by (repeated, since
    leaving one job may leave the jobs after it)."""
    moved = True
    while moved:
        moved = False
        for job in list(pending):
            late = start_by is not None and all(a in done for a in job.after) and \
                time.time() + job.expected_seconds > start_by
            if late or any(a in left for a in job.after):
                pending.remove(job)
                left.append(job.name)
                moved = True
                why = f"expected {job.expected_seconds / 60:.0f} min, past the deadline" if late else "after one left"
                display.event(f"[jobs] left for a later run: {job.name} ({why})")


def _run(jobs: list[Job], workers: int, poll_seconds: float, display: JobDisplay,
         start_by: float | None = None) -> list[str]:
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("job names must be unique")
    unknown = {a for j in jobs for a in j.after} - set(names)
    if unknown:
        raise ValueError(f"jobs depend on unknown jobs: {sorted(unknown)}")
    by_name = {j.name: j for j in jobs}
    done = {j.name for j in jobs if j.finished()}
    pending = [j for j in jobs if j.name not in done]
    running: dict[str, tuple[subprocess.Popen, object]] = {}
    failed: list[str] = []
    left: list[str] = []  # not started: they would not finish by start_by (or need one that would not)
    while pending or running:
        for name, (proc, handle) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            if handle:
                handle.close()
            del running[name]
            display.finish(name)
            if code == 0:
                done.add(name)
                display.event(f"[jobs] done: {name}")
                display.advance()
            elif code in by_name[name].ok_codes:
                done.add(name)
                display.event(f"[jobs] skipped ({code}): {name}")
            else:
                failed.append(name)
                display.event(f"[jobs] FAILED ({code}): {name}")
        if not failed:
            _leave_for_later(pending, done, left, start_by, display)
            for job in [j for j in pending if all(a in done for a in j.after)]:
                if len(running) >= workers:
                    break
                pending.remove(job)
                handle = None
                if job.log:
                    job.log.parent.mkdir(parents=True, exist_ok=True)
                    handle = open(job.log, "a")
                display.event(f"[jobs] start: {job.name}")
                running[job.name] = (subprocess.Popen(job.command, stdout=handle, stderr=handle), handle)
                display.start(job.name)
        if failed and not running:
            break
        if pending and not running and not failed:
            raise JobFailed(f"jobs can never start (circular dependencies?): {[j.name for j in pending]}")
        for name in running:
            display.update(name, by_name[name].progress)
        time.sleep(poll_seconds)
    if failed:
        logs = [str(j.log) for j in jobs if j.name in failed and j.log]
        raise JobFailed(f"failed jobs: {failed}" + (f"; see {logs}" if logs else "") + "; rerun to resume")
    return left
