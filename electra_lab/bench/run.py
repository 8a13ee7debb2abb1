"""`electra-lab bench`: framework joint-ELECTRA step vs a plain HF reference, in one process.

Order: machine matmul peak (fp32, bf16) -> reference (fp32) -> optional framework with the
allocator untuned -> framework (the run's precision; optional profile after its timed steps)
-> optional framework fp32 -> interleaved rounds -> optional data pipeline. The reference runs
before the framework because the Trainer tunes the process's allocator (train/device.py, cannot be
undone in-process) and the reference is meant to be a plain PyTorch loop. Each run is built, warmed
up, timed and freed before the next, and each gets its own peak-memory window.

On a shared machine the back-to-back phases can see different machine speeds, so the reference, the
framework (and its fp32 variant) are then run again, each in its own process, stepped in turn
(bench/interleave.py); the median of the per-round time ratios is the ratio robust to drift.
"""
from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from electra_lab.bench import counts, measure, peak, report
from electra_lab.bench.interleave import build_run, time_in_turn
from electra_lab.bench.shapes import bench_config, bench_ids, random_blocks
from electra_lab.config import Config
from electra_lab.train.device import resolve_device, resolve_precision


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _phase(name: str, make, device: torch.device, warmup: int, steps: int, tokens_per_step: int,
           flops_per_step: dict[str, float], precision: str, peaks: dict, profile_steps: int = 0) -> dict:
    """Build a run, time it, measure its peak memory, optionally profile it; then free it."""
    window = measure.reset_peak_memory(device)
    run = make()
    try:
        timing = measure.time_steps(run.step, warmup, steps, device)
        memory = measure.peak_memory(device, window)
        losses = run.metrics()
        prof = None
        if profile_steps:
            from electra_lab.bench.profile import profile_steps as profile_fn

            prof = profile_fn(run.step, profile_steps, device)
        params = run.parameters()
    finally:
        run.close()
        del run
        gc.collect()
    median = timing["median_s"]
    peak_flops = peaks.get(precision, {}).get("peak_gflops")
    result = {
        "name": name, "precision": precision, "parameters": params,
        "tokens_per_s": tokens_per_step * steps / timing["total_s"],
        "tokens_per_s_median_step": tokens_per_step / median,
        "step_time_s": {k: timing[k] for k in ("median_s", "p90_s", "min_s", "mean_s")},
        "step_times_s": [round(t, 4) for t in timing["step_times_s"]], "warmup_s": timing["warmup_s"],
        "page_faults_per_step": timing["page_faults_per_step"],
        "memory": memory, "losses": losses,
    }
    for kind, per_step in flops_per_step.items():
        gflops = per_step / median / 1e9
        result[f"{kind}_gflops_per_s"] = gflops
        if peak_flops:
            result[f"{kind}_fraction_of_peak"] = gflops / peak_flops
    if prof is not None:
        result["profile"] = prof
    return result


def run_bench(size: str = "small", device: str = "cpu", steps: int = 10, warmup: int = 2,
              batch_size: int | None = None, seq_len: int | None = None, precision: str = "auto",
              out_dir: Path = Path("results/bench"), *, name: str | None = None, reference: bool = True,
              compare_fp32: bool = False, ablate_allocator: bool = False, ablate_packed_dropout: bool = False,
              profile: bool = False,
              profile_steps: int = 3, compile: bool = False, threads: int | None = None, data: bool = False,
              interleave: int = 5,
              data_sources: tuple[str, ...] = ("wiki_sample",), peak_sizes=peak.DEFAULT_SIZES,
              peak_repeats: int = 3, command: str | None = None) -> dict:
    """Time the framework's joint-ELECTRA training step against the plain reference; write
    <out_dir>/<name>.json and .md and return the results dict."""
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    started = time.strftime("%Y%m%d-%H%M%S")
    load_before = os.getloadavg()
    timed = max(steps, interleave)
    cfg = bench_config(size, str(dev), precision, batch_size, seq_len, total_steps=warmup + timed + profile_steps + 10,
                       compile=compile, threads=threads)
    run_dtype = resolve_precision(cfg.train.precision, dev)
    B, L = cfg.train.batch_size, cfg.data.seq_len
    ids = bench_ids(cfg)
    blocks = random_blocks(max(4 * B, B * (warmup + steps + profile_steps + 2)), L, ids, seed=0)

    # bf16 is measured where the hardware has it (or when asked for): on a CPU without avx512_bf16/AMX
    # a bf16 matmul is emulated and one 4096^3 call runs for minutes, and no run here would use bf16
    native_bf16 = resolve_precision("auto", dev) == torch.bfloat16
    dtypes = (torch.float32, torch.bfloat16) if native_bf16 or run_dtype == torch.bfloat16 else (torch.float32,)
    peaks = peak.matmul_peak(dev, dtypes=dtypes, sizes=peak_sizes, repeats=peak_repeats)

    official = _official_flops_per_sequence(cfg) * B
    flops_fw = {"official": official,
                "executed_matmul": counts.executed_matmul_flops_per_sequence(
                    cfg, ids.vocab_size, counts.framework_head_fraction(cfg)) * B}
    flops_ref = {"official": official,
                 "executed_matmul": counts.executed_matmul_flops_per_sequence(cfg, ids.vocab_size, 1.0) * B}
    phase_args = dict(device=dev, warmup=warmup, steps=steps, tokens_per_step=B * L, peaks=peaks)

    runs: dict[str, dict] = {}
    specs: dict[str, tuple[str, Config]] = {}  # run key -> (kind, config), also for the interleaved rounds

    def make(key: str):
        return lambda: build_run(*specs[key], blocks, dev)

    if reference:
        specs["reference"] = ("reference", bench_config(size, str(dev), "fp32", batch_size, seq_len,
                                                        total_steps=warmup + timed + 10, threads=threads))
        runs["reference"] = _phase("reference (plain HF, fp32)", make("reference"),
                                   flops_per_step=flops_ref, precision="float32", **phase_args)
    if ablate_allocator:  # must come before any tuned run: the tuning cannot be undone in-process
        previous = os.environ.get("ELECTRA_LAB_MALLOC_TUNING")
        os.environ["ELECTRA_LAB_MALLOC_TUNING"] = "0"
        try:
            runs["framework_untuned_allocator"] = _phase(
                f"framework ({_dtype_name(run_dtype)}), glibc allocator untuned",
                lambda: build_run("framework", cfg, blocks, dev), flops_per_step=flops_fw,
                precision=_dtype_name(run_dtype), **phase_args)
        finally:
            if previous is None:
                os.environ.pop("ELECTRA_LAB_MALLOC_TUNING", None)
            else:
                os.environ["ELECTRA_LAB_MALLOC_TUNING"] = previous
    specs["framework"] = ("framework", cfg)
    runs["framework"] = _phase(f"framework ({_dtype_name(run_dtype)})", make("framework"),
                               flops_per_step=flops_fw, precision=_dtype_name(run_dtype),
                               profile_steps=profile_steps if profile else 0, **phase_args)

    def variant_config(run_precision: str, **switches) -> Config:  # the framework run with one thing changed
        return bench_config(size, str(dev), run_precision, batch_size, seq_len, total_steps=warmup + timed + 10,
                            compile=compile, threads=threads, **switches)

    if ablate_packed_dropout:  # the same step with ATen's one-draw-per-element dropout
        aten_cfg = variant_config(precision, packed_dropout=False)
        runs["framework_aten_dropout"] = _phase(
            f"framework ({_dtype_name(run_dtype)}), ATen dropout",
            lambda: build_run("framework", aten_cfg, blocks, dev),
            flops_per_step=flops_fw, precision=_dtype_name(run_dtype), **phase_args)
    if compare_fp32 and run_dtype != torch.float32:
        specs["framework_fp32"] = ("framework", variant_config("fp32"))
        runs["framework_fp32"] = _phase("framework (float32)", make("framework_fp32"),
                                        flops_per_step=flops_fw, precision="float32", **phase_args)
    interleaved = (_interleaved(specs, blocks, dev, warmup, interleave) if reference and interleave else None)

    results = {
        "name": name or f"{size}-{dev.type}-{started}",
        "config": {"size": size, "device": str(dev), "batch_size": B, "seq_len": L, "vocab_size": ids.vocab_size,
                   "steps": steps, "warmup": warmup,
                   "precision": _dtype_name(run_dtype), "compile": compile, "threads": torch.get_num_threads(),
                   "model": vars(cfg.model), "max_predictions": int(counts.framework_head_fraction(cfg) * L)},
        "data_note": "random word ids in [CLS] A [SEP] B [SEP] blocks (5% shorter, padded), vocabulary of "
                     f"{ids.vocab_size:,} (BERT's special ids); speed does not depend on which words appear",
        "flops_per_step": {"framework": flops_fw, "reference": flops_ref},
        "matmul_peak_gflops": peaks,
        "matmul_peak_note": None if len(dtypes) > 1 else
        "bf16 not measured: no native bf16 matmul here (no avx512_bf16/AMX, or torch forced to its AVX2 kernels), "
        "so the framework runs fp32",
        "runs": runs,
        "machine": report.machine_info(dev),
        "command": command or " ".join(sys.argv),
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    if "reference" in runs:
        results["ratio_framework_over_reference"] = {
            k: runs[k]["tokens_per_s"] / runs["reference"]["tokens_per_s"] for k in runs if k != "reference"}
    if interleaved:
        results["interleaved"] = interleaved
    if data:
        from electra_lab.bench.data_pipeline import data_pipeline_speed

        results["data_pipeline"] = data_pipeline_speed(list(data_sources), seq_len=L)
    report.write(results, Path(out_dir))
    return results


def _interleaved(specs: dict, blocks, device: torch.device, warmup: int, rounds: int) -> dict:
    """The reference and the framework run(s), each in its own process, stepped in turn for
    `rounds` rounds; each round's ratio is reference step time / framework step time."""
    times = time_in_turn(specs, blocks, device, torch.get_num_threads(), warmup, rounds)
    ratios = {}
    for key in times:
        if key != "reference":
            per_round = sorted(r / f for r, f in zip(times["reference"], times[key], strict=True))
            ratios[key] = {"median": statistics.median(per_round), "min": per_round[0], "max": per_round[-1]}
    return {"rounds": rounds, "step_times_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
            "median_step_s": {k: statistics.median(v) for k, v in times.items()}, "ratio": ratios}


def _official_flops_per_sequence(cfg) -> float:
    from electra_lab.strategies import from_config

    return from_config(cfg, bench_ids(cfg)).flops_per_sequence(0)
