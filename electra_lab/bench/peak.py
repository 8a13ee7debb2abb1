"""The machine's measured matmul peak: a square matmul sweep, best of N, per precision."""
from __future__ import annotations

import time

import torch

DEFAULT_SIZES = (1024, 2048, 3072, 4096)


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, repeats: int = 3) -> float:
    """Best GFLOP/s of an n x n x n matmul (2 n^3 FLOPs) over `repeats` timed calls after one warm-up."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: kernel selection, page faults
    inner = 1 if device.type == "cpu" else max(1, int(2e12 // (2 * n ** 3)))  # a GPU call is too short alone
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - t0) / inner)
    return 2 * n ** 3 / best / 1e9


def matmul_peak(device: torch.device, dtypes=(torch.float32, torch.bfloat16), sizes=DEFAULT_SIZES,
                repeats: int = 3) -> dict:
    """{dtype name: {"by_size": {n: GFLOP/s}, "peak_gflops": best}} for each precision."""
    out = {}
    for dtype in dtypes:
        by_size = {int(n): round(matmul_gflops(n, dtype, device, repeats), 1) for n in sizes}
        out[str(dtype).replace("torch.", "")] = {"by_size": by_size, "peak_gflops": max(by_size.values())}
    return out
