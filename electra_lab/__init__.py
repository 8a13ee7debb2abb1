"""electra-lab: ELECTRA pretraining studies.

The public API (electra_lab.api) is loaded on first use, so `import electra_lab.config` stays light:
load_config, pretrain, finetune, count_flops.
"""
from __future__ import annotations

_API = ("count_flops", "finetune", "load_config", "pretrain")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from electra_lab import api

        return getattr(api, name)
    raise AttributeError(f"module 'electra_lab' has no attribute {name!r}")
