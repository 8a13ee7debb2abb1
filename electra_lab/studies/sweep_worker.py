"""A sweep worker: run offered trials of a sweep until none is left.

    python -m electra_lab.studies.sweep_worker SWEEP.yaml [--scale S] [--storage URL] [--parent-run ID]
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from electra_lab.errors import report_errors
    from electra_lab.quiet import quiet_libraries
    from electra_lab.studies.sweep import work
    from electra_lab.studies.sweep_spec import load_sweep

    parser = argparse.ArgumentParser(prog="electra_lab.studies.sweep_worker")
    parser.add_argument("sweep")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--storage")
    parser.add_argument("--parent-run")
    parser.add_argument("--no-tracking", action="store_true")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    quiet_libraries()

    def run() -> int:
        from electra_lab.train.device import tune_process

        sweep = load_sweep(args.sweep, args.scale, args.set)
        tune_process(sweep.threads, "cpu")  # the trials' torch threads (the allocator tuning is CPU-only)
        ran = work(sweep, args.storage, args.parent_run, not args.no_tracking)
        print(f"[sweep] worker ran {ran} trial(s)", file=sys.stderr)
        return 0

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())
