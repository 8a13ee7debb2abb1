"""Shared set-up for the strategy tests: a strategy on the tiny config, one real optimiser step,
and which parameters it moved."""
from __future__ import annotations

import torch
from torch import nn

from electra_lab.data.masking import SpecialIds
from electra_lab.data.unigram import unigram_counter
from electra_lab.strategies import from_config
from electra_lab.strategies._base import Batch
from electra_lab.train.batches import make_batch
from electra_lab.train.budget import resolve_budget
from electra_lab.train.optim import build_optimizer

from ..conftest import make_blocks


def setup(tiny_cfg, tokenizer, total_steps: int = 10, batch_size: int = 8, **overrides):
    """(cfg, strategy, models, batch) for the tiny model of a total_steps-step run; the strategy
    gets the blocks' unigram counts."""
    cfg = tiny_cfg(**{"train.steps": total_steps, **overrides})
    ids = SpecialIds.of(tokenizer)
    blocks = make_blocks(batch_size, cfg.data.seq_len, ids.vocab_size)
    strategy = from_config(cfg, ids, unigram_counter(blocks, ids.vocab_size))
    resolve_budget(cfg, strategy)
    torch.manual_seed(0)
    models = strategy.build()
    batch = make_batch(blocks, ids.pad, ids.sep, torch.device("cpu"))
    return cfg, strategy, models, batch


def snapshot(models: nn.ModuleDict) -> dict[str, torch.Tensor]:
    """Every parameter once, under its first owner's name (a GDES base is the generator's table)."""
    return {n: p.detach().clone() for n, p in models.named_parameters()}


def optimizer_step(cfg, strategy, models: nn.ModuleDict, batch: Batch, step: int = 0) -> dict[str, torch.Tensor]:
    """One step of the project's real optimiser on the strategy's loss; returns the parameters before it."""
    optimizer = build_optimizer(strategy.param_groups(models), cfg.optim, torch.device("cpu"))
    before = snapshot(models)
    optimizer.zero_grad(set_to_none=True)
    strategy.step(models, batch, step).loss.backward()
    optimizer.step()
    return before


def changed_names(models: nn.ModuleDict, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in models.named_parameters() if not torch.equal(p, before[n])}


def assert_updates(models: nn.ModuleDict, before: dict[str, torch.Tensor], trained: set[str], frozen: set[str]) -> None:
    """Every parameter under a trained top-level model moved; none under a frozen one did."""
    changed = changed_names(models, before)
    for name in before:
        owner = name.split(".")[0]
        if owner in trained:
            assert name in changed, f"{name} should have been updated"
        elif owner in frozen:
            assert name not in changed, f"{name} should be unchanged"
    assert {n.split(".")[0] for n in before} <= trained | frozen, "a model the test does not know about"
