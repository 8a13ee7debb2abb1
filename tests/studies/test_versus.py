"""The headline's `versus` report item: A against B at equal FLOPs, gaps in standard errors of the
difference, and the FLOPs at which A's curve reaches B's final score."""
import json
import math

import pandas as pd
import pytest

from electra_lab.config import ConfigError
from electra_lab.studies.report import write_report
from electra_lab.studies.spec import load_study
from electra_lab.studies.unit_run import CELL_FORMAT
from electra_lab.studies.versus import flops_to_reach, gap_in_se, versus_rows


def stats_rows(cell, points, score="suite_score", std=0.01, n=3, size=1000):
    """points: [(fraction, flops, mean)] -> summarise-shaped rows."""
    return [{"cell": cell, "fraction": f, "train_size": size, "score": score, "mean": m, "std": std, "n": n,
             "pretrain_flops": flops} for f, flops, m in points]


def test_the_gap_is_the_difference_over_the_standard_error_of_the_difference():
    assert gap_in_se(0.70, 0.01, 3, 0.60, 0.02, 3) == pytest.approx(0.10 / math.sqrt(0.0001 / 3 + 0.0004 / 3))
    assert gap_in_se(0.5, 0.0, 2, 0.6, 0.0, 2) != gap_in_se(0.5, 0.0, 2, 0.6, 0.0, 2)  # NaN: no spread, no se


def test_rows_pair_the_same_budget_point_and_drop_points_only_one_cell_has():
    stats = pd.DataFrame([*stats_rows("electra", [(0.5, 1e13, 0.62), (1.0, 2e13, 0.66)], std=0.02),
                          *stats_rows("mlm", [(0.25, 5e12, 0.55), (0.5, 1e13, 0.60), (1.0, 2e13, 0.61)], std=0.01)])
    rows = versus_rows(stats, "electra", "mlm")
    assert rows["fraction"].tolist() == [0.5, 1.0]
    assert rows["difference"].tolist() == pytest.approx([0.02, 0.05])
    assert rows["gap_se"].iloc[1] == pytest.approx(0.05 / math.sqrt(0.0004 / 3 + 0.0001 / 3))


def test_the_flops_to_reach_are_interpolated_in_log_flops_between_the_points_that_bracket_the_target():
    a = stats_rows("a", [(0.25, 1e12, 0.50), (0.5, 1e13, 0.60), (1.0, 1e14, 0.70)])
    b = stats_rows("b", [(0.5, 5e13, 0.60), (1.0, 1e14, 0.65)])
    reach = flops_to_reach(pd.DataFrame([*a, *b]), "a", "b", 1000)
    assert reach["target"] == pytest.approx(0.65) and reach["b_flops"] == pytest.approx(1e14)
    assert reach["how"] == "interpolated" and reach["a_flops"] == pytest.approx(10 ** 13.5)


def test_a_curve_that_starts_above_the_target_or_never_reaches_it_says_so():
    b = stats_rows("b", [(1.0, 1e14, 0.65)])
    early = flops_to_reach(pd.DataFrame([*stats_rows("a", [(0.5, 1e13, 0.66), (1.0, 1e14, 0.70)]), *b]), "a", "b", 1000)
    assert early["how"] == "at or before the first point" and early["a_flops"] == pytest.approx(1e13)
    never = flops_to_reach(pd.DataFrame([*stats_rows("a", [(0.5, 1e13, 0.60), (1.0, 1e14, 0.64)]), *b]), "a", "b", 1000)
    assert never["a_flops"] is None and never["how"] == "not reached" and never["a_best"] == pytest.approx(0.64)


def test_the_report_writes_the_versus_table_and_the_flops_to_reach(study_env):
    path = study_env("v", axes={"objective": {"electra": [], "mlm": ["strategy=mlm"]}},
                     budget={"steps": 4, "fractions": [0.5]},
                     report=[{"kind": "versus", "cells": ["objective=electra", "objective=mlm"], "title": "head"}])
    study = load_study(path)
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    scores = {"electra": {0.5: 0.70, 1.0: 0.80}, "mlm": {0.5: 0.60, 1.0: 0.75}}
    for objective, by_fraction in scores.items():
        for seed in (0, 1, 2):
            evaluations = [{"fraction": f, "train_size": 16, "recipe": "", "pretrain_flops": 1e9 * f,
                            "suite_score": s + seed / 100, "dev_score": s,
                            "tasks": {"sst2": {"median": s + seed / 100, "std": 0.0, "scores": [s]}}}
                           for f, s in by_fraction.items()]
            unit = f"objective={objective}_s{seed}"
            (cells / f"{unit}.json").write_text(json.dumps({
                "format": CELL_FORMAT, "unit": unit, "cell": f"objective={objective}", "seed": seed,
                "coords": {"objective": objective}, "evaluations": evaluations}))
    text = write_report(study, "cells")
    long = pd.read_csv(study.results / "versus_0.csv")
    suite = long[long["score"] == "suite_score"].set_index("fraction")
    assert suite.loc[1.0, "difference"] == pytest.approx(0.05)
    assert suite.loc[0.5, "gap_se"] == pytest.approx(0.10 / math.sqrt(2 * 0.01 ** 2 / 3))
    # A's 0.70 at 5e8 FLOPs is below B's final 0.75 and its 0.80 at 1e9 above: halfway in log FLOPs
    assert f"reaches objective=mlm's final suite score 0.760 at {10 ** (8.69897 + 0.5 * 0.30103):.3g} FLOPs" in text


@pytest.mark.parametrize("cells", [["objective=electra"], ["objective=electra", "random-init"]])
def test_versus_needs_two_pretrained_cells(study_env, cells):
    path = study_env("v", axes={"objective": {"electra": [], "mlm": ["strategy=mlm"]}},
                     report=[{"kind": "versus", "cells": cells}])
    with pytest.raises(ConfigError, match="versus compares two pretrained cells"):
        load_study(path)
