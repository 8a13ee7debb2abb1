"""MLflow tracking: one MLflow run per training run, nested runs for studies and fine-tuning.

mlflow is imported lazily (it costs seconds) and the default store is a sqlite file in the
working folder, so nothing needs a server.
"""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

from electra_lab.config import flatten


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (an MLflow store or an Optuna storage); None otherwise."""
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


@contextlib.contextmanager
def sqlite_file_lock(url: str, suffix: str):
    """An exclusive file lock beside a sqlite database, <db><suffix> (no-op for anything else)."""
    db = sqlite_path(url)
    if db is None:
        yield
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + suffix), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def store_lock(tracking_uri: str):
    """Find-or-create steps of processes that start together (a study's parent run, its
    experiment) happen one at a time on a sqlite store."""
    return sqlite_file_lock(tracking_uri, ".create.lock")


def ensure_store(tracking_uri: str) -> None:
    """Create an MLflow sqlite store under a file lock: processes that start together (a study's
    runners and workers) would otherwise race to create its tables and one would fail."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    from mlflow.tracking import MlflowClient

    with sqlite_file_lock(tracking_uri, ".lock"):
        MlflowClient(tracking_uri).search_experiments(max_results=1)


class Tracker:
    """A thin wrapper so the trainer never touches mlflow directly."""

    def __init__(self, tracking_uri: str, experiment: str):
        import mlflow

        ensure_store(tracking_uri)
        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)
        self.run_id: str | None = None

    def start(self, run_name: str, run_id: str | None = None, parent_run_id: str | None = None,
              tags: dict | None = None) -> str:
        tags = {"git_commit": git_commit(), **(tags or {})}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = self.mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags=tags)
        self.run_id = run.info.run_id
        return self.run_id

    def has_run(self, run_id: str) -> bool:
        """Whether this store holds run `run_id` (a run folder copied from another machine, or
        a changed run.tracking_uri, names one it does not)."""
        from mlflow.exceptions import MlflowException

        try:
            self.mlflow.get_run(run_id)
        except MlflowException:
            return False
        return True

    def log_params(self, params: dict[str, Any]) -> None:
        flat = {k: str(v)[:6000] for k, v in flatten(params).items()}
        existing = self.mlflow.get_run(self.run_id).data.params
        new = {k: v for k, v in flat.items() if k not in existing}  # a resumed run keeps its params
        items = list(new.items())
        for i in range(0, len(items), 100):
            self.mlflow.log_params(dict(items[i : i + 100]))

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        self.mlflow.log_artifacts(str(local_dir), artifact_path)

    def log_artifact(self, local_path: Path, artifact_path: str | None = None) -> None:
        self.mlflow.log_artifact(str(local_path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        self.mlflow.end_run(status=status)
