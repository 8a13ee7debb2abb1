"""The study job runner: order, resumption, failure reporting."""
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


def test_unknown_dependency_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="ghost"):
        run_jobs([write_job("a", tmp_path / "a", after=["ghost"])], echo=lambda m: None)
