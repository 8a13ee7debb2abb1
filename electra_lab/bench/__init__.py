"""Speed benchmark: the framework's joint-ELECTRA training step against a plain Hugging Face
reference, with the machine's matmul peak, peak memory, a profile and data-pipeline speed.

    electra-lab bench --size small --device cpu --steps 10        (or: python -m electra_lab.bench)
"""
from __future__ import annotations


def run_bench(*args, **kwargs) -> dict:
    """See electra_lab.bench.run.run_bench (imported lazily: it pulls in torch and transformers)."""
    from electra_lab.bench.run import run_bench as _run_bench

    return _run_bench(*args, **kwargs)


__all__ = ["run_bench"]
