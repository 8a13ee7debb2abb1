"""A study's cost from its cell files: each unit's finishing invocation times its threads."""
import json

import pytest

from electra_lab.studies.cost import study_cost
from electra_lab.studies.report import write_report
from electra_lab.studies.spec import load_study
from electra_lab.studies.unit_run import CELL_FORMAT


def test_core_hours_weigh_each_unit_by_its_threads_and_the_report_says_them(study_env):
    study = load_study(study_env("c", axes={"model.gen_fraction": [0.5, 1.0]}))
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    evaluation = {"fraction": 1.0, "train_size": 16, "recipe": "", "pretrain_flops": 1e9, "suite_score": 0.6,
                  "tasks": {"sst2": {"median": 0.6, "std": 0.0, "scores": [0.6]}}}
    for name, wall, threads in [("gen_fraction=0.5", 1800.0, 2), ("gen_fraction=1", 3600.0, 1)]:
        (cells / f"{name}_s0.json").write_text(json.dumps({
            "format": CELL_FORMAT, "unit": f"{name}_s0", "cell": name, "seed": 0, "coords": {},
            "params": {"train.threads": threads}, "evaluations": [evaluation],
            "wall_seconds_this_invocation": wall}))
    cost = study_cost(study)
    assert cost == {"units": 2, "core_hours": pytest.approx(2.0), "wall_minutes_per_unit": pytest.approx(45.0)}
    assert "Compute: 2.0 core-hours over 2 units, 45.0 min" in write_report(study, "cells")
