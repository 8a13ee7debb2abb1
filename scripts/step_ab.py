"""Is checkout B's training step faster than checkout A's? Step-level interleaved A/B on one machine.

    python scripts/step_ab.py OLD_CHECKOUT NEW_CHECKOUT [--size tiny] [--threads 1] [--rounds 30]

Each checkout's benchmark step (electra_lab.bench: the joint step, bf16 where the CPU has it) runs
in its own process, importing that checkout's electra_lab; the two take one step each in turn, so
each round's ratio compares them in one machine state. On a shared VM whose speed drifts by tens
of percent within minutes, the median per-round ratio is stable where back-to-back runs are not.
Prints both medians and the per-round ratio old / new (above 1: new is faster) with its quartiles.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def worker(size: str, threads: int) -> None:
    from electra_lab.bench.framework import FrameworkRun
    from electra_lab.bench.shapes import bench_config, bench_ids, random_blocks

    cfg = bench_config(size, "cpu", "auto", threads=threads)
    ids = bench_ids(cfg)
    run = FrameworkRun(cfg, ids, random_blocks(512, cfg.data.seq_len, ids))
    for _ in range(3):  # warm-up
        run.step()
    tokens = cfg.train.batch_size * cfg.data.seq_len
    print(f"ready {tokens}", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        run.step()
        print(time.perf_counter() - start, flush=True)
    run.close()


def start(checkout: str, size: str, threads: int) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    proc = subprocess.Popen([sys.executable, __file__, "--worker", "--size", size, "--threads", str(threads)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    ready, tokens = proc.stdout.readline().split()
    if ready != "ready":
        raise RuntimeError(f"the worker for {checkout} did not start")
    return proc, int(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", nargs="?")
    parser.add_argument("new", nargs="?")
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.size, args.threads)
    if not (args.old and args.new):
        parser.error("give the two checkouts: OLD NEW")
    procs = {name: start(path, args.size, args.threads) for name, path in (("old", args.old), ("new", args.new))}
    times: dict[str, list[float]] = {name: [] for name in procs}
    for _ in range(args.rounds):
        for name, (proc, _tokens) in procs.items():
            proc.stdin.write("step\n")
            proc.stdin.flush()
            times[name].append(float(proc.stdout.readline()))
    for name, (proc, tokens) in procs.items():
        proc.stdin.close()
        proc.wait()
        median = statistics.median(times[name])
        print(f"{name} ({getattr(args, name)}): median step {median * 1e3:.1f} ms, {tokens / median:,.0f} tokens/s")
    ratios = [a / b for a, b in zip(times["old"], times["new"], strict=True)]
    low, mid, high = statistics.quantiles(ratios, n=4)
    print(f"size {args.size}, {args.threads} threads, {args.rounds} rounds: old / new step time, median over rounds "
          f"{statistics.median(ratios):.3f} (quartiles {low:.3f}-{high:.3f})")


if __name__ == "__main__":
    main()
