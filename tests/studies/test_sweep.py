"""`electra-lab sweep` with real worker processes on the default storage (a journal file here)."""
import optuna
import pytest
import yaml

from electra_lab.config import ConfigError
from electra_lab.studies.sweep import optuna_study
from electra_lab.studies.sweep_spec import load_sweep
from tests.studies.conftest import cli, mlflow_runs

pytestmark = pytest.mark.slow


def write_sweep(study_env, name, **keys):
    """A sweep file on the study fixture's tiny data (its base tree, minus the grid-only keys)."""
    tree = yaml.safe_load(study_env(name).read_text())
    for grid_only in ("seeds",):
        tree.pop(grid_only)
    tree.update({"params": {"model.gen_fraction": {"type": "categorical", "choices": [0.5, 1.0]},
                            "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
                 "objective": {"measure": "pretrain", "metric": "eval/disc_loss", "direction": "minimize"},
                 "budget": {"steps": 4, "fractions": [0.5]}, "trials": 3, "workers": 2, **keys})
    path = study_env(name).with_name(f"{name}_sweep.yaml")
    path.write_text(yaml.safe_dump(tree))
    return path


def test_two_workers_on_the_default_storage_complete_every_trial_each_a_child_run(study_env, tmp_path):
    path = write_sweep(study_env, "sw")
    done = cli("sweep", str(path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "optuna.journal").exists()  # the default storage, in the working folder
    sweep = load_sweep(path)
    study = optuna_study(sweep, None)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3
    runs = mlflow_runs(sweep.tracking_uri, sweep.key)
    parent = runs[runs["tags.kind"] == "sweep"]["run_id"]
    assert len(parent) == 1
    trials = runs[runs["tags.kind"] == "pretrain"]
    assert sorted(trials["tags.trial"].astype(int)) == [0, 1, 2]
    assert (trials["tags.mlflow.parentRunId"] == parent.iloc[0]).all()
    by_trial = {int(r["tags.trial"]): r for r in trials.to_dict("records")}
    for t in study.trials:  # the objective MLflow holds is the one Optuna was told, with its params
        assert by_trial[t.number]["metrics.objective"] == pytest.approx(t.value)
        assert float(by_trial[t.number]["params.optim.lr"]) == pytest.approx(t.params["optim.lr"])
        assert 50 in t.intermediate_values
    for name in ("best_trial.json", "optimization_history.png", "param_vs_objective.png", "trials.csv", "README.md"):
        assert (sweep.results / name).exists(), name
    more = cli("sweep", str(path), "--trials", "1", "--workers", "1")  # --trials adds to the study
    assert more.returncode == 0, more.stderr
    assert len(optuna_study(sweep, None).trials) == 4


def test_a_pruner_stops_a_trial_whose_intermediate_value_is_bad(study_env):
    # every discriminator loss is above 0, so the threshold rule finds each trial's value at half
    # its budget bad: the trial must stop there, marked pruned, its MLflow run killed
    path = write_sweep(study_env, "pr", trials=1, workers=1, pruner={"name": "threshold", "upper": 0.0},
                       budget={"steps": 6, "fractions": [0.5]})
    done = cli("sweep", str(path))
    assert done.returncode == 0, done.stderr
    sweep = load_sweep(path)
    (trial,) = optuna_study(sweep, None).trials
    assert trial.state == optuna.trial.TrialState.PRUNED and list(trial.intermediate_values) == [50]
    run = mlflow_runs(sweep.tracking_uri, sweep.key).query("`tags.kind` == 'pretrain'").iloc[0]
    assert run["status"] == "KILLED" and run["tags.pruned"] == "true"
    import torch

    state = torch.load(sweep.runs_dir / "trial000" / "checkpoint.pt", weights_only=False)
    assert state["step"] < 6  # stopped at the snapshot, before the budget
    assert not (sweep.runs_dir / "trial000" / "export").exists()


@pytest.mark.parametrize("keys, named", [
    ({"pruner": {"name": "median", "n_startup": 2}}, "unknown arguments ['n_startup']"),
    ({"pruner": {"name": "medain"}}, "pruner.name must be one of"),
    ({"params": {"model.gen_fraction": {"type": "float", "low": 1.0, "high": 0.1}}}, "needs low <= high"),
    ({"params": {"model.gen_fractoin": {"type": "float", "low": 0.1, "high": 1.0}}}, "unknown config key"),
    ({"objective": {"measure": "loss"}}, "objective.measure must be one of"),
    ({"budget": {"fractions": [0.5]}}, "at a fixed budget"),
])
def test_bad_sweep_files_name_the_problem(study_env, keys, named):
    with pytest.raises(ConfigError, match=None) as err:
        load_sweep(write_sweep(study_env, "bad", **keys))
    assert named in str(err.value)


def test_a_worker_killed_mid_trial_leaves_the_sweep_usable(study_env, tmp_path):
    """SIGKILL the worker process that owns trial 0 while it pretrains: the restarted sweep marks that
    trial failed (and its MLflow run KILLED), offers one more, and completes the file's 2 trials."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = write_sweep(study_env, "kill", trials=2, workers=1, budget={"steps": 400, "fractions": [0.5]})
    sweep = load_sweep(path)
    runner = subprocess.Popen([sys.executable, "-m", "electra_lab.cli", "sweep", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    checkpoint = sweep.runs_dir / "trial000" / "checkpoint.pt"
    deadline, owner = time.time() + 240, None
    while time.time() < deadline and owner is None:
        trials = optuna_study(sweep, None).get_trials(deepcopy=False)
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and "owner" in t.user_attrs]
        if running and checkpoint.exists():
            owner = running[0].user_attrs["owner"]
        time.sleep(0.1)
    assert owner is not None, "trial 0 never got going"
    os.kill(int(owner["pid"]), signal.SIGKILL)  # the worker alone, mid-trial
    runner.communicate(timeout=120)
    assert not (sweep.runs_dir / "trial000" / "export").exists(), "the kill must land mid-trial"
    assert optuna_study(sweep, None).trials[0].state == optuna.trial.TrialState.RUNNING  # left behind

    again = cli("sweep", str(path))
    assert again.returncode == 0, again.stderr
    assert "trials [0] lost their worker" in again.stderr
    trials = optuna_study(sweep, None).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] + [optuna.trial.TrialState.COMPLETE] * 2
    assert trials[0].user_attrs["failed_because"] == "its worker died"
    runs = mlflow_runs(sweep.tracking_uri, sweep.key).query("`tags.kind` == 'pretrain'")
    by_trial = {int(r["tags.trial"]): r for r in runs.to_dict("records")}
    assert sorted(by_trial) == [0, 1, 2]
    assert by_trial[0]["status"] == "KILLED" and by_trial[0]["tags.failed_because"] == "its worker died"
    assert by_trial[1]["status"] == by_trial[2]["status"] == "FINISHED"


@pytest.mark.parametrize("measure", ["finetune", "pretrain"])
def test_a_fine_tuning_task_that_cannot_be_had_stops_a_finetune_sweep_before_any_trial(study_env, tmp_path, measure):
    import shutil

    objective = {"measure": measure, "metric": "eval/disc_loss", "direction": "minimize"} if measure == "pretrain" \
        else {"measure": "finetune"}
    path = write_sweep(study_env, "gone", objective=objective, trials=1, workers=1)
    shutil.rmtree(tmp_path / "glue" / "SST-2")
    done = cli("sweep", str(path))
    if measure == "pretrain":  # a sweep that never fine-tunes does not need the task
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode != 0 and "SST-2" in done.stderr and "Traceback" not in done.stderr
    assert not list((tmp_path / "runs").rglob("summary.json"))  # no trial pretrained


def test_a_finetune_objective_tells_optuna_the_dev_score_and_keeps_test_beside_it(study_env, monkeypatch):
    import electra_lab.tasks.finetune as finetune
    from electra_lab.studies.sweep import measure
    from electra_lab.studies.sweep_report import write_sweep_report
    from electra_lab.studies.sweep_spec import TEST_SCORE
    from electra_lab.tasks.results import SeedResult, SuiteResult, TaskResult

    run = SeedResult(task="sst2", seed=0, metric="accuracy", score=0.25, metrics={}, report_split="test",
                     dev_by_epoch=[0.5, 0.75], best_epoch=2, train_examples=16, seconds=0.0)
    suite = SuiteResult("glue", "m", False, {"sst2": TaskResult("sst2", "accuracy", "test", runs=[run])})
    monkeypatch.setattr(finetune, "finetune_suite", lambda *a, **k: suite)
    sweep = load_sweep(write_sweep(study_env, "dev", objective={"measure": "finetune"}))
    measured = measure(sweep, sweep.objective, study_env("unused").parent)
    assert (measured.value, measured.test) == (0.75, 0.25)

    study = optuna.create_study(direction="maximize")
    for dev, test in ((0.75, 0.25), (0.5, 0.9)):  # the best on test is not the best on dev
        trial = study.ask()
        trial.suggest_float("model.gen_fraction", 0.1, 1.0)
        trial.set_user_attr(TEST_SCORE, test)
        study.tell(trial, dev)
    text = write_sweep_report(sweep, study)
    assert "dev 0.7500 (the objective), test 0.2500" in text and "0.9000" not in text
