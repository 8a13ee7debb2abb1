"""The pretraining budget: steps, tokens or FLOPs turned into a step count and a FLOPs total."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from electra_lab.config import Config, max_predictions
from electra_lab.data.masking import SpecialIds


@dataclass
class Budget:
    total_steps: int
    total_flops: float
    flops_per_step: list[float] = field(repr=False, default_factory=list)


def resolve_budget(cfg: Config, strategy) -> Budget:
    """FLOPs per step come from the strategy (they may change by phase, e.g. two-stage)."""
    t = cfg.train
    if t.steps is not None:
        steps = t.steps
    elif t.tokens is not None:
        steps = math.ceil(t.tokens / (t.batch_size * cfg.data.seq_len))
    else:
        steps = _steps_for_flops(strategy, t.batch_size, t.flops)
    steps = max(1, steps)
    # the run length first: a phase boundary may be a fraction of it (two-stage's switch_fraction)
    strategy.ctx.total_steps = steps
    flops_per_step = [strategy.flops_per_sequence(s) * t.batch_size for s in range(steps)]
    return Budget(steps, float(sum(flops_per_step)), flops_per_step)


def _steps_for_flops(strategy, batch_size: int, budget: float) -> int:
    """Steps until `budget` FLOPs are spent. When phases are fractions of the run, the cost of a
    step depends on the step count itself: iterate to a fixed point (constant-cost strategies stop
    after the second round)."""
    steps = 0
    for _ in range(20):
        strategy.ctx.total_steps = steps
        n, spent = 0, 0.0
        while spent < budget:
            spent += strategy.flops_per_sequence(n) * batch_size
            n += 1
        if n == steps:
            break
        steps = n
    return steps


def config_flops(cfg: Config) -> dict:
    """What `electra-lab flops CONFIG` prints: the run's analytic pretraining FLOPs."""
    from electra_lab.models.build import discriminator_shape, generator_shape
    from electra_lab.train.pretrain import make_strategy

    vocab = 30522 if cfg.data.tokenizer == "bert" else cfg.data.vocab_size
    ids = SpecialIds(pad=0, cls=101, sep=102, mask=103, unk=100, vocab_size=vocab)
    strategy = make_strategy(cfg, ids)
    budget = resolve_budget(cfg, strategy)
    strategy.ctx.total_steps = budget.total_steps
    return {
        "strategy": cfg.strategy["name"],
        "discriminator": vars(discriminator_shape(cfg.model)),
        "generator": vars(generator_shape(cfg.model)),
        "vocab_size": vocab, "seq_len": cfg.data.seq_len, "batch_size": cfg.train.batch_size,
        "max_predictions": max_predictions(cfg.masking, cfg.data.seq_len),
        "steps": budget.total_steps,
        "flops_per_sequence_first_step": strategy.flops_per_sequence(0),
        "pretrain_flops": budget.total_flops,
        "pretrain_flops_str": f"{budget.total_flops:.3g}",
    }
