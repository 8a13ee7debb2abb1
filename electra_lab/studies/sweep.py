"""`electra-lab sweep SWEEP.yaml`: an Optuna study over config keys at a fixed pretraining budget.

The runner adds trial slots (WAITING trials) to the study in its Optuna storage and starts worker
processes; each worker claims a slot (studies/ledger.py: never one trial twice, across machines),
samples its parameters, pretrains, reports the intermediate measure at each snapshot fraction
(the pruner may stop the trial there) and tells the objective: for fine-tuning and the probe a dev
score, so the search never selects on test; the test score is kept beside it (TEST_SCORE). Every
trial is an MLflow child run of the sweep's run. A trial whose worker died is marked failed on the
next start and its slot is offered again, so the sweep still ends with the trials asked for.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from electra_lab.studies.jobs import Job, run_jobs
from electra_lab.studies.sweep_spec import TEST_SCORE, Measure, Sweep, load_sweep

SLOT = "slot"  # user attr of a trial the runner offered
SWEEP_KIND = "sweep"


def optuna_study(sweep: Sweep, storage_url: str | None):
    import optuna

    from electra_lab.studies.ledger import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=f"sweep:{sweep.key}", storage=open_storage(storage_url),
                               direction=sweep.objective.direction, sampler=sweep.make_sampler(),
                               pruner=sweep.make_pruner(), load_if_exists=True)


@dataclass(frozen=True)
class Measured:
    """value: what Optuna is told (for finetune and probe a dev score: a search never selects on
    test); test: the test score of the same models, recorded to be reported (None for pretrain)."""

    value: float
    test: float | None = None


def measure(sweep: Sweep, m: Measure, folder: Path, trainer=None, run_dir: Path | None = None,
            log_under: str | None = None, label: str = "") -> Measured:
    """The value of a measure for one checkpoint folder."""
    from electra_lab.tasks.base import SplitCaps

    ft = sweep.finetune
    model_dir = folder / "encoder" if (folder / "encoder").is_dir() else folder
    if m.measure == "pretrain":
        rows = trainer.history if trainer is not None else _history(run_dir)
        values = [r[m.metric] for r in rows if m.metric in r and r[m.metric] == r[m.metric]]
        if not values:
            from electra_lab.config import ConfigError

            raise ConfigError(f"{sweep.path}: metric {m.metric!r} was never logged by this strategy")
        return Measured(float(values[-1]))
    if m.measure == "probe":
        from electra_lab.tasks.probe import probe_suite

        caps = SplitCaps(train=ft.train_sizes[0], dev=ft.dev, test=ft.test)
        probed = probe_suite(model_dir, ft.suite, ft.tasks, caps=caps, cpu_threads=sweep.threads,
                             glue_dir=Path(ft.glue_dir) if ft.glue_dir else None)
        return Measured(float(probed.dev_score), float(probed.score))
    from electra_lab.tasks.finetune import finetune_options, finetune_suite

    options = finetune_options([*ft.options, f"caps={{train: {ft.train_sizes[0]}, dev: {ft.dev}, test: {ft.test}}}",
                                f"cpu_threads={sweep.threads}"])
    result = finetune_suite(model_dir, ft.suite, ft.tasks, ft.seeds, options=options, progress=False,
                            glue_dir=Path(ft.glue_dir) if ft.glue_dir else None)
    if log_under:
        from electra_lab.studies.study_runs import log_evaluation

        metrics = {"suite_score": result.score, "dev_suite_score": result.dev_score,
                   **{f"{n}/median": t.median for n, t in result.tasks.items()},
                   **{f"{n}/dev_median": t.dev_median for n, t in result.tasks.items()}}
        log_evaluation(sweep.tracking_uri, sweep.key, log_under, label, {"study": sweep.key},
                       {"finetune": vars(ft)}, metrics)
    return Measured(float(result.dev_score), float(result.score))


def _history(run_dir: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(run_dir / "metrics.csv").to_dict("records")


def run_trial(sweep: Sweep, trial, parent_run_id: str | None, tracking: bool = True) -> float:
    """Pretrain one trial's config, report intermediates (may raise optuna.TrialPruned), return the objective."""
    import optuna

    from electra_lab.train.pretrain import run_pretraining

    values = {name: p.suggest(trial, name) for name, p in sweep.params.items()}
    name = f"trial{trial.number:03d}"
    cfg = sweep.config(values, [f"run.name={name}", f"run.output_dir={sweep.runs_dir}", f"run.experiment={sweep.key}",
                                f"run.tracking_uri={sweep.tracking_uri}", f"train.threads={sweep.threads}",
                                "train.progress=false"])
    cfg.run.tags = {**cfg.run.tags, "study": sweep.key, "trial": str(trial.number),
                    **({"mlflow.parentRunId": parent_run_id} if tracking and parent_run_id else {})}
    run_dir = Path(cfg.run.output_dir) / name
    client_run = {}

    def on_snapshot(trainer, fraction: float, folder: Path) -> None:
        value = measure(sweep, sweep.intermediate, folder, trainer=trainer).value
        step = round(100 * fraction)  # percent of the budget
        trial.report(value, step)
        if trainer.tracker is not None:
            trainer.tracker.log_metrics({"objective/intermediate": value}, step=step)
            client_run["id"] = trainer.tracker.run_id
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at {fraction:g} of the budget ({sweep.intermediate.measure} {value:.4f})")

    try:
        summary = run_pretraining(cfg, tracking=tracking, on_snapshot=on_snapshot)
    except optuna.TrialPruned:
        if tracking and client_run:
            _tag(sweep, client_run["id"], {"pruned": "true"}, status="KILLED")
        raise
    final = measure(sweep, sweep.objective, run_dir / "export", run_dir=run_dir,
                    log_under=summary["run_id"], label=f"{name} final")
    if final.test is not None:
        trial.set_user_attr(TEST_SCORE, final.test)
    if tracking and summary["run_id"]:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(sweep.tracking_uri)
        client.log_metric(summary["run_id"], "objective", final.value, step=100)
        if final.test is not None:
            client.log_metric(summary["run_id"], TEST_SCORE, final.test, step=100)
        for key, v in values.items():
            client.set_tag(summary["run_id"], f"param.{key}", str(v))
    return final.value


def _tag(sweep: Sweep, run_id: str, tags: dict, status: str | None = None) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(sweep.tracking_uri)
    for k, v in tags.items():
        client.set_tag(run_id, k, v)
    if status:
        client.set_terminated(run_id, status)


def work(sweep: Sweep, storage_url: str | None, parent_run_id: str | None, tracking: bool = True) -> int:
    """A worker: claim offered slots one after another until none is left; returns trials run."""
    import optuna

    from electra_lab.studies.ledger import Heartbeat, claim
    from electra_lab.train.trainer import TrainingDiverged

    study = optuna_study(sweep, storage_url)
    ran = 0
    while True:
        waiting = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
                   if t.user_attrs.get(SLOT)]
        mine = next((t for t in waiting if claim(study, t._trial_id)), None)
        if mine is None:
            return ran
        # a sampler seeded per trial: workers in other processes must not draw the same points
        study.sampler = sweep.make_sampler(seed_offset=mine.number)
        trial = optuna.Trial(study, mine._trial_id)
        with Heartbeat(study, mine._trial_id):
            try:
                value = run_trial(sweep, trial, parent_run_id, tracking)
            except optuna.TrialPruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            except TrainingDiverged as exc:  # a bad corner of the space, not a broken sweep
                study.set_user_attr(f"trial{trial.number}_failed", str(exc))
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            except BaseException:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise
            else:
                study.tell(trial, value)
        ran += 1


def offer_slots(sweep: Sweep, study, trials: int | None, echo) -> None:
    """Fail trials whose worker died, then offer slots: up to the file's total of trials that did
    not fail, or `trials` more and one for each dead trial."""
    import optuna

    from electra_lab.studies.ledger import fail_dead

    dead = fail_dead(study)
    live = [t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.FAIL]
    # up to the file's total counts only trials that did not fail, so a dead one's slot is offered again;
    # `trials` more are on top of what there is, plus a fresh slot for each dead trial
    wanted = max(0, sweep.trials - len(live)) if trials is None else trials + len(dead)
    if dead:
        echo(f"[sweep] trials {dead} lost their worker: marked failed, offered again")
        mark_lost_runs(sweep, dead)
    for _ in range(wanted):
        study.enqueue_trial({}, user_attrs={SLOT: True})


def mark_lost_runs(sweep: Sweep, trial_numbers: list[int]) -> None:
    """End the MLflow runs that dead trials left RUNNING as KILLED, saying why."""
    from electra_lab.studies.study_runs import find_runs

    for run in find_runs(sweep.tracking_uri, sweep.key, {"study": sweep.key, "kind": "pretrain"}, status="RUNNING"):
        if int(run.data.tags.get("trial", -1)) in trial_numbers:
            _tag(sweep, run.info.run_id, {"failed_because": "its worker died"}, status="KILLED")


def run_sweep(sweep_path: str | Path, scale: str = "default", trials: int | None = None, workers: int | None = None,
              storage_url: str | None = None, tracking: bool = True, echo=None,
              sets: list[str] | None = None, join: bool = False) -> object:
    """Offer trial slots (the file's total, or `trials` more), run workers, write the report.

    join: another machine started the sweep on this shared storage; only run workers on the slots
    it offered (offering here too would race with it and add trials)."""
    import optuna

    from electra_lab.studies.study_runs import set_status, study_parent_run

    sweep = load_sweep(sweep_path, scale, sets)
    echo = echo or (lambda message: print(message, file=sys.stderr, flush=True))
    study = optuna_study(sweep, storage_url)
    if not join:
        offer_slots(sweep, study, trials, echo)
    if sweep.objective.measure != "pretrain":  # before any parent run or pretraining: a missing task fails here
        from electra_lab.studies.grid import prepare_task_data

        prepare_task_data(sweep.finetune)
    parent = None
    if tracking:
        parent = study_parent_run(sweep.tracking_uri, sweep.key, sweep.key, kind=SWEEP_KIND,
                                  params={"sweep_file": str(sweep_path), "scale": scale, "base": sweep.base,
                                          "objective": vars(sweep.objective), "pruner": sweep.pruner,
                                          "sampler": sweep.sampler})
        set_status(sweep.tracking_uri, parent, "RUNNING")
    waiting = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    n = min(workers or sweep.workers, waiting)
    echo(f"[sweep] {sweep.key}: {waiting} trial(s) to run on {n} worker(s)")
    if n:
        from electra_lab.studies.grid import prepare_shared_data_for

        prepare_shared_data_for([sweep.config({})])
        command = [sys.executable, "-m", "electra_lab.studies.sweep_worker", str(sweep_path), "--scale", scale,
                   *(["--storage", storage_url] if storage_url else []),
                   *(["--parent-run", parent] if parent else []), *([] if tracking else ["--no-tracking"]),
                   *[f"--set={item}" for item in sets or []]]
        run_jobs([Job(f"worker{i}", command, log=sweep.runs_dir / f"worker{i}.log") for i in range(n)],
                 workers=n, echo=echo)
    if parent:
        set_status(sweep.tracking_uri, parent, "FINISHED")
    from electra_lab.studies.sweep_report import write_sweep_report

    write_sweep_report(sweep, study, command=None)
    return study

