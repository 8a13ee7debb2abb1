"""Arguments of `electra-lab bench` (cli.py adds them to its sub-parser and calls run_from_args)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", choices=["tiny", "small", "base"], default="small")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    p.add_argument("--steps", type=int, default=10, help="timed steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--batch-size", type=int, default=None, help="default: 32 (tiny, small), 8 (base)")
    p.add_argument("--seq-len", type=int, default=None, help="default: 128 (tiny, small), 512 (base)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="the framework's precision")
    p.add_argument("--out-dir", type=Path, default=Path("results/bench"))
    p.add_argument("--name", default=None, help="output file stem (default: <size>-<device>-<timestamp>)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--no-reference", action="store_true", help="time the framework only")
    p.add_argument("--compare-fp32", action="store_true", help="also time the framework in fp32")
    p.add_argument("--profile", action="store_true", help="torch.profiler top ops of the framework step")
    p.add_argument("--profile-steps", type=int, default=3, help="steps to profile (after the timed ones)")
    p.add_argument("--ablate-allocator", action="store_true",
                   help="also time the framework with the glibc allocator left untuned (train/device.py)")
    p.add_argument("--ablate-packed-dropout", action="store_true",
                   help="also time the framework with ATen's dropout instead of the packed-bit one")
    p.add_argument("--interleave", type=int, default=5, metavar="ROUNDS",
                   help="then step reference and framework in turn for ROUNDS rounds: a ratio robust to a "
                        "drifting machine (0: off)")
    p.add_argument("--compile", action="store_true", help="train.compile=true for the framework step")
    p.add_argument("--data", action="store_true", help="also time corpus build and tokenise+pack (cold/warm)")
    p.add_argument("--data-sources", nargs="+", default=["wiki_sample"])
    p.add_argument("--peak-sizes", type=int, nargs="+", default=[1024, 2048, 3072, 4096])


def run_from_args(args: argparse.Namespace, command: str | None = None) -> int:
    from electra_lab.bench.run import run_bench

    results = run_bench(
        size=args.size, device=args.device, steps=args.steps, warmup=args.warmup, batch_size=args.batch_size,
        seq_len=args.seq_len, precision=args.precision, out_dir=args.out_dir, name=args.name,
        reference=not args.no_reference, compare_fp32=args.compare_fp32, ablate_allocator=args.ablate_allocator,
        ablate_packed_dropout=args.ablate_packed_dropout,
        profile=args.profile, profile_steps=args.profile_steps, compile=args.compile, threads=args.threads,
        data=args.data, data_sources=tuple(args.data_sources), peak_sizes=tuple(args.peak_sizes),
        interleave=args.interleave,
        command=command or shlex.join(["electra-lab", *sys.argv[1:]]))
    keys = ("official_fraction_of_peak", "executed_matmul_fraction_of_peak")
    summary = {k: {"tokens_per_s": round(v["tokens_per_s"], 1), "step_median_s": round(v["step_time_s"]["median_s"], 3),
                   **{key: round(v.get(key, float("nan")), 3) for key in keys}}
               for k, v in results["runs"].items()}
    summary["ratio"] = results.get("ratio_framework_over_reference")
    if "interleaved" in results:
        ratio = results["interleaved"]["ratio"]
        summary["ratio_interleaved_median"] = {k: round(v["median"], 3) for k, v in ratio.items()}
    summary["written"] = str(Path(args.out_dir) / results["name"]) + ".{json,md}"
    print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m electra_lab.bench", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, command=shlex.join(["python", "-m", "electra_lab.bench", *(argv or sys.argv[1:])]))
