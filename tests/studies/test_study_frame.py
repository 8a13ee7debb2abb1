"""The study frame has one column order whatever the source or the order its rows arrive in, so a
report made from MLflow and one made from the cell files are the same table."""
from __future__ import annotations

import json

from electra_lab.studies.spec import load_study
from electra_lab.studies.study_frame import study_frame
from electra_lab.studies.unit_run import CELL_FORMAT


def write_cell(folder, unit, cell, coords, tasks):
    evaluation = {"fraction": 1.0, "train_size": 16, "pretrain_flops": 1e9, "suite_score": 0.5,
                  "tasks": {name: {"median": 0.5} for name in tasks}}
    (folder / f"{unit}.json").write_text(json.dumps({
        "format": CELL_FORMAT, "unit": unit, "cell": cell, "seed": 0, "coords": coords,
        "evaluations": [evaluation]}))


def test_columns_do_not_depend_on_which_cell_comes_first(study_env):
    path = study_env("f", axes={"model.gen_fraction": [0.5, 1.0]})
    study = load_study(path)
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    # the alphabetically first cell names its axes (and tasks) in the opposite order to the second
    write_cell(cells, "a_s0", "a", {"variant": "x", "gen_fraction": 0.5}, ["sst2", "cola"])
    write_cell(cells, "b_s0", "b", {"gen_fraction": 1.0, "variant": "y"}, ["cola", "sst2"])
    frame, where = study_frame(study, "cells")
    assert where == "cells"
    assert list(frame.columns) == ["unit", "cell", "seed", "fraction", "train_size", "recipe", "pretrain_flops",
                                   "pretrain_flops_sparse_lookup", "suite_score", "dev_score", "run_id", "cola",
                                   "sst2", "axis.gen_fraction", "axis.variant"]
    assert list(frame["cell"]) == ["a", "b"]
