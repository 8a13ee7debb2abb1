"""One unit of a study, in this process: pretrain a cell with one seed, fine-tune every evaluation
point (the budget fractions' snapshots and the final export, at every labelled-set size), log each
to MLflow, and write the unit's outcome to results/<study>/cells/<unit>.json.

Resumable at every level: the pretraining run resumes from its checkpoint, a finished evaluation
point is read back from <run dir>/evals/ instead of being fine-tuned again.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from electra_lab.config import flatten, to_dict
from electra_lab.studies.spec import FLOOR, Study, Unit, slug
from electra_lab.studies.study_runs import log_evaluation

CELL_FORMAT = 1


@dataclass
class Point:
    fraction: float  # of the pretraining budget (1.0: the final export)
    train_size: int
    recipe: str = ""  # a finetune.recipes name ("": the study has none)

    @property
    def name(self) -> str:
        return f"frac{self.fraction:g}_n{self.train_size}" + (f"_{slug(self.recipe)}" if self.recipe else "")


def points(study: Study, unit: Unit) -> list[Point]:
    fractions = [0.0] if unit.is_floor else study.budget.points()
    recipes = list(study.finetune.recipes) or [""]
    return [Point(f, n, r) for f in fractions for n in study.finetune.train_sizes for r in recipes]


def cell_path(study: Study, unit: Unit) -> Path:
    return study.results / "cells" / f"{unit.id}.json"


def unit_config(study: Study, unit: Unit, tracking: bool, parent_run_id: str | None):
    cfg = study.config(unit, [f"run.name={unit.id}", f"run.output_dir={study.runs_dir}",
                              f"run.experiment={study.key}", f"run.tracking_uri={study.tracking_uri}",
                              f"train.threads={study.threads}", "train.progress=false"])
    cfg.run.tags = {**cfg.run.tags, **unit_tags(study, unit)}
    if tracking and parent_run_id:
        cfg.run.tags["mlflow.parentRunId"] = parent_run_id
    return cfg


def unit_tags(study: Study, unit: Unit) -> dict[str, str]:
    return {"study": study.key, "cell": unit.cell.name, "unit": unit.id, "seed": str(unit.seed),
            **{f"axis.{k}": v for k, v in unit.cell.coords.items()}}


def random_init_export(cfg, folder: Path) -> Path:
    """An untrained encoder of the config's shape with its tokenizer (the floor's starting point):
    the data is prepared for the tokenizer, no step is trained."""
    from electra_lab import strategies
    from electra_lab.data.masking import SpecialIds
    from electra_lab.models.export import export_models
    from electra_lab.train.pretrain import prepare_data

    if (folder / "encoder" / "config.json").exists():
        return folder
    data = prepare_data(cfg)
    strategy = strategies.from_config(cfg, SpecialIds.of(data.tokenizer))
    export_models(strategy.export_models(strategy.build()), data.tokenizer, folder)
    return folder


def run_unit(study: Study, unit: Unit, tracking: bool = True, parent_run_id: str | None = None,
             progress_file: Path | None = None) -> dict:
    """Pretrain (unless the floor), evaluate every point, write and return the cell outcome."""
    from electra_lab.studies.provenance import provenance
    from electra_lab.train.pretrain import run_pretraining

    started = time.time()
    cfg = unit_config(study, unit, tracking, parent_run_id)
    run_dir = Path(cfg.run.output_dir) / cfg.run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    progress_file = progress_file or run_dir / "progress.json"
    if unit.is_floor:
        pretrain = {"steps": 0, "pretrain_flops": 0.0, "run_id": None, "wall_seconds": 0.0}
        folders = {0.0: random_init_export(cfg, run_dir / "random_init") / "encoder"}
        eval_parent = parent_run_id
    else:
        summary = run_pretraining(cfg, tracking=tracking)
        pretrain = {k: summary[k] for k in ("steps", "pretrain_flops", "run_id", "wall_seconds", "precision")}
        pretrain["heldout"] = summary.get("heldout", {})  # the end's held-out pretraining metrics
        pretrain["phases"] = summary.get("phases", [])  # e.g. where a two-stage run switched
        snaps = {float(p.name.split("_")[1]): p for p in (run_dir / "snapshots").glob("frac_*")}
        folders = {f: snaps[f] for f in study.budget.fractions if f in snaps} | {1.0: run_dir / "export"}
        missing = sorted(set(study.budget.fractions) - set(folders))
        if missing:
            raise RuntimeError(f"{unit.id}: no snapshot at budget fractions {missing} under {run_dir / 'snapshots'}")
        eval_parent = summary["run_id"]
    evaluations = [evaluate_point(study, unit, cfg, point, folders[point.fraction], run_dir, tracking, eval_parent,
                                  progress_file) for point in points(study, unit)]
    outcome = {
        "format": CELL_FORMAT, "study": study.key, "unit": unit.id, "cell": unit.cell.name, "seed": unit.seed,
        "coords": unit.cell.coords, "overrides": study.cell_overrides(unit.cell, unit.seed),
        "params": {k: v for k, v in flatten(to_dict(cfg)).items() if not k.startswith("run.")},
        "random_init": unit.is_floor, "pretrain": pretrain, "finetune": to_dict(study.finetune),
        "evaluations": evaluations, "provenance": provenance(),
        "wall_seconds_this_invocation": round(time.time() - started, 1),
    }
    write_json_atomically(cell_path(study, unit), outcome)
    return outcome


def evaluate_point(study: Study, unit: Unit, cfg, point: Point, folder: Path, run_dir: Path, tracking: bool,
                   parent_run_id: str | None, progress_file: Path) -> dict:
    """Fine-tune one checkpoint at one labelled-set size (or read the finished result back)."""
    from electra_lab.studies.evaluate import _flops_near, flops_by_lookup_near
    from electra_lab.tasks.finetune import finetune_options, finetune_suite

    done = run_dir / "evals" / f"{point.name}.json"
    if done.exists():
        return json.loads(done.read_text())
    ft = study.finetune
    recipe = ft.recipes.get(point.recipe, [])
    options = finetune_options([*ft.options, *recipe,
                                f"caps={{train: {point.train_size}, dev: {ft.dev}, test: {ft.test}}}",
                                f"cpu_threads={study.threads}", *([f"base_seed={1000 * unit.seed}"]
                                                                  if unit.is_floor else [])])
    model_dir = folder / "encoder" if (folder / "encoder").is_dir() else folder
    result = finetune_suite(model_dir, ft.suite, ft.tasks, ft.seeds_at(point.fraction), options=options,
                            random_init=unit.is_floor,
                            glue_dir=Path(ft.glue_dir) if ft.glue_dir else None, progress=False,
                            progress_file=progress_file)
    flops = 0.0 if unit.is_floor else (_flops_near(model_dir) or 0.0)
    by_lookup = {"dense": 0.0, "sparse": 0.0} if unit.is_floor else flops_by_lookup_near(model_dir)
    tasks = {name: {"metric": t.metric, "split": t.report_split, "scores": t.scores, "median": t.median,
                    "std": t.std, "dev_scores": t.dev_scores, "dev_median": t.dev_median}
             for name, t in result.tasks.items()}
    row = {"fraction": point.fraction, "train_size": point.train_size, "recipe": point.recipe,
           "pretrain_flops": flops, "suite_score": result.score,
           **({"pretrain_flops_sparse_lookup": by_lookup["sparse"]} if by_lookup else {}),
           "dev_score": result.dev_score, "tasks": tasks,
           "finetune_seconds": round(result.seconds, 1), "run_id": None}
    if tracking:
        row["run_id"] = log_evaluation_row(study, unit, row, parent_run_id)
    write_json_atomically(done, row)
    return row


def evaluation_name(cell: str, seed: int, fraction: float, train_size: int, recipe: str = "") -> str:
    """How a person finds it in the MLflow UI: what was evaluated, at which budget, size and recipe."""
    at = "" if cell == FLOOR else f" @{fraction:g}"
    return f"{cell} s{seed}{at} n={train_size}" + (f" ft={recipe}" if recipe else "")


def evaluation_metrics(row: dict) -> dict[str, float]:
    """An evaluation row's MLflow metrics. Rows written before recipes existed (older cell files)
    carry no dev scores."""
    metrics = {"suite_score": row["suite_score"], "pretrain_flops": row["pretrain_flops"],
               **{k: row[k] for k in ("dev_score", "pretrain_flops_sparse_lookup") if k in row}}
    for name, t in row["tasks"].items():
        metrics[f"{name}/median"] = t["median"]
        metrics[f"{name}/std"] = t["std"]
        metrics.update({f"{name}/seed{i}": s for i, s in enumerate(t["scores"])})
        if "dev_median" in t:
            metrics[f"{name}/dev_median"] = t["dev_median"]
    return metrics


def evaluation_tags(row: dict, random_init: bool) -> dict:
    return {"fraction": f"{row['fraction']:g}", "train_size": row["train_size"], "random_init": random_init,
            **({"recipe": row["recipe"]} if row.get("recipe") else {})}


def log_evaluation_row(study: Study, unit: Unit, row: dict, parent_run_id: str | None) -> str:
    tags = {**unit_tags(study, unit), **evaluation_tags(row, unit.is_floor)}
    params = {"overrides": " ".join(study.cell_overrides(unit.cell, unit.seed)), "finetune": to_dict(study.finetune)}
    name = evaluation_name(unit.cell.name, unit.seed, row["fraction"], row["train_size"], row.get("recipe", ""))
    return log_evaluation(study.tracking_uri, study.key, parent_run_id, name, tags, params, evaluation_metrics(row))


def write_json_atomically(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def read_cell(path: Path) -> dict | None:
    """A committed cell outcome, or None for a file that is not one (reported by the caller)."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and payload.get("format") == CELL_FORMAT else None


def readable_cells(study: Study) -> Iterator[dict]:
    """Every readable cell file of the study, in file order (unreadable ones are skipped: the
    report's evaluation frame, which reads the same files first, names them)."""
    for path in sorted((study.results / "cells").glob("*.json")):
        cell = read_cell(path)
        if cell is not None:
            yield cell
