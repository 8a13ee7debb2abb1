"""Training strategies, one module each, found by module name (no registry to keep in sync).

A module of this package is a strategy unless its name starts with an underscore (_base, _common:
helpers). Each strategy module defines `Options` (a StrategyOptions dataclass) and `Strategy`.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType

import torch

from electra_lab.config import Config, ConfigError, max_predictions
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies._base import Batch, StepOutput, Strategy, StrategyBase, StrategyContext, step_output

__all__ = ["Batch", "StepOutput", "Strategy", "StrategyBase", "StrategyContext", "available", "from_config",
           "options_class", "step_output"]


def available() -> list[str]:
    """Every strategy name, sorted: the modules of this package without a leading underscore."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and not m.ispkg)


def _module(name: str) -> ModuleType:
    if name not in available():
        raise ConfigError(f"unknown strategy.name {name!r} (valid: {', '.join(available())})")
    return importlib.import_module(f"{__name__}.{name}")


def options_class(name: str) -> type:
    """The Options dataclass of strategy `name` (what `strategy:` in a config may hold)."""
    return _module(name).Options


def from_config(cfg: Config, ids: SpecialIds, unigram_counts: Callable[[], torch.Tensor] | None = None) -> Strategy:
    """The strategy the config names, with its typed options and the run's context.

    unigram_counts: token frequencies of the training data, computed only if the strategy asks
    (the unigram generator)."""
    ctx = StrategyContext(model=cfg.model, masking=cfg.masking, ids=ids, seq_len=cfg.data.seq_len,
                          max_predictions=max_predictions(cfg.masking, cfg.data.seq_len),
                          unigram_counts=unigram_counts, sparse_embed_lookup=cfg.train.flops_lookup == "sparse")
    return _module(cfg.strategy.name).Strategy(cfg.strategy, ctx)
