"""The pretraining budget: steps, tokens or FLOPs turned into a step count and a FLOPs total."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from electra_lab.config import Config
from electra_lab.strategies import Strategy


@dataclass
class Budget:
    total_steps: int
    total_flops: float  # by the count train.flops_lookup names
    flops_per_step: list[float] = field(repr=False, default_factory=list)
    # per-step FLOPs of the same steps under both lookup counts ("dense", "sparse")
    flops_per_step_by_lookup: dict[str, list[float]] = field(repr=False, default_factory=dict)
    phase_starts: list[tuple[int, str]] = field(default_factory=list)  # (first step, phase name), in order

    @property
    def flops_by_lookup(self) -> dict[str, float]:
        return {k: float(sum(v)) for k, v in self.flops_per_step_by_lookup.items()}

    def flops_at(self, step: int) -> dict[str, float]:
        """FLOPs spent by the end of `step` steps under each lookup count (for snapshots)."""
        return {k: float(sum(v[:step])) for k, v in self.flops_per_step_by_lookup.items()}

    def phases(self) -> list[dict]:
        """Each phase's first step and the FLOPs (chosen count) spent before it: where a two-stage
        run's switch falls on a score-against-FLOPs plot."""
        return [{"phase": name, "step": step, "flops": float(sum(self.flops_per_step[:step]))}
                for step, name in self.phase_starts]


def resolve_budget(cfg: Config, strategy: Strategy) -> Budget:
    """The run's length and cost; tells the strategy the length (its phases may be fractions of it).

    FLOPs per step come from the strategy (they may change by phase, e.g. two-stage)."""
    t = cfg.train
    if t.steps is not None:
        steps = t.steps
    elif t.tokens is not None:
        steps = math.ceil(t.tokens / (t.batch_size * cfg.data.seq_len))
    else:
        steps = _steps_for_flops(strategy, t.batch_size, t.flops)
    steps = max(1, steps)
    _set_total_steps(strategy, steps)
    both = {k: _per_step_under(strategy, k == "sparse", steps, t.batch_size) for k in ("dense", "sparse")}
    chosen = both["sparse" if strategy.ctx.sparse_embed_lookup else "dense"]  # the count train.flops_lookup names
    return Budget(steps, float(sum(chosen)), chosen, both, _phase_starts(strategy, steps))


def _phase_starts(strategy: Strategy, steps: int) -> list[tuple[int, str]]:
    starts, previous = [], None
    for step in range(steps):
        phase = strategy.phase(step)
        if phase != previous:
            starts.append((step, phase))
            previous = phase
    return starts


def _per_step_under(strategy: Strategy, sparse: bool, steps: int, batch_size: int) -> list[float]:
    """Each step's FLOPs when input lookups are counted dense or sparse (the chosen count is put back)."""
    ctx, chosen = strategy.ctx, strategy.ctx.sparse_embed_lookup
    ctx.sparse_embed_lookup = sparse
    try:
        cost = _PhaseCosts(strategy)
        return [cost(s) * batch_size for s in range(steps)]
    finally:
        ctx.sparse_embed_lookup = chosen


class _PhaseCosts:
    """flops_per_sequence(step), computed once per phase: the Strategy protocol keeps a step's cost
    constant within a phase, and a paper-scale run has a million steps (seconds of Python otherwise)."""

    def __init__(self, strategy: Strategy):
        self.strategy, self.by_phase = strategy, {}

    def __call__(self, step: int) -> float:
        phase = self.strategy.phase(step)
        if phase not in self.by_phase:
            self.by_phase[phase] = self.strategy.flops_per_sequence(step)
        return self.by_phase[phase]


def _set_total_steps(strategy: Strategy, steps: int) -> None:
    # the one place StrategyContext.total_steps is written
    strategy.ctx.total_steps = steps


def _steps_for_flops(strategy: Strategy, batch_size: int, budget: float) -> int:
    """Steps until `budget` FLOPs are spent. When phases are fractions of the run, the cost of a
    step depends on the step count itself: iterate to a fixed point (constant-cost strategies stop
    after the second round)."""
    steps = 0
    for _ in range(20):
        _set_total_steps(strategy, steps)
        cost = _PhaseCosts(strategy)
        n, spent = 0, 0.0
        while spent < budget:
            spent += cost(n) * batch_size
            n += 1
        if n == steps:
            break
        steps = n
    return steps
