"""Interleaved timing: each run in its own process, stepped in turn (A B C A B C ...).

A shared machine's speed drifts over minutes (a neighbour's load, clocks), so back-to-back phases
can see different machines; interleaved rounds see the same one. Each run keeps its own process
because the framework tunes the process's allocator (train/device.py), which would also speed up a
reference living beside it: in its own process the reference stays a plain PyTorch loop. Only one
process steps at a time; the others wait on their pipe.
"""
from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import torch

from electra_lab.bench.measure import synchronize
from electra_lab.bench.shapes import bench_ids
from electra_lab.config import Config


def build_run(kind: str, cfg: Config, blocks: np.ndarray, device: torch.device):
    """'reference' -> the plain HF loop; 'framework' -> the real Trainer step."""
    if kind == "reference":
        from electra_lab.bench.reference import ReferenceRun

        return ReferenceRun(cfg, bench_ids(cfg), blocks, device)
    from electra_lab.bench.framework import FrameworkRun

    return FrameworkRun(cfg, bench_ids(cfg), blocks)


def _serve(conn, kind: str, cfg: Config, blocks: np.ndarray, device: str, threads: int, warmup: int) -> None:
    torch.set_num_threads(threads)
    dev = torch.device(device)
    run = build_run(kind, cfg, blocks, dev)
    try:
        for _ in range(warmup):
            run.step()
        synchronize(dev)
        conn.send("ready")
        while conn.recv() == "step":
            t0 = time.perf_counter()
            run.step()
            synchronize(dev)
            conn.send(time.perf_counter() - t0)
    finally:
        run.close()


def time_in_turn(specs: dict[str, tuple[str, Config]], blocks: np.ndarray, device: torch.device, threads: int,
                 warmup: int, rounds: int) -> dict[str, list[float]]:
    """{name: (kind, config)} -> {name: per-round step times (s)}, one step of each run per round."""
    ctx = mp.get_context("spawn")  # a clean interpreter: no inherited allocator tuning, threads or CUDA state
    workers = {}
    try:
        for name, (kind, cfg) in specs.items():
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, kind, cfg, blocks, str(device), threads, warmup),
                               daemon=True)
            proc.start()
            workers[name] = (proc, parent)
        for name, (_, conn) in workers.items():
            _receive(conn, name)
        times: dict[str, list[float]] = {name: [] for name in workers}
        for _ in range(rounds):
            for name, (_, conn) in workers.items():
                conn.send("step")
                times[name].append(_receive(conn, name))
        return times
    finally:
        for proc, conn in workers.values():
            try:
                conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
            proc.join(timeout=60)
            if proc.is_alive():
                proc.terminate()


def _receive(conn, name: str):
    try:
        return conn.recv()
    except EOFError:
        raise RuntimeError(f"bench: the interleaved '{name}' process died (its traceback is printed above)") from None
