"""`electra-lab grid` end to end with real worker processes: nesting in MLflow, cell files, the
report against what MLflow holds, resuming after a real SIGKILL, and two runners on one store."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest

from electra_lab.studies.grid import FINETUNE_TASK_S, dry_run, estimate_unit_seconds, ledger_study, unit_trials
from electra_lab.studies.spec import load_study
from tests.studies.conftest import cli, mlflow_runs

pytestmark = pytest.mark.slow
AXES = {"model.gen_fraction": [0.5, 1.0]}


def complete_trials_per_unit(study):
    ledger = ledger_study(study, "optuna.journal")
    return {unit: sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
            for unit, trials in unit_trials(ledger).items()}


def test_grid_nests_runs_writes_cells_and_the_report_matches_mlflow(study_env):
    path = study_env("g", axes=AXES, workers=2)
    done = cli("grid", str(path))
    assert done.returncode == 0, done.stderr
    study = load_study(path)
    cells = sorted(p.name for p in (study.results / "cells").glob("*.json"))
    assert cells == ["gen_fraction=0.5_s0.json", "gen_fraction=1_s0.json", "random-init_s0.json"]
    # each pretrained cell keeps its run's last held-out evaluation, entropy included
    pretrain_cell = json.loads((study.results / "cells" / cells[0]).read_text())["pretrain"]
    heldout = pretrain_cell["heldout"]
    assert heldout["step"] == 4 and {"gen_acc", "gen_entropy", "disc_auc"} <= set(heldout)
    # "auto" resolves differently per machine, so the cell names the dtype its run used (fp32 here)
    assert pretrain_cell["precision"] == "float32"
    assert [(p["phase"], p["step"], p["flops"]) for p in pretrain_cell["phases"]] == [("joint", 0, 0.0)]

    runs = mlflow_runs(study.tracking_uri, study.key)
    parent = runs[runs["tags.kind"] == "study"]
    assert len(parent) == 1 and parent["status"].iloc[0] == "FINISHED"
    parent_id = parent["run_id"].iloc[0]
    pretrain = runs[runs["tags.kind"] == "pretrain"].set_index("tags.unit")
    assert sorted(pretrain.index) == ["gen_fraction=0.5_s0", "gen_fraction=1_s0"]
    assert (pretrain["tags.mlflow.parentRunId"] == parent_id).all()
    evals = runs[runs["tags.kind"] == "evaluation"]
    assert len(evals) == 2 * 2 + 1  # two cells x (snapshot 0.5 + final) + the floor
    for r in evals.to_dict("records"):
        expected = parent_id if r["tags.cell"] == "random-init" else pretrain.loc[r["tags.unit"], "run_id"]
        assert r["tags.mlflow.parentRunId"] == expected
    assert set(evals["tags.mlflow.runName"]) == {
        "gen_fraction=0.5 s0 @0.5 n=16", "gen_fraction=0.5 s0 @1 n=16", "gen_fraction=1 s0 @0.5 n=16",
        "gen_fraction=1 s0 @1 n=16", "random-init s0 n=16"}
    final = evals[evals["tags.fraction"] == "1"]
    assert (final["metrics.pretrain_flops"] > 0).all()
    assert (final["params.overrides"].str.contains("model.gen_fraction=")).all()

    report = cli("report", str(path))
    assert report.returncode == 0, report.stderr
    summary = pd.read_csv(study.results / "summary.csv")
    suite = summary[summary["score"] == "suite_score"].set_index(["cell", "fraction"])
    for r in evals.to_dict("records"):
        key = (r["tags.cell"], float(r["tags.fraction"]))
        assert suite.loc[key, "mean"] == pytest.approx(r["metrics.suite_score"], abs=1e-12)
        assert suite.loc[key, "pretrain_flops"] == pytest.approx(r["metrics.pretrain_flops"])
    assert "Read from mlflow" in (study.results / "README.md").read_text()

    # the committed cell files alone give the same table, and import back into an empty store
    from_cells = cli("report", str(path), "--source", "cells")
    assert from_cells.returncode == 0, from_cells.stderr
    assert pd.read_csv(study.results / "summary.csv").equals(summary)
    fresh = f"sqlite:///{path.parent / 'fresh.db'}"
    imported = cli("report", str(path), "--import-cells", "--set", f"tracking_uri={fresh}")
    assert imported.returncode == 0 and "imported 5 evaluations" in imported.stderr, imported.stderr
    assert "Read from mlflow" in (study.results / "README.md").read_text()
    assert pd.read_csv(study.results / "summary.csv")[["cell", "fraction", "score", "mean"]].equals(
        summary[["cell", "fraction", "score", "mean"]])

    # a finished study's grid needs no task data: it only says so
    import shutil

    shutil.rmtree(path.parent / "glue" / "SST-2")
    again = cli("grid", str(path))
    assert again.returncode == 0 and "all 3 units done" in again.stderr, again.stderr


def test_dry_run_lists_cells_with_flops_and_an_estimate(study_env):
    text = dry_run(study_env("d", axes=AXES))
    assert "gen_fraction=0.5" in text and "random-init" in text and "estimated wall time" in text
    assert "3 units" in text


def test_dry_run_counts_finished_units_and_sizes_what_is_left_by_what_they_took(study_env):
    from electra_lab.studies.unit_run import CELL_FORMAT

    path = study_env("d", axes=AXES, seeds=[0, 1])
    study = load_study(path)
    from electra_lab.train.config_flops import config_flops

    estimate = {u.cell.name: estimate_unit_seconds(study, u, 0.0 if u.is_floor else
                                                   config_flops(study.config(u))["pretrain_flops"]) / 60
                for u in study.units()}
    (study.results / "cells").mkdir(parents=True)
    for seed, minutes in ((0, 3.0), (1, 5.0)):  # both seeds of one cell finished, at 4 min on average
        unit = f"gen_fraction=0.5_s{seed}"
        (study.results / "cells" / f"{unit}.json").write_text(json.dumps(
            {"format": CELL_FORMAT, "unit": unit, "cell": "gen_fraction=0.5", "seed": seed,
             "wall_seconds_this_invocation": 60 * minutes}))
    text = dry_run(path, workers=1)
    row = next(line for line in text.splitlines() if line.startswith("gen_fraction=0.5 "))
    assert row.split()[-2:] == ["2/2", "4.0"]
    calibration = 4.0 / estimate["gen_fraction=0.5"]
    left = 2 * estimate["gen_fraction=1"] * calibration + 2 * estimate["random-init"] * calibration
    assert f"left to run: 4 of 6 units, about {left:.0f} min on 1 workers" in text
    assert f"estimate x {calibration:.2f}" in text


def test_the_estimate_charges_fine_tuning_by_task_and_encoder_size(study_env):
    bench = ["model.layers=4", "model.hidden=128", "model.heads=2", "model.ffn=512", "model.embedding_size=128"]
    axes = {"width": {"bench": bench, "wide": [*bench, "model.hidden=256", "model.embedding_size=256"]}}
    study = load_study(study_env("e", axes=axes))
    bench, wide = [u for u in study.units() if not u.is_floor]
    bench_s, wide_s = estimate_unit_seconds(study, bench, flops=0.0), estimate_unit_seconds(study, wide, flops=0.0)
    # the benchmarked shape, sst2 not benchmarked, 2 points (0.5, final), 16 labels charged as 250 of 1,000
    assert bench_s == pytest.approx(2 * FINETUNE_TASK_S * 0.25)
    assert 2.0 < wide_s / bench_s < 4.0  # ffn stays 512: attention and projections grow 4x, the FFN 2x
    assert estimate_unit_seconds(study, bench, flops=4e11) == pytest.approx(bench_s + 2.0)  # at 2e11 FLOP/s


def test_sigkill_halfway_then_restart_reruns_nothing_finished(study_env):
    path = study_env("k", axes=AXES)
    study = load_study(path)
    cells = study.results / "cells"
    runner = subprocess.Popen([sys.executable, "-m", "electra_lab.cli", "grid", str(path)], start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(cells.glob("*.json"))) < 1:
        time.sleep(0.5)
    time.sleep(3)  # into the next unit
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its worker, as a crash would
    runner.wait()
    finished = {p.name: p.read_text() for p in cells.glob("*.json")}
    assert 1 <= len(finished) < 3, "the kill must land halfway"

    again = cli("grid", str(path))
    assert again.returncode == 0, again.stderr
    for name, text in finished.items():
        assert (cells / name).read_text() == text, f"{name} was run again"
        assert f"start: {name.removesuffix('.json')}" not in again.stderr
    assert len(list(cells.glob("*.json"))) == 3
    assert set(complete_trials_per_unit(study).values()) == {1}
    runs = mlflow_runs(study.tracking_uri, study.key)
    assert runs[runs["tags.kind"] == "pretrain"]["tags.unit"].value_counts().max() == 1


def test_two_runners_on_one_store_run_each_unit_exactly_once(study_env):
    path = study_env("two", axes=AXES)
    study = load_study(path)
    first, second = (subprocess.Popen([sys.executable, "-m", "electra_lab.cli", "grid", str(path)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2))
    outs = [p.communicate(timeout=400) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, [err[-2500:] for _, err in outs]
    assert complete_trials_per_unit(study) == {u.id: 1 for u in study.units()}
    runs = mlflow_runs(study.tracking_uri, study.key)
    assert runs[runs["tags.kind"] == "pretrain"]["tags.unit"].value_counts().to_dict() == {
        u.id: 1 for u in study.units() if not u.is_floor}
    evals = runs[runs["tags.kind"] == "evaluation"]
    assert evals.groupby(["tags.unit", "tags.fraction"]).size().max() == 1
    assert len(runs[runs["tags.kind"] == "study"]) == 1
    started = [line for out, err in outs for line in err.splitlines() if "[jobs] done:" in line]
    assert len(started) == len(study.units()), started  # every unit finished by exactly one runner's worker
    payloads = [json.loads(p.read_text()) for p in (study.results / "cells").glob("*.json")]
    assert sorted(p["unit"] for p in payloads) == sorted(u.id for u in study.units())


def test_recipes_are_each_fine_tuned_logged_and_chosen_on_dev(study_env):
    import yaml

    finetune = yaml.safe_load(study_env("base").read_text())["finetune"]
    finetune.update(floor=False, recipes={"slow": ["lr=1e-5"], "fast": ["lr=3e-4"]})
    path = study_env("rec", axes={"model.gen_fraction": [0.5]}, budget={"steps": 4}, finetune=finetune)
    done = cli("grid", str(path))
    assert done.returncode == 0, done.stderr
    study = load_study(path)
    runs = mlflow_runs(study.tracking_uri, study.key)
    evals = runs[runs["tags.kind"] == "evaluation"].set_index("tags.recipe")
    assert sorted(evals.index) == ["fast", "slow"]
    assert set(evals["tags.mlflow.runName"]) == {f"gen_fraction=0.5 s0 @1 n=16 ft={r}" for r in ("slow", "fast")}
    assert evals["metrics.dev_score"].between(0, 1).all()
    assert (evals["metrics.pretrain_flops_sparse_lookup"].between(0, evals["metrics.pretrain_flops"],
                                                                  inclusive="neither")).all()

    assert cli("report", str(path)).returncode == 0
    dev = evals["metrics.dev_score"].to_dict()
    best = max(study.finetune.recipes, key=dev.get)  # the first maximum in file order, as a tie is broken
    summary = pd.read_csv(study.results / "summary.csv")
    assert summary.loc[summary["score"] == "suite_score", "mean"].item() == pytest.approx(
        evals.loc[best, "metrics.suite_score"], abs=1e-12)
    assert pd.read_csv(study.results / "recipes_chosen_on_dev.csv")["chosen"].tolist() == [best]


def test_final_seeds_fine_tune_the_export_and_the_floor_with_more_seeds_than_the_curve(study_env):
    import yaml

    finetune = {**yaml.safe_load(study_env("base").read_text())["finetune"], "seeds": 1, "final_seeds": 2}
    path = study_env("fs", axes={"model.gen_fraction": [0.5]}, budget={"steps": 4, "fractions": [0.5]},
                     finetune=finetune)
    study = load_study(path)
    cell, floor = study.units()
    # the estimate charges 1 seed at the half-way snapshot and 2 at the export: 3 against 2 without
    plain = dataclasses.replace(study, finetune=dataclasses.replace(study.finetune, final_seeds=None))
    assert estimate_unit_seconds(study, cell, 0.0) == pytest.approx(1.5 * estimate_unit_seconds(plain, cell, 0.0))
    assert "(2 at the final export and the floor)" in dry_run(path)
    done = cli("grid", str(path))
    assert done.returncode == 0, done.stderr
    seeds = {(c["cell"], e["fraction"]): len(e["tasks"]["sst2"]["scores"])
             for c in (json.loads(p.read_text()) for p in sorted((study.results / "cells").glob("*.json")))
             for e in c["evaluations"]}
    assert seeds == {("gen_fraction=0.5", 0.5): 1, ("gen_fraction=0.5", 1.0): 2, ("random-init", 0.0): 2}


def test_a_grid_worker_runs_torch_on_the_studys_threads(study_env):
    """Two workers on two cores each took every core (4 threads) and ran several times slower."""
    import torch

    from electra_lab.studies import grid_worker

    path = study_env("t", axes={"model.gen_fraction": [0.5]}, budget={"steps": 2, "fractions": []}, threads=1)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        assert grid_worker.main([str(path), "gen_fraction=0.5_s0", "--no-tracking"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_task_whose_files_cannot_be_had_stops_the_grid_before_any_pretraining(study_env, tmp_path):
    import shutil

    path = study_env("g", axes=AXES)
    shutil.rmtree(tmp_path / "glue" / "SST-2")  # the fine-tuning task's source is gone
    done = cli("grid", str(path))
    assert done.returncode != 0 and "SST-2" in done.stderr and "Traceback" not in done.stderr
    # nothing was pretrained (before this check, each unit pretrained and then failed to fine-tune)
    assert not list((tmp_path / "runs").rglob("summary.json")) and not list((tmp_path / "runs").rglob("*.pt"))
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_hours_starts_no_unit_that_would_not_finish_in_time(study_env, tmp_path):
    path = study_env("g", axes=AXES)
    done = cli("grid", str(path), "--hours", "0")
    assert done.returncode == 0, done.stderr
    assert "3 unit(s) would not finish within 0 h and were not started" in done.stderr
    assert "0/3 units done" in done.stdout and "[jobs] start" not in done.stderr
    assert not list((tmp_path / "runs").rglob("summary.json"))
    ledger = ledger_study(load_study(path), None)  # left offered, so a rerun claims them as usual
    assert all(t.state == optuna.trial.TrialState.WAITING for ts in unit_trials(ledger).values() for t in ts)
    rerun = cli("grid", str(path), "--hours", "100")  # time enough: every unit runs
    assert rerun.returncode == 0 and "3/3 units done" in rerun.stdout, rerun.stderr
