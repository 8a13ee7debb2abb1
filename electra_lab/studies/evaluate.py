"""Fine-tune a pretrained run's encoder on a task suite and log it as a child of that run.

RUN_OR_PATH may be a Hugging Face folder, a run folder (runs/<name>, its export/encoder is used),
a snapshot folder, or an MLflow run id of a pretraining run (its export_dir tag is used).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from electra_lab.config import DEFAULT_TRACKING_URI
from electra_lab.errors import ElectraLabError
from electra_lab.tasks.finetune import FinetuneOptions, finetune_suite
from electra_lab.tasks.results import SuiteResult


class ModelNotFound(ElectraLabError, FileNotFoundError):
    """The model source the user named (a folder or an MLflow run id) holds no usable encoder."""


@dataclass
class ResolvedModel:
    model_dir: Path
    pretrain_run_id: str | None
    pretrain_flops: float | None


def resolve_model(source: str, tracking_uri: str = DEFAULT_TRACKING_URI) -> ResolvedModel:
    path = Path(source)
    if path.is_dir():
        if (path / "config.json").exists():
            return ResolvedModel(path, _run_id_near(path), _flops_near(path))
        if (path / "export" / "encoder" / "config.json").exists():
            return ResolvedModel(path / "export" / "encoder", _run_id_near(path), _flops_near(path))
        if (path / "encoder" / "config.json").exists():
            return ResolvedModel(path / "encoder", _run_id_near(path), _flops_near(path))
        raise ModelNotFound(f"{source}: no Hugging Face model (config.json) in it, its encoder/ or export/encoder/")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:
        run = mlflow.get_run(source)
    except Exception:
        raise ModelNotFound(f"{source!r} is neither a folder nor an MLflow run id in {tracking_uri}") from None
    export = run.data.tags.get("export_dir")
    if not export or not Path(export, "encoder", "config.json").exists():
        raise ModelNotFound(f"MLflow run {source} has no local export (tag export_dir={export!r})")
    return ResolvedModel(Path(export) / "encoder", source, run.data.metrics.get("pretrain_flops"))


def _run_id_near(path: Path) -> str | None:
    for folder in [path, *path.parents][:4]:
        if (folder / "mlflow_run_id").exists():
            return (folder / "mlflow_run_id").read_text().strip()
    return None


def _flops_near(path: Path) -> float | None:
    """A snapshot records its FLOPs in pretrain_flops.txt; a finished run in summary.json."""
    for folder in [path, *path.parents][:3]:
        if (folder / "pretrain_flops.txt").exists():
            return float((folder / "pretrain_flops.txt").read_text().split()[0])
        if (folder / "summary.json").exists():
            return float(json.loads((folder / "summary.json").read_text())["pretrain_flops"])
    return None


def flops_by_lookup_near(path: Path) -> dict[str, float] | None:
    """{"dense": .., "sparse": ..}: a snapshot's or a finished run's FLOPs under both lookup counts
    (None for runs made before both were recorded)."""
    for folder in [path, *path.parents][:3]:
        if (folder / "pretrain_flops_by_lookup.json").exists():
            return json.loads((folder / "pretrain_flops_by_lookup.json").read_text())
        if (folder / "summary.json").exists():
            return json.loads((folder / "summary.json").read_text()).get("pretrain_flops_by_lookup")
    return None


def finetune_and_log(source: str, suite: str = "offline", tasks: list[str] | None = None, seeds: int = 3,
                     options: FinetuneOptions | None = None, glue_dir: Path | None = None, random_init: bool = False,
                     tracking_uri: str | None = DEFAULT_TRACKING_URI, experiment: str = "electra-lab",
                     label: str | None = None, progress_file: Path | None = None) -> tuple[SuiteResult, ResolvedModel]:
    """Fine-tune `source` on the suite; log it to MLflow unless tracking_uri is None.
    progress_file: where to keep the live {"kind": "finetune", ...} line a parent process shows."""
    resolved = resolve_model(source, tracking_uri or DEFAULT_TRACKING_URI)
    result = finetune_suite(resolved.model_dir, suite, tasks, seeds, options=options, glue_dir=glue_dir,
                            random_init=random_init, progress_file=progress_file)
    if tracking_uri:
        log_suite(result, resolved, tracking_uri, experiment, label or evaluation_label(resolved, suite, random_init))
    return result, resolved


def evaluation_label(resolved: ResolvedModel, suite: str, random_init: bool) -> str:
    """What a fine-tuning run evaluates, as its MLflow name: the run and checkpoint it came from
    (runs/tiny-electra/snapshots/frac_0.5000 -> "tiny-electra frac_0.5000 on offline"), or the
    random-init floor of that shape."""
    folder = Path(resolved.model_dir)
    parts = [p for p in folder.parts if p not in ("encoder", "export", "snapshots")]
    where = " ".join(parts[-2:]) if "snapshots" in folder.parts else (parts[-1] if parts else str(folder))
    return f"random-init ({where} shape) on {suite}" if random_init else f"{where} on {suite}"


def log_suite(result: SuiteResult, resolved: ResolvedModel, tracking_uri: str, experiment: str, name: str) -> str:
    from electra_lab.tracking import Tracker

    tracker = Tracker(tracking_uri, experiment)
    # the floor is no child of the run whose shape it borrows: it evaluates no pretraining
    tracker.start(name, parent_run_id=None if result.random_init else resolved.pretrain_run_id,
                  tags={"kind": "finetune", "suite": result.suite, "random_init": result.random_init})
    try:
        tracker.log_params({"model_dir": str(resolved.model_dir), "suite": result.suite,
                            "seeds": max(len(t.runs) for t in result.tasks.values()),
                            "finetune": result.options})
        metrics = {"suite_score": result.score}
        if resolved.pretrain_flops is not None:
            metrics["pretrain_flops"] = resolved.pretrain_flops
        for name_, task in result.tasks.items():
            metrics[f"{name_}/median"] = task.median
            metrics[f"{name_}/std"] = task.std
        tracker.log_metrics(metrics, step=0)
        out = Path(resolved.model_dir) / f"finetune_{result.suite}.json"
        out.write_text(json.dumps(result.to_dict(), indent=2, default=str))
        tracker.log_artifact(out)
    finally:
        tracker.end()
    return tracker.run_id
