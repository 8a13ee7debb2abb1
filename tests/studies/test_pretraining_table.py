"""The report's `pretraining` item: held-out pretraining metrics per cell from the cell files."""
import json

import pandas as pd
import pytest

from electra_lab.config import ConfigError
from electra_lab.studies.report import write_report
from electra_lab.studies.spec import load_study
from electra_lab.studies.unit_run import CELL_FORMAT


def write_cell(cells, cell, seed, heldout, random_init=False):
    evaluation = {"fraction": 1.0, "train_size": 16, "recipe": "", "pretrain_flops": 1e9, "suite_score": 0.6,
                  "dev_score": 0.6, "tasks": {"sst2": {"median": 0.6, "std": 0.0, "scores": [0.6]}}}
    (cells / f"{cell}_s{seed}.json").write_text(json.dumps({
        "format": CELL_FORMAT, "unit": f"{cell}_s{seed}", "cell": cell, "seed": seed,
        "coords": {"objective": cell.split("=")[-1]} if "=" in cell else {}, "random_init": random_init,
        "pretrain": {"heldout": heldout}, "evaluations": [evaluation]}))


def test_the_table_is_mean_and_std_over_seeds_with_a_dash_where_a_strategy_has_no_such_metric(study_env):
    path = study_env("p", axes={"objective": {"electra": [], "mlm": ["strategy=mlm"]}},
                     report=[{"kind": "pretraining", "metrics": ["gen_acc", "gen_entropy", "mlm_acc"],
                              "title": "held out"}])
    study = load_study(path)
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    for seed, acc in enumerate([0.5, 0.6, 0.7]):
        write_cell(cells, "objective=electra", seed, {"step": 4, "gen_acc": acc, "gen_entropy": 2.0 + seed})
    write_cell(cells, "objective=mlm", 0, {"step": 4, "mlm_acc": 0.4})
    write_cell(cells, "objective=mlm", 1, {})  # a cell written before the record existed
    write_cell(cells, "random-init", 0, {}, random_init=True)
    text = write_report(study, "cells")
    table = pd.read_csv(study.results / "pretraining_0.csv").set_index("cell")
    assert list(table.index) == ["objective=electra", "objective=mlm"]  # study order, no floor
    assert table.loc["objective=electra", "gen_acc"] == "0.600 ± 0.100 (n=3)"
    assert table.loc["objective=electra", "gen_entropy"] == "3.000 ± 1.000 (n=3)"
    assert table.loc["objective=electra", "mlm_acc"] == "-"
    assert table.loc["objective=mlm", "mlm_acc"] == "0.400 ± 0.000 (n=1)"
    assert "## held out" in text and "0.600 ± 0.100 (n=3)" in text


@pytest.mark.parametrize("metrics", [None, [], [3]])
def test_a_pretraining_table_needs_metric_names(study_env, metrics):
    path = study_env("p", axes={"objective": {"electra": [], "mlm": ["strategy=mlm"]}},
                     report=[{"kind": "pretraining", "metrics": metrics}])
    with pytest.raises(ConfigError, match="a pretraining table needs metrics"):
        load_study(path)
