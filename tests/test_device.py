"""Device and precision choice: bf16 on CPU only where the CPU has bf16 matrix instructions and
torch runs its AVX-512 kernels; a clear error when CUDA is asked for and absent."""
import pytest
import torch

from electra_lab.train import device


class FakeCpuinfo:
    def __init__(self, flags: str):
        self.flags = flags

    def __call__(self, _path):
        return self

    def read_text(self) -> str:
        return f"processor : 0\nflags : fpu sse2 avx2 {self.flags}\n"


@pytest.mark.parametrize("flags, capability, expected", [
    ("avx512f avx512_bf16", "AVX512", torch.bfloat16),
    ("amx_bf16 amx_tile", "AVX512", torch.bfloat16),
    ("avx512f avx512_bf16", "AVX2", torch.float32),  # ATEN_CPU_CAPABILITY=avx2 forced
    ("avx512f", "AVX512", torch.float32),  # AVX-512 without bf16 instructions
    ("", "AVX2", torch.float32),
])
def test_auto_precision_on_cpu(monkeypatch, flags, capability, expected):
    monkeypatch.setattr(device, "Path", FakeCpuinfo(flags))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert device.resolve_precision("auto", torch.device("cpu")) == expected
    assert device.resolve_precision("fp32", torch.device("cpu")) == torch.float32
    assert device.resolve_precision("bf16", torch.device("cpu")) == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_cuda_without_it_names_the_setting():
    with pytest.raises(ValueError, match="device 'cuda' asked for .* CUDA is not available"):
        device.resolve_device("cuda")
    assert device.resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("threads, where, set_threads, allocator", [
    (3, "cpu", [3], True),
    (None, torch.device("cpu"), [], True),  # threads: torch's default is kept
    (2, "cuda", [2], False),  # the glibc allocator does not serve CUDA memory
    (None, torch.device("cuda", 0), [], False),
])
def test_tune_process_sets_threads_and_tunes_the_allocator_only_on_cpu(monkeypatch, threads, where, set_threads,
                                                                      allocator):
    calls = {"threads": [], "allocator": 0}
    monkeypatch.setattr(torch, "set_num_threads", calls["threads"].append)
    monkeypatch.setattr(device, "tune_cpu_allocator", lambda: calls.__setitem__("allocator", calls["allocator"] + 1))
    device.tune_process(threads, where)
    assert calls == {"threads": set_threads, "allocator": int(allocator)}
