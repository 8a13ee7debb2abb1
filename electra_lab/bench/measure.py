"""Timing and memory measurement: per-step times after warm-up, peak memory per phase.

CPU peak memory is the process's resident-set high-water mark (VmHWM), reset before each phase
by writing 5 to /proc/self/clear_refs (Linux), so phases run one after another in one process
each get their own peak. Where that reset is impossible the value is the process-wide
ru_maxrss and is flagged as such. CUDA peak memory is torch.cuda.max_memory_allocated.
"""
from __future__ import annotations

import ctypes
import gc
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], warmup: int, steps: int, device: torch.device) -> dict:
    """Run `step` warmup + steps times; per-step wall times (seconds) of the timed steps.

    On CUDA each step is bracketed by a synchronisation so a step's time is its own; the total
    is taken the same way, so tokens/s = tokens * steps / total."""
    started = time.perf_counter()
    for _ in range(warmup):
        step()
    synchronize(device)
    warmup_s = time.perf_counter() - started  # includes torch.compile's compilation when it is on
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    # fresh pages the process touched per step (the allocator tuning in train/device.py removes most)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / max(1, steps)
    return {"step_times_s": times, "total_s": total, "warmup_s": warmup_s, "page_faults_per_step": faults,
            **summarize(times)}


def summarize(times: list[float]) -> dict:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median_s": statistics.median(ordered), "p90_s": p90, "min_s": ordered[0],
            "mean_s": statistics.fmean(ordered)}


# ------------------------------------------------------------------ memory

def _release_freed_memory() -> None:
    gc.collect()
    try:  # give freed heap pages back to the OS so the next phase's peak starts low
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_memory(device: torch.device) -> dict:
    """Start a new peak-memory window; returns the current usage (the phase's baseline)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        return {"baseline_bytes": torch.cuda.memory_allocated(device), "kind": "cuda max_memory_allocated"}
    _release_freed_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        kind = "cpu VmHWM (reset per phase)"
    except OSError:
        kind = "cpu ru_maxrss (process-wide, not reset)"
    rss = _status_kb("VmRSS")
    return {"baseline_bytes": (rss or 0) * 1024, "kind": kind}


def peak_memory(device: torch.device, window: dict) -> dict:
    """Peak since reset_peak_memory: absolute bytes and bytes above the phase's baseline."""
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
    else:
        hwm = _status_kb("VmHWM") if window["kind"].startswith("cpu VmHWM") else None
        peak = (hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    return {"peak_bytes": peak, "peak_above_baseline_bytes": max(0, peak - window["baseline_bytes"]),
            "baseline_bytes": window["baseline_bytes"], "memory_kind": window["kind"]}
