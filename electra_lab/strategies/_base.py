"""The strategy interface: what differs between the paper's training algorithms, and nothing else.

The trainer calls these methods without knowing which strategy it runs. A strategy module holds
an `Options` dataclass (its config keys under `strategy:`, a StrategyOptions subclass) and a
`Strategy` class that satisfies the Protocol below, usually by deriving from StrategyBase and
writing only build, step and flops_per_sequence; adding one is one file in this package plus one
YAML under experiments/. Modules whose name starts with an underscore (this one) are helpers.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

from electra_lab.config import MaskingConfig, ModelConfig, StrategyOptions
from electra_lab.data.masking import SpecialIds

# a metric is a (sum, count) pair of 0-dim tensors, so averages over steps/batches stay exact
# and nothing forces a host synchronisation inside the step
Metric = tuple[torch.Tensor, torch.Tensor]


@dataclass
class Ranked:
    """Scores and binary labels at the positions of `mask` (each [B, L]), kept for a ranking metric
    (ROC AUC) that, unlike a mean, cannot be summed batch by batch: evaluation concatenates them."""

    scores: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, L] original tokens
    attention_mask: torch.Tensor  # [B, L] 1 for real tokens
    token_type_ids: torch.Tensor  # [B, L]


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar to backpropagate
    metrics: dict[str, Metric] = field(default_factory=dict)
    ranked: dict[str, Ranked] = field(default_factory=dict)  # read by evaluation only (e.g. disc_auc)


@dataclass
class StrategyContext:
    """What every strategy may need to know about the run (no strategy reads the config itself)."""

    model: ModelConfig
    masking: MaskingConfig
    ids: SpecialIds
    seq_len: int
    max_predictions: int
    total_steps: int = 0  # the run's length: set by train.budget.resolve_budget, and only there
    unigram_counts: Callable[[], torch.Tensor] | None = None  # token frequencies of the training data
    sparse_embed_lookup: bool = False  # FLOPs count: input token lookups free (train.flops_lookup=sparse)


class Strategy(Protocol):
    def build(self) -> nn.ModuleDict:
        """Create the models this strategy trains (already tied as the config asks)."""

    def param_groups(self, models: nn.ModuleDict) -> list[dict]:
        """[{'named_params': [(name, param), ...], optional optimiser overrides}, ...]."""

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        """Loss and metrics for one (micro-)batch. Also used for evaluation under no_grad."""

    def phase(self, step: int) -> str:
        """A label for what is being trained at `step` (e.g. two-stage: generator / discriminator)."""

    def flops_per_sequence(self, step: int) -> float:
        """Training FLOPs (forward + backward, official counting) for one sequence at `step`;
        constant within a phase (the budget computes it once per phase)."""

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        """Models to export by folder name; 'encoder' is the one fine-tuning uses."""

    def schedule_restarts(self) -> list[int]:
        """Steps at which the learning-rate schedule starts again (warmup, then decay to the next
        restart or the end) and the optimiser state is cleared; [] for one schedule over the run."""


class StrategyBase:
    """The defaults every strategy shares; a strategy overrides only what differs.

    One model set trained as one parameter group, a constant phase label, and the export of the
    model under `encoder_key` as 'encoder' (plus the generator when there is one)."""

    phase_name = "joint"
    encoder_key = "discriminator"

    def __init__(self, options: StrategyOptions, ctx: StrategyContext):
        self.options, self.ctx = options, ctx

    def param_groups(self, models: nn.ModuleDict) -> list[dict]:
        return [{"named_params": all_named_params(models)}]

    def phase(self, step: int) -> str:
        return self.phase_name

    def schedule_restarts(self) -> list[int]:
        return []

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        exported = {"encoder": models[self.encoder_key]}
        if "generator" in models:
            exported["generator"] = models["generator"]
        return exported


def step_output(loss: torch.Tensor, *metric_groups: dict[str, Metric],
                ranked: dict[str, Ranked] | None = None) -> StepOutput:
    """The step's result: its loss to backpropagate, and every metric group plus 'loss' itself."""
    metrics: dict[str, Metric] = {}
    for group in metric_groups:
        metrics.update(group)
    metrics["loss"] = scalar_metric(loss)
    return StepOutput(loss, metrics, ranked or {})


def mean_metric(values: torch.Tensor, weights: torch.Tensor | None = None) -> Metric:
    """A (sum, count) metric from per-item values and optional 0/1 weights."""
    values = values.detach().float()
    if weights is None:
        return values.sum(), torch.tensor(float(values.numel()), device=values.device)
    weights = weights.detach().float()
    return (values * weights).sum(), weights.sum()


def scalar_metric(value: torch.Tensor) -> Metric:
    return value.detach().float(), torch.ones((), device=value.device)


def all_named_params(models: nn.ModuleDict) -> list[tuple[str, nn.Parameter]]:
    """Every trainable parameter once (shared tensors appear once)."""
    return [(n, p) for n, p in models.named_parameters() if p.requires_grad]
