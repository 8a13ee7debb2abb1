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
