"""`electra-lab grid STUDY.yaml`: run every unfinished unit (cell x seed) of a study in worker
processes, each unit claimed in the study's Optuna storage first, so several workers (and several
machines sharing the storage and the tracking store) never run one twice.

A unit is done when its cell file exists under results/<study>/cells/ (committed with the
repository, so a study can span sessions and machines) or its trial is COMPLETE in the storage
(finished by another machine). A unit whose worker died (its trial RUNNING with no live owner) is
failed on the next start and offered again; its pretraining resumes from its last checkpoint.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from electra_lab.flops import TransformerShape, layer_flops
from electra_lab.studies.jobs import Job, run_jobs
from electra_lab.studies.spec import Downstream, Study, Unit, load_study
from electra_lab.studies.unit_run import cell_path, points, read_cell, readable_cells

UNIT_ATTR = "unit"  # trial user attr naming the unit
TAKEN_ELSEWHERE = 75  # a worker's exit code when another worker holds (or finished) its unit
STUDY_PARAMS_KEYS = ("base", "seeds", "overrides")


@dataclass
class UnitState:
    unit: Unit
    state: str  # done | running-elsewhere | todo


def ledger_study(study: Study, storage_url: str | None):
    import optuna

    from electra_lab.studies.ledger import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    return optuna.create_study(study_name=f"grid:{study.key}", storage=storage, direction="maximize",
                               load_if_exists=True)


def unit_trials(ledger) -> dict[str, list]:
    """Non-failed trials per unit, lowest number first: the lowest is the unit's claim."""
    import optuna

    out: dict[str, list] = {}
    for trial in ledger.get_trials(deepcopy=False):
        if trial.state != optuna.trial.TrialState.FAIL and UNIT_ATTR in trial.user_attrs:
            out.setdefault(trial.user_attrs[UNIT_ATTR], []).append(trial)
    for trials in out.values():
        trials.sort(key=lambda t: t.number)
    return out


def offer(ledger, unit_ids: list[str]) -> None:
    """A WAITING trial for every unit that has no live or finished one."""
    have = unit_trials(ledger)
    for uid in unit_ids:
        if uid not in have:
            ledger.enqueue_trial({}, user_attrs={UNIT_ATTR: uid})


def take(ledger, unit_id: str) -> int | str | None:
    """Claim the unit: its trial id when this process won it, "done" when it is COMPLETE, None when
    another worker holds it. Duplicate offers (two runners offering at once) resolve to the
    lowest-numbered trial, which every contender tries."""
    import optuna

    from electra_lab.studies.ledger import claim

    offer(ledger, [unit_id])
    first = unit_trials(ledger)[unit_id][0]
    if first.state == optuna.trial.TrialState.COMPLETE:
        return "done"
    if first.state == optuna.trial.TrialState.WAITING and claim(ledger, first._trial_id):
        return first._trial_id
    return None


def unit_states(study: Study, ledger) -> list[UnitState]:
    import optuna

    trials = unit_trials(ledger)
    out = []
    for unit in study.units():
        mine = trials.get(unit.id, [])
        if cell_path(study, unit).exists() and read_cell(cell_path(study, unit)) is not None:
            state = "done"
        elif mine and mine[0].state == optuna.trial.TrialState.COMPLETE:
            state = "done"
        elif mine and mine[0].state == optuna.trial.TrialState.RUNNING:
            state = "running-elsewhere"
        else:
            state = "todo"
        out.append(UnitState(unit, state))
    return out


def select(units: list[Unit], only: list[str] | None) -> list[Unit]:
    """The units --only names: a cell by its name or slug, or one seed of it as CELL_sSEED (either
    spelling of CELL)."""
    if not only:
        return units
    from electra_lab.config import ConfigError

    def names(u: Unit) -> set[str]:
        return {u.cell.name, u.cell.slug, u.id, f"{u.cell.name}_s{u.seed}"}

    known = set().union(*(names(u) for u in units))
    unknown = sorted(set(only) - known)
    if unknown:
        raise ConfigError(f"--only: unknown cells {unknown}; cells: {sorted({u.cell.name for u in units})} "
                          f"(one seed: CELL_sSEED, e.g. {units[0].cell.name}_s{units[0].seed})")
    return [u for u in units if names(u) & set(only)]


def worker_command(study_path: Path, scale: str, unit: Unit, storage_url: str | None, parent_run_id: str | None,
                   tracking: bool, sets: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "electra_lab.studies.grid_worker", str(study_path), unit.id, "--scale", scale,
            *(["--storage", storage_url] if storage_url else []),
            *(["--parent-run", parent_run_id] if parent_run_id else []), *([] if tracking else ["--no-tracking"]),
            *[f"--set={item}" for item in sets or []]]


def run_grid(study_path: str | Path, scale: str = "default", workers: int | None = None, only: list[str] | None = None,
             storage_url: str | None = None, tracking: bool = True, poll_seconds: float = 1.0,
             wait_seconds: float = 10.0, echo=None, sets: list[str] | None = None,
             hours: float | None = None) -> list[UnitState]:
    """Run every unfinished selected unit; returns the final states. Units held by workers of other
    runners are waited for (their cell files appear here only if they share this folder).
    hours: start no unit that is not expected to finish within this many hours of now (its
    expected wall time as the dry run gives it); the running ones finish, the rest wait for a rerun."""
    from electra_lab.studies.ledger import fail_dead
    from electra_lab.studies.study_runs import set_status, study_parent_run

    study = load_study(study_path, scale, sets)
    echo = echo or (lambda message: print(message, file=sys.stderr, flush=True))
    workers = workers or study.workers
    ledger = ledger_study(study, storage_url)
    dead = fail_dead(ledger)
    if dead:
        echo(f"[grid] {len(dead)} unit(s) whose worker died will run again (trials {dead})")
    selected = select(study.units(), only)
    if any(s.state == "todo" for s in unit_states(study, ledger) if s.unit in selected):
        prepare_task_data(study.finetune)  # before any parent run or pretraining: a missing task fails here
    parent = None
    if tracking:
        parent = study_parent_run(study.tracking_uri, study.key, study.key,
                                  params={"study_file": str(study_path), "scale": scale, "base": study.base,
                                          "seeds": study.seeds, "cells": [c.name for c in study.cells],
                                          "finetune": vars(study.finetune)})
        set_status(study.tracking_uri, parent, "RUNNING")
    prepare_shared_data(study, selected)
    start_by, expected = None, {}
    if hours is not None:
        start_by = time.time() + 3600 * hours
        plans, calibration = cell_plans(study, selected)
        expected = {u.id: p.expected_s(calibration) for p in plans for u in p.units}
    while True:
        states = [s for s in unit_states(study, ledger) if s.unit in selected]
        todo = [s.unit for s in states if s.state == "todo"]
        elsewhere = [s.unit for s in states if s.state == "running-elsewhere"]
        done = len(states) - len(todo) - len(elsewhere)
        if not todo and not elsewhere:
            echo(f"[grid] {study.key}: all {len(states)} units done")
            if parent and only is None:
                set_status(study.tracking_uri, parent, "FINISHED")
            return states
        if todo:
            offer(ledger, [u.id for u in todo])
            jobs = [Job(u.id, worker_command(Path(study_path), scale, u, storage_url, parent, tracking, sets),
                        done_when=None, log=study.runs_dir / u.id / "worker.log",
                        progress=study.runs_dir / u.id / "progress.json", ok_codes=(TAKEN_ELSEWHERE,),
                        expected_seconds=expected.get(u.id, 0.0))
                    for u in todo]
            left = run_jobs(jobs, workers=workers, poll_seconds=poll_seconds, echo=echo,
                            overall=(f"{study.key}", done, len(states)), start_by=start_by)
            if left:
                echo(f"[grid] {study.key}: {len(left)} unit(s) would not finish within {hours:g} h and were not "
                     "started; rerun to run them")
                return [s for s in unit_states(study, ledger) if s.unit in selected]
        else:
            echo(f"[grid] waiting for {len(elsewhere)} unit(s) held by other workers: "
                 f"{', '.join(u.id for u in elsewhere[:5])}")
            time.sleep(wait_seconds)
            fail_dead(ledger)


def prepare_task_data(finetune: Downstream) -> None:
    """Fetch and check every fine-tuning task's files once, before the workers start (a task whose
    source cannot be had, e.g. a release gone from PyPI, stops the run before any pretraining)."""
    from electra_lab.tasks.registry import fetch_suite

    fetch_suite(finetune.suite, finetune.tasks, Path(finetune.glue_dir) if finetune.glue_dir else None)


def prepare_shared_data(study: Study, units: list[Unit]) -> None:
    prepare_shared_data_for([study.config(unit) for unit in units])


def prepare_shared_data_for(configs: list) -> None:
    """Build each distinct corpus / tokenizer / block cache once, before workers race to."""
    from electra_lab.train.pretrain import prepare_data

    seen = set()
    for cfg in configs:
        key = repr((cfg.data, cfg.run.seed))
        if key not in seen:
            seen.add(key)
            prepare_data(cfg)


@dataclass
class CellPlan:
    """One cell of a dry run: its cost, the estimate per unit, its units and what its finished ones took."""

    cell: str
    flops: float
    steps: int
    estimate_s: float
    units: list[Unit]
    took: list[float]  # wall seconds of each finished unit

    def expected_s(self, calibration: float) -> float:
        """A unit's expected wall time: what this cell's finished units took, else the calibrated estimate."""
        return sum(self.took) / len(self.took) if self.took else self.estimate_s * calibration


def cell_plans(study: Study, units: list[Unit]) -> tuple[list[CellPlan], float]:
    """Each cell's plan, and the calibration: what the finished units took against their estimate
    (the estimate's rates are one machine's)."""
    from electra_lab.train.config_flops import config_flops

    measured = finished_unit_seconds(study)
    plans = []
    for cell in dict.fromkeys(u.cell.name for u in units):
        mine = [u for u in units if u.cell.name == cell]
        if mine[0].is_floor:
            flops, steps = 0.0, 0
        else:
            info = config_flops(study.config(mine[0]))
            flops, steps = info["pretrain_flops"], info["steps"]
        plans.append(CellPlan(cell, flops, steps, estimate_unit_seconds(study, mine[0], flops), mine,
                              [measured[u.id] for u in mine if u.id in measured]))
    estimated_done = sum(p.estimate_s * len(p.took) for p in plans)
    return plans, (sum(sum(p.took) for p in plans) / estimated_done if estimated_done else 1.0)


def dry_run(study_path: str | Path, scale: str = "default", only: list[str] | None = None,
            workers: int | None = None, sets: list[str] | None = None) -> str:
    """The cells with their pretraining FLOPs and steps, an estimated wall time per unit, what the
    finished units of each cell took (from their cell files), and the wall time left to run."""
    from electra_lab.flops import format_flops

    study = load_study(study_path, scale, sets)
    workers = workers or study.workers
    units = select(study.units(), only)
    plans, calibration = cell_plans(study, units)
    lines = [f"study {study.key}: {len(plans)} cells x {len(study.seeds)} seeds = "
             f"{len(units)} units; {len(study.budget.points())} budget points x "
             f"{len(study.finetune.train_sizes)} sizes x {max(1, len(study.finetune.recipes))} fine-tuning recipes x "
             f"{study.finetune.seeds_text()} fine-tuning seeds each",
             f"{'cell':<44} {'FLOPs':>9} {'steps':>7} {'est. min':>8} {'done':>5} {'took min':>8}"]
    for p in plans:
        took_text = f"{p.expected_s(calibration) / 60:>8.1f}" if p.took else f"{'-':>8}"
        lines.append(f"{p.cell:<44} {format_flops(p.flops):>9} {p.steps:>7} {p.estimate_s / 60:>8.1f} "
                     f"{f'{len(p.took)}/{len(p.units)}':>5} {took_text}")
    total_s = sum(p.estimate_s * len(p.units) for p in plans)
    left_s = sum(p.expected_s(calibration) * (len(p.units) - len(p.took)) for p in plans)
    done = sum(len(p.took) for p in plans)
    lines.append(f"estimated wall time: {total_s / 60 / workers:.0f} min on {workers} workers "
                 f"({total_s / 3600:.1f} core-hours; pretraining at {CPU_FLOPS_PER_S:.1e} FLOP/s per core, "
                 f"fine-tuning per task x seed as benchmarked in results/bench, scaled by encoder size)")
    lines.append(f"left to run: {len(units) - done} of {len(units)} units, about {left_s / 60 / workers:.0f} min on "
                 f"{workers} workers (a cell with finished units at their mean wall time, the others at the "
                 f"estimate x {calibration:.2f}, what the finished units took against it)")
    return "\n".join(lines)


def finished_unit_seconds(study: Study) -> dict[str, float]:
    """unit id -> the wall seconds of the invocation that finished it, from the study's cell files."""
    return {cell["unit"]: float(cell["wall_seconds_this_invocation"]) for cell in readable_cells(study)
            if "wall_seconds_this_invocation" in cell}


# Rough single-core rates for a dry run's estimate only. Pretraining: the demo's 7.5e13 FLOPs in ~6 min
# (results/foundation). Fine-tuning: seconds per task x seed at 1,000 labels for the tiny shape
# (4 x 128 encoder), from results/bench/finetune-cost-cpu.md; other tasks get FINETUNE_TASK_S, and
# other shapes scale with their encoder layers' FLOPs per token.
CPU_FLOPS_PER_S = 2.0e11
FINETUNE_TASK_S = 60.0
FINETUNE_TASK_SECONDS = {"movie_polarity": 46.0, "bbc_topic": 149.0, "hyperbaton": 28.0}
BENCHMARKED_ENCODER = TransformerShape(layers=4, hidden=128, heads=2, ffn=512, embedding_size=128)


def estimate_unit_seconds(study: Study, unit: Unit, flops: float) -> float:
    from electra_lab.models.build import discriminator_shape

    tasks = study.finetune.tasks or [None] * 6
    per_seed = sum(FINETUNE_TASK_SECONDS.get(t, FINETUNE_TASK_S) for t in tasks)
    shape = discriminator_shape(study.config(unit).model)
    size = (shape.layers * layer_flops(TransformerShape(**vars(shape)))
            / (BENCHMARKED_ENCODER.layers * layer_flops(BENCHMARKED_ENCODER)))
    scale = [n / 1000 for n in study.finetune.train_sizes]
    seed_runs = sum(study.finetune.seeds_at(p.fraction) for p in points(study, unit)) / len(study.finetune.train_sizes)
    finetune = seed_runs * per_seed * size * sum(max(s, 0.25) for s in scale)
    return flops / CPU_FLOPS_PER_S + finetune
