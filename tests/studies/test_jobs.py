"""The study job runner: order, resumption, failure reporting, live progress lines."""
import io
import json
import sys

import pytest

from electra_lab.studies.jobs import Job, JobFailed, run_jobs


def write_job(name, target, after=(), code=0):
    # each job appends its name to a shared log, then writes its own marker file
    script = (f"import pathlib,sys; p=pathlib.Path({str(target.parent / 'order.txt')!r}); "
              f"p.write_text((p.read_text() if p.exists() else '') + {name!r} + '\\n'); "
              f"pathlib.Path({str(target)!r}).write_text('ok') if {code} == 0 else None; sys.exit({code})")
    return Job(name, [sys.executable, "-c", script], done_when=target, after=list(after))


def test_dependencies_run_first_and_finished_jobs_are_skipped(tmp_path):
    jobs = [write_job("b", tmp_path / "b", after=["a"]), write_job("a", tmp_path / "a"),
            write_job("c", tmp_path / "c", after=["b"])]
    run_jobs(jobs, workers=2, poll_seconds=0.01, echo=lambda m: None)
    assert (tmp_path / "order.txt").read_text().split() == ["a", "b", "c"]
    (tmp_path / "c").unlink()  # only c is unfinished now
    run_jobs(jobs, workers=2, poll_seconds=0.01, echo=lambda m: None)
    assert (tmp_path / "order.txt").read_text().split() == ["a", "b", "c", "c"]


def test_a_failed_job_is_named_and_its_dependents_never_start(tmp_path):
    jobs = [write_job("bad", tmp_path / "bad", code=3), write_job("next", tmp_path / "next", after=["bad"])]
    with pytest.raises(JobFailed, match="bad"):
        run_jobs(jobs, workers=2, poll_seconds=0.01, echo=lambda m: None)
    assert not (tmp_path / "next").exists()


def test_a_deadline_leaves_the_jobs_that_would_not_finish_by_it_and_those_after_them(tmp_path):
    import dataclasses
    import time

    short = dataclasses.replace(write_job("short", tmp_path / "short"), expected_seconds=1.0)
    long = dataclasses.replace(write_job("long", tmp_path / "long"), expected_seconds=3600.0)
    after_long = write_job("after_long", tmp_path / "after_long", after=["long"])
    after_short = write_job("after_short", tmp_path / "after_short", after=["short"])
    events = []
    left = run_jobs([short, long, after_long, after_short], workers=2, poll_seconds=0.01, echo=events.append,
                    start_by=time.time() + 600)
    assert sorted(left) == ["after_long", "long"]  # an hour's job does not fit in 10 minutes, nor what needs it
    assert sorted((tmp_path / "order.txt").read_text().split()) == ["after_short", "short"]
    assert any("left for a later run: long (expected 60 min, past the deadline)" in e for e in events)
    assert run_jobs([write_job("free", tmp_path / "free")], poll_seconds=0.01, echo=events.append) == []


def test_unknown_dependency_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="ghost"):
        run_jobs([write_job("a", tmp_path / "a", after=["ghost"])], echo=lambda m: None)


def progress_job(name, tmp_path, fields):
    """A job that writes its progress file, then waits (at most 20 s) until the test has seen its
    line: the release file <name>.go appears once the rendered output shows it."""
    progress, release = tmp_path / f"{name}.json", tmp_path / f"{name}.go"
    script = (f"import pathlib, time; from electra_lab.progress import write_progress; "
              f"write_progress(pathlib.Path({str(progress)!r}), **{fields!r}); end = time.time() + 20\n"
              f"while not pathlib.Path({str(release)!r}).exists() and time.time() < end: time.sleep(0.01)")
    return Job(name, [sys.executable, "-c", script], progress=progress)


class ReleasingStream(io.StringIO):
    """Captures what the runner renders; lets a job finish once `text` has been rendered."""

    def __init__(self, tmp_path, waits: dict[str, str]):
        super().__init__()
        self.tmp_path, self.waits = tmp_path, waits

    def write(self, s):
        n = super().write(s)
        for name, text in list(self.waits.items()):
            if text in self.getvalue():
                (self.tmp_path / f"{name}.go").touch()
                del self.waits[name]
        return n


PRETRAIN = {"kind": "pretrain", "step": 3, "total_steps": 10, "tokens_per_s": 5300.0, "loss": 7.25,
            "phase": "joint", "eta_s": 200.0}
FINETUNE = {"kind": "finetune", "task": "movie_polarity", "seed": 1, "done": 1, "total": 3, "step": 50, "steps": 200}


def test_running_jobs_show_their_progress_lines(tmp_path):
    jobs = [progress_job("electra", tmp_path, PRETRAIN), progress_job("points", tmp_path, FINETUNE)]
    # left by an earlier run of the study: must not be shown as this run's progress
    (tmp_path / "electra.json").write_text(json.dumps({**PRETRAIN, "step": 1, "updated": 0}))
    stream = ReleasingStream(tmp_path, {"electra": "step 3/10", "points": "movie_polarity seed 1, 1/3 done"})
    run_jobs(jobs, workers=2, poll_seconds=0.01, stream=stream, live=True)
    out = stream.getvalue()
    assert "step 3/10, 5.30k tok/s, loss 7.250, joint, ETA 03:20" in out
    assert "movie_polarity seed 1, 1/3 done, update 50/200" in out
    assert "step 1/10" not in out
    assert "[jobs] done: electra" in out and "[jobs] done: points" in out  # the event lines stay


def test_without_a_terminal_progress_is_a_plain_status_line(tmp_path):
    lines = []
    stream = ReleasingStream(tmp_path, {})

    def echo(line):
        lines.append(line)
        stream.write(line + "\n")

    stream.waits = {"electra": "[jobs] electra: step 3/10"}
    run_jobs([progress_job("electra", tmp_path, PRETRAIN)], poll_seconds=0.01, echo=echo, stream=stream, live=False,
             status_every=0)
    assert "\r" not in stream.getvalue()  # no bar redrawn in place
    assert lines.count("[jobs] electra: step 3/10, 5.30k tok/s, loss 7.250, joint, ETA 03:20") == 1  # once: unchanged
