"""Where a step's time goes: torch.profiler over a few steps, top operators by self time."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

ATTENTION_KERNELS = ("aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_attention_math",
                     "aten::_scaled_dot_product_flash_attention", "aten::_scaled_dot_product_efficient_attention",
                     "aten::_scaled_dot_product_cudnn_attention")


def profile_steps(step: Callable[[], None], steps: int, device: torch.device, top: int = 20) -> dict:
    """Top `top` ops by self device time (self CPU time on CPU) over `steps` steps, plus which
    scaled-dot-product-attention kernel ran."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    events = prof.key_averages()
    on_cuda = device.type == "cuda"

    def self_us(e) -> float:
        return (e.self_device_time_total if on_cuda else e.self_cpu_time_total) or 0.0

    total = sum(self_us(e) for e in events) or 1.0
    rows = sorted(events, key=self_us, reverse=True)[:top]
    return {
        "steps": steps,
        "time_kind": "self CUDA time" if on_cuda else "self CPU time",
        "total_ms_per_step": total / 1e3 / steps,
        "top_ops": [{"op": e.key, "ms_per_step": round(self_us(e) / 1e3 / steps, 2),
                     "percent": round(100 * self_us(e) / total, 1), "calls_per_step": e.count / steps}
                    for e in rows],
        "attention_kernels": sorted({e.key for e in events if e.key in ATTENTION_KERNELS}),
    }
