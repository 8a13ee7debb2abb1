"""The study notebooks (analysis/study_grid.ipynb, analysis/study_sweep.ipynb) run end to end on a
tiny finished grid and a tiny finished sweep, and show what MLflow and the Optuna storage hold.

Each notebook is executed as committed (parameters from ELECTRA_LAB_* environment variables, the
way tests/test_analysis.py points pretraining_curves.ipynb at its store), with one probe cell
appended that prints, as JSON, what the notebook computed and drew; a cell that raises fails the
test (nbclient), and so does a table or plot that disagrees with the stores."""
import json
import subprocess
import sys

import nbformat
import optuna
import pytest
import yaml
from nbclient import NotebookClient

from electra_lab.studies.spec import FLOOR, load_study
from electra_lab.studies.sweep import optuna_study
from electra_lab.studies.sweep_spec import load_sweep
from tests.studies.conftest import REPO, cli, mlflow_runs

pytestmark = pytest.mark.slow
ANALYSIS = REPO / "analysis"
PROBE = "PROBE "

GRID_PROBE = """
import json

def _drawn(fig):
    ax = fig.axes[0]
    return {'xscale': ax.get_xscale(),
            'dashed': [float(line.get_ydata()[0]) for line in ax.lines if line.get_linestyle() == '--'],
            'curves': {c.get_label(): {'x': [float(v) for v in c.lines[0].get_xdata()],
                                       'y': [float(v) for v in c.lines[0].get_ydata()], 'yerr': c.has_yerr}
                       for c in ax.containers}}

print('PROBE ' + json.dumps({
    'where': where, 'table': table.to_dict('records'), 'table_text': repr(table),
    'flops': _drawn(flops_fig), 'axes': {name: _drawn(fig) for name, fig in axis_figs.items()},
    'runs': {'study': len(parent_runs), 'pretrain': len(pretrain_runs), 'evaluation': len(evaluation_runs)}},
    default=lambda o: o.item() if hasattr(o, 'item') else str(o)))
"""

SWEEP_PROBE = """
import json

print('PROBE ' + json.dumps({
    'best': None if best is None else {'number': best.number, 'value': best.value, 'params': best.params},
    'trials': trials[['number', 'state', 'value']].to_dict('records'), 'trials_text': repr(trials),
    'intermediate': intermediate.to_dict('records'), 'parent_id': parent_id,
    'trial_runs': trial_runs[['trial', 'run_id', 'metrics.objective']].to_dict('records'),
    'history_points': [len(c.get_offsets()) for c in history_ax.collections],
    'intermediate_lines': len(intermediate_fig.axes[0].lines)},
    default=lambda o: o.item() if hasattr(o, 'item') else str(o)))
"""


def execute(name: str, cwd, probe: str) -> tuple[nbformat.NotebookNode, dict]:
    """Run the notebook in `cwd` with the probe cell appended; (the executed notebook without the
    probe, what the probe printed)."""
    nb = nbformat.read(ANALYSIS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} is committed with outputs"
    assert any("parameters" in c.metadata.get("tags", []) for c in code), f"{name} has no parameters cell"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    probe_cell = nb.cells.pop()
    printed = "".join(o.get("text", "") for o in probe_cell.outputs if o.output_type == "stream")
    lines = [line for line in printed.splitlines() if line.startswith(PROBE)]
    assert lines, f"the probe printed nothing: {probe_cell.outputs}"
    return nb, json.loads(lines[0][len(PROBE):])


def shown_text(nb) -> list[str]:
    return [o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "text/plain" in o.get("data", {})]


def images_per_plot_cell(nb) -> list[int]:
    return [sum("image/png" in o.get("data", {}) for o in c.outputs) for c in nb.cells
            if c.cell_type == "code" and "plot" in c.metadata.get("tags", [])]


def write_sweep(study_env, tmp_path):
    """The tiny sweep: the study fixture's base tree less the grid-only keys, two trials of one categorical."""
    tree = yaml.safe_load(study_env("sw").read_text())
    del tree["seeds"]  # grid-only: a sweep pretrains every trial with its one `seed`
    tree.update({"params": {"model.gen_fraction": {"type": "categorical", "choices": [0.5, 1.0]}},
                 "objective": {"measure": "pretrain", "metric": "eval/disc_loss", "direction": "minimize"},
                 "trials": 2, "workers": 1, "budget": {"steps": 4, "fractions": [0.5]}})
    path = tmp_path / "sw_sweep.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_study_notebooks_show_what_mlflow_and_optuna_hold(study_env, tmp_path, monkeypatch):
    # the sweep runs beside the grid (their own MLflow experiments and Optuna studies in one store
    # and one journal, as two users' runs would be), and its notebook runs while the grid finishes
    grid_path = study_env("g", axes={"model.gen_fraction": [0.5, 1.0]},
                          budget={"steps": 4, "fractions": [0.25, 0.5, 0.75]})
    sweep_path = write_sweep(study_env, tmp_path)
    with open(tmp_path / "grid.log", "w") as log:
        grid = subprocess.Popen([sys.executable, "-m", "electra_lab.cli", "grid", str(grid_path)], stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        done = cli("sweep", str(sweep_path))
        assert done.returncode == 0, done.stderr
        monkeypatch.setenv("ELECTRA_LAB_SWEEP_FILE", str(sweep_path))  # STORAGE stays None: optuna.journal here
        check_sweep_notebook(load_sweep(sweep_path), tmp_path)
        assert grid.wait(timeout=400) == 0, (tmp_path / "grid.log").read_text()[-4000:]
    finally:
        if grid.poll() is None:
            grid.kill()
            grid.wait()
    monkeypatch.setenv("ELECTRA_LAB_STUDY_FILE", str(grid_path))
    check_grid_notebook(load_study(grid_path), tmp_path)


def check_grid_notebook(study, tmp_path):
    nb, seen = execute("study_grid.ipynb", tmp_path, GRID_PROBE)
    runs = mlflow_runs(study.tracking_uri, study.key)
    evals = runs[runs["tags.kind"] == "evaluation"].assign(
        fraction=lambda r: r["tags.fraction"].astype(float), train_size=lambda r: r["tags.train_size"].astype(int))
    expected = evals.groupby(["tags.cell", "fraction", "train_size"]).agg(
        mean=("metrics.suite_score", "mean"), n=("metrics.suite_score", "count"),
        flops=("metrics.pretrain_flops", "mean"))
    assert len(expected) == 2 * 4 + 1  # two cells x (three snapshots + the final export) + the floor

    assert seen["where"] == "mlflow"
    assert seen["table_text"] in shown_text(nb), "the per-cell table is not what the notebook displays"
    table = {(r["cell"], r["fraction"], r["train_size"]): r for r in seen["table"]}
    assert sorted(table) == sorted(expected.index)
    for key, row in expected.iterrows():
        assert table[key]["mean"] == pytest.approx(row["mean"], abs=1e-12), key
        assert table[key]["n"] == row["n"] == 1 and table[key]["std"] == 0.0
        assert table[key]["pretrain_flops"] == pytest.approx(row["flops"]), key

    floor = expected.loc[FLOOR, "mean"].item()
    flops = seen["flops"]
    assert flops["xscale"] == "log" and flops["dashed"] == pytest.approx([floor])
    assert sorted(flops["curves"]) == ["gen_fraction=0.5", "gen_fraction=1"]
    for cell, curve in flops["curves"].items():
        points = expected.loc[cell].sort_values("flops")
        assert curve["x"] == pytest.approx(points["flops"].tolist()) and len(curve["x"]) == 4
        assert curve["y"] == pytest.approx(points["mean"].tolist())
        assert curve["yerr"]

    final = expected[expected.index.get_level_values("fraction") == 1.0].droplevel(["fraction", "train_size"])
    by_axis = seen["axes"]["axis.gen_fraction"]
    assert list(by_axis["curves"]) == ["cells"] and by_axis["dashed"] == pytest.approx([floor])
    assert by_axis["curves"]["cells"]["x"] == [0.5, 1.0]
    assert by_axis["curves"]["cells"]["y"] == pytest.approx(
        [final.loc["gen_fraction=0.5", "mean"], final.loc["gen_fraction=1", "mean"]])

    assert seen["runs"] == {"study": 1, "pretrain": 2, "evaluation": len(evals)}
    assert images_per_plot_cell(nb) == [1, 1]  # score vs FLOPs; score vs gen_fraction


def check_sweep_notebook(sweep, tmp_path):
    nb, seen = execute("study_sweep.ipynb", tmp_path, SWEEP_PROBE)
    study = optuna_study(sweep, None)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert seen["best"] == {"number": study.best_trial.number, "value": pytest.approx(study.best_value, abs=0),
                            "params": study.best_params}
    assert seen["trials"] == [{"number": t.number, "state": "COMPLETE", "value": pytest.approx(t.value, abs=0)}
                              for t in study.trials]
    assert seen["trials_text"] in shown_text(nb), "the trials frame is not what the notebook displays"
    assert seen["intermediate"] == [{"trial": t.number, "state": "COMPLETE", "budget_percent": 50,
                                     "value": pytest.approx(t.intermediate_values[50], abs=0)} for t in study.trials]

    runs = mlflow_runs(sweep.tracking_uri, sweep.key)
    (parent_id,) = runs.loc[runs["tags.kind"] == "sweep", "run_id"]
    assert seen["parent_id"] == parent_id
    children = runs[(runs["tags.kind"] == "pretrain") & (runs["tags.mlflow.parentRunId"] == parent_id)]
    assert sorted(r["run_id"] for r in seen["trial_runs"]) == sorted(children["run_id"])
    assert [(r["trial"], r["metrics.objective"]) for r in seen["trial_runs"]] == [
        (t.number, pytest.approx(t.value)) for t in study.trials]

    assert sum(seen["history_points"]) >= 2  # the optimisation history draws every complete trial
    assert seen["intermediate_lines"] == 2  # one line per trial
    assert images_per_plot_cell(nb) == [2, 1]  # history + parameter slices; intermediate values
