"""Device and precision choice: CUDA when present, bf16 autocast where the hardware has it; and
the process-wide tuning a training process's entry point applies (tune_process)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
from pathlib import Path

import torch

from electra_lab.config import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for (train.device, or bench --device) but CUDA is not available "
                         "on this machine: use cpu or auto")
    return device


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16, with torch running its AVX-512 kernels: the CPU has bf16 matrix
    instructions and torch uses them (ATEN_CPU_CAPABILITY=avx2 forces the AVX2 kernels, where bf16
    is converted in software)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return ("amx_bf16" in flags or "avx512_bf16" in flags) and torch.backends.cpu.get_cpu_capability() == "AVX512"


PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The autocast dtype (float32: none) for precision `name` on `device`: auto = bf16 where the
    hardware has it (CUDA with bf16, a CPU with bf16 matrix instructions), else fp32."""
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be {'|'.join(PRECISIONS)}, got {name!r}")
    if name == "fp32":
        return torch.float32
    if name == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def tune_cpu_allocator() -> bool:
    """Keep freed memory in the process heap instead of handing it back to the OS (glibc only).

    A training step frees and re-allocates the same large buffers every step. By default glibc
    serves blocks above its mmap threshold (at most 32 MB) with fresh pages and unmaps them on
    free, so every step faults them in again (ELECTRA-Small, batch 32: ~190k page faults, ~12% of
    the step's CPU time on a 2-core VM). Values are untouched; peak RSS grows a little.
    Set ELECTRA_LAB_MALLOC_TUNING=0 to leave the allocator alone. Returns whether it applied."""
    if os.environ.get("ELECTRA_LAB_MALLOC_TUNING", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def tune_process(threads: int | None, device: torch.device | str) -> None:
    """Process-wide tuning for a training run: torch's intra-op threads (when `threads` is given)
    and, on CPU, the allocator (tune_cpu_allocator). Both outlast the call and reach all other
    work in the process, so entry points apply them (the CLI, and the public API's pretrain()
    before it trains); library constructors and functions never do."""
    if threads:
        torch.set_num_threads(threads)
    if torch.device(device).type == "cpu":
        tune_cpu_allocator()
