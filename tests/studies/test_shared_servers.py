"""Many machines on one study: a real PostgreSQL holds the Optuna claims and a real `mlflow server`
(its store on the same PostgreSQL) the runs. Two grid runners (each a machine with one worker)
share a 4-cell grid, and a sweep started on one machine is joined by another; every trial and cell
is recorded exactly once. Both servers start and stop with the test (process groups)."""
import subprocess
import sys
import time

import optuna
import pytest
import yaml

from electra_lab.studies.grid import ledger_study, unit_trials
from electra_lab.studies.spec import load_study
from electra_lab.studies.sweep import optuna_study
from electra_lab.studies.sweep_spec import load_sweep
from tests.servers import mlflow_server, postgres_bin, postgres_server
from tests.studies.conftest import mlflow_runs
from tests.studies.test_sweep import write_sweep

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    postgres_bin() is None, reason="no PostgreSQL server binaries (initdb, postgres) on this machine: "
                                   "apt-get install postgresql (.ci/run does)")]


@pytest.fixture
def servers(tmp_path):
    """(Optuna storage URL, MLflow tracking URL)."""
    with postgres_server() as pg:
        storage = pg.create_database("optuna")
        with mlflow_server(pg.create_database("mlflow"), tmp_path / "mlflow-artifacts") as tracking:
            yield storage, tracking


def machine(command: str, path, storage: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "electra_lab.cli", command, str(path), "--storage", storage,
                             "--workers", "1", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(*processes: subprocess.Popen) -> list[str]:
    outs = [p.communicate(timeout=600) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-3000:] for _, err in outs]
    return [err for _, err in outs]


def test_grid_and_sweep_across_two_machines_on_postgres_and_an_mlflow_server(study_env, servers):
    storage, tracking = servers

    grid_path = study_env("shared", axes={"model.gen_fraction": [0.5, 1.0], "optim.lr": [1e-3, 2e-3]},
                          tracking_uri=tracking)
    tree = yaml.safe_load(grid_path.read_text())
    tree["finetune"]["floor"] = False  # 4 cells x 1 seed: 4 units
    grid_path.write_text(yaml.safe_dump(tree))
    study = load_study(grid_path)
    assert len(study.units()) == 4
    errs = finish(machine("grid", grid_path, storage), machine("grid", grid_path, storage))
    ledger = ledger_study(study, storage)
    per_unit = {u: sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
                for u, trials in unit_trials(ledger).items()}
    assert per_unit == {u.id: 1 for u in study.units()}
    done = [line for err in errs for line in err.splitlines() if "[jobs] done:" in line]
    assert len(done) == 4 and all(errs), done  # each unit finished once, by one machine or the other
    runs = mlflow_runs(tracking, study.key)
    assert runs[runs["tags.kind"] == "pretrain"]["tags.unit"].value_counts().to_dict() == {u.id: 1
                                                                                          for u in study.units()}
    assert len(runs[runs["tags.kind"] == "study"]) == 1
    assert len(list((study.results / "cells").glob("*.json"))) == 4

    sweep_path = write_sweep(study_env, "shared_sweep", trials=4, workers=1, tracking_uri=tracking)
    sweep = load_sweep(sweep_path)
    first = machine("sweep", sweep_path, storage)
    deadline = time.time() + 120
    while time.time() < deadline and len(optuna_study(sweep, storage).trials) < 4:
        time.sleep(0.2)  # the first machine has offered the 4 slots
    second = machine("sweep", sweep_path, storage, "--join")
    errs = finish(first, second)
    trials = optuna_study(sweep, storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    runs = mlflow_runs(tracking, sweep.key)
    parent = runs[runs["tags.kind"] == "sweep"]["run_id"]
    assert len(parent) == 1
    children = runs[runs["tags.kind"] == "pretrain"]
    assert sorted(children["tags.trial"].astype(int)) == [0, 1, 2, 3]
    assert (children["tags.mlflow.parentRunId"] == parent.iloc[0]).all()
    by_trial = {int(r["tags.trial"]): r for r in children.to_dict("records")}
    for t in trials:
        assert by_trial[t.number]["metrics.objective"] == pytest.approx(t.value)
