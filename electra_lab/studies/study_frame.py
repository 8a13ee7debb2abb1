"""A study's evaluations as one pandas frame, from MLflow or from the committed cell files.

One row per evaluation: unit, cell, seed, fraction, train_size, recipe (a finetune.recipes name,
or ""), pretrain_flops (the official dense count), pretrain_flops_sparse_lookup (the same steps with
free input lookups; NaN for runs made before it was recorded), suite_score (test), dev_score (what
recipe selection reads), each task's median over fine-tuning seeds, and the cell's axis values
(axis.<name>). Both sources give the same columns, so the report reads whichever holds the study
(runs/ and the MLflow store stay on the machine that made them; the cell files travel with the
repository).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from electra_lab.errors import ElectraLabError
from electra_lab.studies.spec import Study
from electra_lab.studies.unit_run import read_cell

KEYS = ["unit", "cell", "seed", "fraction", "train_size", "recipe"]


class NoEvaluations(ElectraLabError, FileNotFoundError):
    """Neither MLflow nor the cell files hold a finished evaluation of the study."""


def from_cells(study: Study) -> pd.DataFrame:
    rows = []
    for path in sorted((study.results / "cells").glob("*.json")):
        cell = read_cell(path)
        if cell is None:
            raise NoEvaluations(f"{path} is not a cell file of this version (unreadable or another format)")
        for e in cell["evaluations"]:
            row = {"unit": cell["unit"], "cell": cell["cell"], "seed": int(cell["seed"]),
                   "fraction": float(e["fraction"]), "train_size": int(e["train_size"]),
                   "recipe": e.get("recipe", ""), "pretrain_flops": float(e["pretrain_flops"]),
                   "suite_score": float(e["suite_score"]), "dev_score": float(e.get("dev_score", "nan")),
                   "pretrain_flops_sparse_lookup": float(e.get("pretrain_flops_sparse_lookup", "nan")),
                   "run_id": e.get("run_id")}
            row.update({name: float(t["median"]) for name, t in e["tasks"].items()})
            row.update({f"axis.{k}": v for k, v in cell["coords"].items()})
            rows.append(row)
    return pd.DataFrame(rows)


def from_mlflow(study: Study) -> pd.DataFrame:
    from electra_lab.studies.study_runs import evaluation_runs

    runs = evaluation_runs(study.tracking_uri, study.key, study.key)
    if runs.empty:
        return pd.DataFrame()
    frame = pd.DataFrame({
        "unit": runs["tags.unit"], "cell": runs["tags.cell"], "seed": runs["tags.seed"].astype(int),
        "fraction": runs["tags.fraction"].astype(float), "train_size": runs["tags.train_size"].astype(int),
        "recipe": runs["tags.recipe"].fillna("") if "tags.recipe" in runs else "",
        "pretrain_flops": runs["metrics.pretrain_flops"].astype(float),
        "suite_score": runs["metrics.suite_score"].astype(float),
        **{k: runs[f"metrics.{k}"].astype(float) if f"metrics.{k}" in runs else float("nan")
           for k in ("dev_score", "pretrain_flops_sparse_lookup")},
        "run_id": runs["run_id"]})
    for column in runs.columns:
        if column.startswith("metrics.") and column.endswith("/median") and not column.endswith("/dev_median"):
            frame[column[len("metrics."):-len("/median")]] = runs[column].astype(float)
        if column.startswith("tags.axis."):
            frame[column[len("tags."):]] = runs[column]
    # a unit evaluated twice (a rerun after its cell file was deleted) counts once: the latest
    frame = frame.assign(_start=runs["start_time"]).sort_values("_start")
    return frame.drop_duplicates(KEYS, keep="last").drop(columns="_start").reset_index(drop=True)


def study_frame(study: Study, source: str = "auto") -> tuple[pd.DataFrame, str]:
    """(frame, where it came from). auto: MLflow when it holds every evaluation the cell files do,
    else the cell files (the runs are gone, or were made on another machine)."""
    if source not in ("auto", "mlflow", "cells"):
        raise ValueError(f"source must be auto|mlflow|cells, got {source!r}")
    cells = from_cells(study) if source in ("auto", "cells") else pd.DataFrame()
    tracked = from_mlflow(study) if source in ("auto", "mlflow") else pd.DataFrame()
    if source == "auto":
        have = set(map(tuple, tracked[KEYS].values.tolist())) if len(tracked) else set()
        need = set(map(tuple, cells[KEYS].values.tolist())) if len(cells) else set()
        frame, where = (tracked, "mlflow") if len(tracked) and need <= have else (cells, "cells")
    else:
        frame, where = (tracked, "mlflow") if source == "mlflow" else (cells, "cells")
    if frame.empty:
        raise NoEvaluations(f"no finished evaluation of study {study.key!r} in {where} "
                            f"({study.tracking_uri if where == 'mlflow' else Path(study.results) / 'cells'})")
    return _canonical_columns(frame).sort_values(KEYS).reset_index(drop=True), where


def _canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fixed column order: both sources (and any row order) give the same frame."""
    fixed = [*KEYS, "pretrain_flops", "pretrain_flops_sparse_lookup", "suite_score", "dev_score", "run_id"]
    axes = sorted(c for c in frame.columns if c.startswith("axis."))
    return frame[[*fixed, *sorted(task_columns(frame)), *axes]]


def task_columns(frame: pd.DataFrame) -> list[str]:
    fixed = set(KEYS) | {"pretrain_flops", "pretrain_flops_sparse_lookup", "suite_score", "dev_score", "run_id"}
    return [c for c in frame.columns if c not in fixed and not c.startswith("axis.")]
