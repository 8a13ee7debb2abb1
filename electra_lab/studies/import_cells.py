"""Put committed cell files back into MLflow: a study made on other machines (or whose runs/ and
MLflow store are gone) becomes browsable again, as the same parent / cell / evaluation tree."""
from __future__ import annotations

from electra_lab.studies.spec import FLOOR, Study
from electra_lab.studies.study_frame import KEYS, from_cells, from_mlflow
from electra_lab.studies.study_runs import log_evaluation, study_parent_run
from electra_lab.studies.unit_run import evaluation_metrics, evaluation_name, evaluation_tags, read_cell


def import_cells(study: Study) -> int:
    """Log every cell-file evaluation MLflow lacks; returns how many were logged. A cell's
    pretraining run is recreated as a finished run tagged imported=true holding its params."""
    tracked = from_mlflow(study)
    have = set(map(tuple, tracked[KEYS].values.tolist())) if len(tracked) else set()
    if from_cells(study).empty:
        return 0
    parent = study_parent_run(study.tracking_uri, study.key, study.key, params={"imported": True})
    logged = 0
    for path in sorted((study.results / "cells").glob("*.json")):
        cell = read_cell(path)
        missing = [e for e in cell["evaluations"] if (cell["unit"], cell["cell"], int(cell["seed"]),
                                                     float(e["fraction"]), int(e["train_size"]),
                                                     e.get("recipe", "")) not in have]
        if not missing:
            continue
        tags = {"study": study.key, "cell": cell["cell"], "unit": cell["unit"], "seed": cell["seed"],
                "imported": "true", **{f"axis.{k}": v for k, v in cell["coords"].items()}}
        under = parent
        if cell["cell"] != FLOOR:
            under = log_evaluation(study.tracking_uri, study.key, parent, cell["unit"], {**tags, "kind": "pretrain"},
                                   cell["params"], {"pretrain_flops": cell["pretrain"]["pretrain_flops"]})
        for e in missing:
            name = evaluation_name(cell["cell"], cell["seed"], e["fraction"], e["train_size"], e.get("recipe", ""))
            log_evaluation(study.tracking_uri, study.key, under, name,
                           {**tags, **evaluation_tags(e, cell["random_init"])},
                           {"overrides": " ".join(cell["overrides"]), "finetune": cell["finetune"]},
                           evaluation_metrics(e))
            logged += 1
    return logged
