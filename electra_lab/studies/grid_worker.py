"""A grid worker: claim one unit of a study in the storage, run it, mark it done (or failed).

    python -m electra_lab.studies.grid_worker STUDY.yaml UNIT [--scale S] [--storage URL] [--parent-run ID]

Exit codes: 0 this worker ran the unit, 75 another worker holds (or finished) it, 1 it failed (its
trial is marked FAIL so the next start offers it again), 2 a bad study file or unit name.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    import optuna

    from electra_lab.config import ConfigError
    from electra_lab.errors import report_errors
    from electra_lab.quiet import quiet_libraries
    from electra_lab.studies.grid import TAKEN_ELSEWHERE, ledger_study, take
    from electra_lab.studies.ledger import Heartbeat
    from electra_lab.studies.spec import load_study
    from electra_lab.studies.unit_run import run_unit
    from electra_lab.train.device import resolve_device, tune_process

    parser = argparse.ArgumentParser(prog="electra_lab.studies.grid_worker")
    parser.add_argument("study")
    parser.add_argument("unit")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--storage")
    parser.add_argument("--parent-run")
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    quiet_libraries()

    def work() -> int:
        study = load_study(args.study, args.scale, args.set)
        unit = next((u for u in study.units() if u.id == args.unit), None)
        if unit is None:
            raise ConfigError(f"{args.study}: no unit {args.unit!r}")
        # this process only runs this unit: without it torch takes every core, and two workers on
        # two cores ran 4 threads, each step several times slower than one worker alone
        tune_process(study.threads, resolve_device(study.config(unit).train.device))
        ledger = ledger_study(study, args.storage)
        trial_id = take(ledger, unit.id)
        if trial_id in ("done", None):
            print(f"[grid] {unit.id}: {'finished' if trial_id else 'held'} by another worker", file=sys.stderr)
            return TAKEN_ELSEWHERE
        storage = ledger._storage
        try:
            with Heartbeat(ledger, trial_id):
                outcome = run_unit(study, unit, tracking=not args.no_tracking, parent_run_id=args.parent_run)
        except BaseException:
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            raise
        last = max(e["fraction"] for e in outcome["evaluations"])
        final = [e for e in outcome["evaluations"] if e["fraction"] == last]
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE,
                                       values=[sum(e["suite_score"] for e in final) / len(final)])
        return 0

    return report_errors(work, verbose=False)


if __name__ == "__main__":
    sys.exit(main())
