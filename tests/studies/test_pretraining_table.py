"""The report's `pretraining` item: held-out pretraining metrics per cell from the cell files."""
import json

import pandas as pd
import pytest

from electra_lab.config import ConfigError
from electra_lab.studies.pretraining_table import phase_switches
from electra_lab.studies.report import _flops_plot, write_report
from electra_lab.studies.spec import ReportItem, load_study
from electra_lab.studies.unit_run import CELL_FORMAT


def write_cell(cells, cell, seed, heldout, random_init=False, phases=None):
    evaluation = {"fraction": 1.0, "train_size": 16, "recipe": "", "pretrain_flops": 1e9, "suite_score": 0.6,
                  "dev_score": 0.6, "tasks": {"sst2": {"median": 0.6, "std": 0.0, "scores": [0.6]}}}
    (cells / f"{cell}_s{seed}.json").write_text(json.dumps({
        "format": CELL_FORMAT, "unit": f"{cell}_s{seed}", "cell": cell, "seed": seed,
        "coords": {"objective": cell.split("=")[-1]} if "=" in cell else {}, "random_init": random_init,
        "pretrain": {"heldout": heldout, **({"phases": phases} if phases is not None else {})},
        "evaluations": [evaluation]}))


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


def test_a_mid_run_phase_is_read_from_the_cells_and_marked_on_the_flops_plot(study_env):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = study_env("p", axes={"objective": {"electra": [], "mlm": ["strategy=mlm"]}})
    study = load_study(path)
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    two_phases = [{"phase": "generator", "step": 0, "flops": 0.0}, {"phase": "discriminator", "step": 5, "flops": 3e9}]
    write_cell(cells, "objective=electra", 0, {}, phases=[{"phase": "joint", "step": 0, "flops": 0.0}])
    write_cell(cells, "objective=electra", 1, {})  # written before cells recorded phases
    write_cell(cells, "objective=mlm", 0, {})
    write_cell(cells, "objective=mlm", 1, {}, phases=two_phases)
    switches = phase_switches(study)
    # a phase that starts the run is no switch; a cell's record comes from whichever seed has it
    assert switches == {"objective=mlm": [("discriminator", 3e9)]}

    rows = pd.DataFrame({"cell": ["objective=electra"] * 2 + ["objective=mlm"] * 2, "fraction": [0.5, 1.0] * 2,
                         "pretrain_flops": [2e9, 4e9] * 2, "mean": [0.5, 0.6, 0.4, 0.7], "std": [0.01] * 4})
    fig, ax = plt.subplots()
    _flops_plot(ax, rows, ReportItem(kind="flops"), switches)
    marks = [line for line in ax.get_lines() if "phase from here" in line.get_label()]
    assert [line.get_label() for line in marks] == ["objective=mlm: discriminator phase from here"]
    assert list(marks[0].get_xdata()) == [3e9, 3e9]  # a vertical line at the switch's FLOPs
    curves = {bars.get_label(): bars.lines[0] for bars in ax.containers}  # errorbar: (line, caps, bars)
    assert marks[0].get_color() == curves["objective=mlm"].get_color()  # in its curve's colour
    plt.close(fig)
