"""The demo is one seed of the studies' protocol: their budget and tasks, under run names of its own,
with the same config in the pretraining child processes as in the parent that reads their results."""
from electra_lab.config import to_dict
from electra_lab.experiment import load_config
from electra_lab.studies.demo import DEMO_FINETUNE, DEMO_RUNS, demo_configs, pretrain_jobs
from electra_lab.studies.shipped_configs import experiment_path
from electra_lab.studies.spec import load_study


def test_the_demo_runs_at_the_studies_budget_under_its_own_run_names():
    efficiency = load_study(experiment_path("studies/efficiency.yaml"))
    configs = demo_configs()
    for label, cfg in configs.items():
        shipped = load_config(experiment_path(DEMO_RUNS[label]))
        assert cfg.train.flops == efficiency.budget.flops < shipped.train.flops
        assert cfg.run.name != shipped.run.name  # a full-budget `electra-lab pretrain` is not resumed by it
    assert len({cfg.run.name for cfg in configs.values()}) == 2


def test_the_demo_fine_tunes_the_studies_tasks():
    tasks = DEMO_FINETUNE[DEMO_FINETUNE.index("--tasks") + 1:]
    tasks = tasks[:next(i for i, arg in enumerate(tasks) if arg.startswith("--"))]
    assert tasks == load_study(experiment_path("studies/efficiency.yaml")).finetune.tasks


def test_the_callers_overrides_win_and_reach_the_child_processes():
    overrides = ["train.flops=1e13", "train.log_every=7"]
    configs = demo_configs(overrides)
    assert all(cfg.train.flops == 1e13 and cfg.train.log_every == 7 for cfg in configs.values())
    for job in pretrain_jobs(configs, overrides):
        command = list(job.command)
        config_at = next(i for i, arg in enumerate(command) if arg.endswith(".yaml"))
        child = load_config(command[config_at], command[config_at + 1:])
        parent = configs[job.name]
        parent.train.threads, parent.train.progress = 1, False  # what the demo sets on both sides
        assert to_dict(child) == to_dict(parent)


def test_each_runs_points_wait_for_that_run_only_and_are_the_checkpoints_it_writes(tmp_path):
    from electra_lab.studies.demo import finetune_points
    from electra_lab.train.trainer import snapshot_folder

    configs = demo_configs([f"run.output_dir={tmp_path}", "train.snapshot_fractions=[0.25, 0.5]"])
    points = finetune_points(configs, ["--seeds", "1"])
    by_run = {}
    for point in points:
        assert point.job.after in (["ELECTRA"], ["BERT-MLM"]) and point.job.done_when == point.target
        folder = point.job.command[point.job.command.index("finetune") + 1]
        by_run.setdefault((point.label, tuple(point.job.after)), []).append(folder)
    for label, cfg in configs.items():
        run_dir = tmp_path / cfg.run.name
        assert by_run[(label, (label,))] == [str(snapshot_folder(run_dir, 0.25)), str(snapshot_folder(run_dir, 0.5)),
                                             str(run_dir / "export")]
    electra_export = str(tmp_path / configs["ELECTRA"].run.name / "export")
    assert by_run[("random init", ("ELECTRA",))] == [electra_export]  # the floor takes the first run's shape
    assert len({point.target for point in points}) == len(points) == 7


def test_a_task_that_cannot_be_had_stops_the_demo_before_it_pretrains(tmp_path, monkeypatch):
    import pytest

    import electra_lab.studies.demo as demo
    import electra_lab.tasks.registry as registry
    from electra_lab.tasks.offline.sources import TaskDataError

    asked, pretrained = [], []

    def gone(suite, tasks=None, glue_dir=None):
        asked.append((suite, list(tasks)))
        raise TaskDataError("cannot get the task files ['hyperbaton.json']")

    monkeypatch.setattr(registry, "fetch_suite", gone)
    monkeypatch.setattr(demo, "prepare_data", lambda cfg: pretrained.append(cfg))
    with pytest.raises(TaskDataError, match="hyperbaton"):
        demo.run_demo(tmp_path / "results", [f"run.output_dir={tmp_path / 'runs'}"])
    assert asked == [("offline", demo.DEMO_TASKS)] and pretrained == [] and not (tmp_path / "runs").exists()
