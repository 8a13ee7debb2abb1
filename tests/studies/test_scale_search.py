"""Scale-search spec checks, job plan and the statistics of its report."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from electra_lab.config import DEFAULT_TRACKING_URI, ConfigError
from electra_lab.errors import ElectraLabError
from electra_lab.studies.scale_search import (
    FLOOR,
    NoPoints,
    collect_points,
    load_spec,
    plan_jobs,
    run_scale_search,
    summarise,
    write_report,
)

SPEC = """
floor_from: a
finetune: {tasks: [movie_polarity, bbc_topic], train_sizes: [100, 400], seeds: 2, options: [min_updates=10]}
variants:
  - {name: a, config: pretrain/tiny_electra.yaml}
  - {name: b, config: pretrain/tiny_mlm.yaml, overrides: [optim.lr=1e-3]}
"""


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_shipped_spec_loads():
    from electra_lab.studies.shipped_configs import experiment_path

    spec = load_spec(experiment_path("studies/scale_search.yaml"))
    assert spec.floor_from in [v.name for v in spec.variants]
    for v in spec.variants:
        assert experiment_path(v.config).exists(), v.config


def test_every_child_command_carries_the_study_tracking_uri(tmp_path):
    uri = f"sqlite:///{tmp_path / 'study.db'}"
    jobs = plan_jobs(load_spec(write_spec(tmp_path, SPEC + f"tracking_uri: {uri}\n")), tmp_path / "out")
    for job in jobs:
        carried = [a for a in job.command if a.startswith("run.tracking_uri=")] if job.name.startswith("pretrain:") \
            else [b for a, b in zip(job.command, job.command[1:], strict=False) if a == "--tracking-uri"]
        assert carried in ([f"run.tracking_uri={uri}"], [uri]), job.name
    default = plan_jobs(load_spec(write_spec(tmp_path)), tmp_path / "out")[0]
    assert f"run.tracking_uri={DEFAULT_TRACKING_URI}" in default.command


def test_store_is_created_at_the_spec_tracking_uri(tmp_path, monkeypatch):
    created = []
    monkeypatch.setattr("electra_lab.tracking.Tracker", lambda uri, experiment: created.append((uri, experiment)))
    monkeypatch.setattr("electra_lab.studies.scale_search.run_jobs", lambda jobs, workers: None)
    spec = write_spec(tmp_path, SPEC + "tracking_uri: sqlite:///elsewhere.db\nexperiment: study-x\n")
    with pytest.raises(NoPoints):  # nothing ran
        run_scale_search(spec, tmp_path / "out")
    assert created == [("sqlite:///elsewhere.db", "study-x")]


def test_jobs_name_their_progress_files(tmp_path):
    jobs = {j.name: j for j in plan_jobs(load_spec(write_spec(tmp_path)), tmp_path / "out")}
    assert jobs["pretrain:a"].progress == Path("runs/scale_search/a/progress.json")  # where the trainer writes it
    finetune = jobs["finetune:b:n400"]
    assert finetune.progress is not None
    assert finetune.command[finetune.command.index("--progress") + 1] == str(finetune.progress)


def test_plan_has_one_pretraining_per_variant_and_finetunes_after_it(tmp_path):
    jobs = {j.name: j for j in plan_jobs(load_spec(write_spec(tmp_path)), tmp_path / "out")}
    assert sorted(n for n in jobs if n.startswith("pretrain:")) == ["pretrain:a", "pretrain:b"]
    assert len([n for n in jobs if n.startswith("finetune:")]) == 3 * 2  # (a, b, floor) x 2 sizes
    floor = jobs[f"finetune:{FLOOR}:n400"]
    assert floor.after == ["pretrain:a"] and "--random-init" in floor.command
    assert "caps={train: 400, dev: 500, test: 1000}" in floor.command and "min_updates=10" in floor.command
    assert "optim.lr=1e-3" in jobs["pretrain:b"].command
    assert list(jobs).index("pretrain:b") < list(jobs).index("finetune:a:n100")  # pretraining first


def test_a_variant_can_take_a_subset_of_the_sizes(tmp_path):
    spec = load_spec(write_spec(tmp_path, SPEC.replace("overrides: [optim.lr=1e-3]", "train_sizes: [400]")))
    names = [j.name for j in plan_jobs(spec, tmp_path)]
    assert "finetune:b:n400" in names and "finetune:b:n100" not in names and f"finetune:{FLOOR}:n100" in names


@pytest.mark.parametrize("text, match", [
    (SPEC.replace("floor_from: a", "floor_from: z"), "floor_from"),
    (SPEC + "\nbogus: 1\n", "bogus"),
    (SPEC.replace("name: b", "name: a"), "unique"),
    (SPEC.replace("seeds: 2", "seedz: 2"), "seedz"),
    (SPEC.replace("overrides: [optim.lr=1e-3]", "train_sizes: [50]"), "outside the protocol"),
])
def test_bad_specs_name_the_problem(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_spec(write_spec(tmp_path, text))


def test_missing_spec_is_named(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def _point(path, scores: dict[str, list[float]], flops=1e13):
    tasks = {t: {"runs": [{"seed": i, "metric": "accuracy", "score": s, "best_epoch": 1} for i, s in enumerate(v)]}
             for t, v in scores.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pretrain_flops": flops, "result": {"tasks": tasks}}))


def test_summary_statistics_and_gap_to_the_floor(tmp_path):
    points = tmp_path / "points"
    _point(points / "a__n100.json", {"t1": [0.70, 0.80], "t2": [0.50, 0.60]})
    _point(points / f"{FLOOR}__n100.json", {"t1": [0.60, 0.60], "t2": [0.40, 0.40]}, flops=0.0)
    seeds = collect_points(points)
    assert len(seeds) == 8 and set(seeds["variant"]) == {"a", FLOOR}
    stats = summarise(seeds).set_index(["variant", "train_size", "task"])
    suite = stats.loc[("a", 100, "suite")]
    assert suite["mean"] == pytest.approx(0.65)  # per-seed suite means 0.60 and 0.70
    assert suite["std"] == pytest.approx(math.sqrt(0.005))
    assert suite["gap_to_floor"] == pytest.approx(0.15)
    assert suite["gap_in_se"] == pytest.approx(0.15 / math.sqrt(0.005 / 2))  # floor has no spread
    assert math.isnan(stats.loc[(FLOOR, 100, "suite")]["gap_in_se"])  # no spread on either side


def test_report_is_written_with_tables_and_plot(tmp_path):
    spec = write_spec(tmp_path)
    points = tmp_path / "points"
    for name in ("a", "b", FLOOR):
        for size in (100, 400):
            _point(points / f"{name}__n{size}.json", {"movie_polarity": [0.6, 0.7], "bbc_topic": [0.5, 0.55]})
    text = write_report(tmp_path, spec, summarise(collect_points(points)), {"command": "test"})
    assert "## Suite score" in text and "n=400" in text and (tmp_path / "learning_curves.png").stat().st_size > 0
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 3 * 2 * 3  # variants x sizes x (2 tasks + suite)


def test_no_points_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fine-tuning points") as caught:
        collect_points(tmp_path)
    assert isinstance(caught.value, ElectraLabError)  # the CLI reports it in one line
