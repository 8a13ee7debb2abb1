"""BERT-style masked language modelling baseline (no next-sentence prediction).

A discriminator-sized encoder with the generator's MLM head; BERT's 80/10/10 masking is set by
the experiment YAML (masking.style: bert).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from electra_lab import flops
from electra_lab.models.build import build_mlm_model
from electra_lab.strategies import common
from electra_lab.strategies.base import Batch, StepOutput, StrategyContext, all_named_params


@dataclass
class Options:
    pass


class Strategy:
    def __init__(self, options: Options, ctx: StrategyContext):
        self.options, self.ctx = options, ctx

    def build(self) -> nn.ModuleDict:
        return nn.ModuleDict({"mlm": build_mlm_model(self.ctx.model, self.ctx.ids.vocab_size, self.ctx.ids.pad)})

    def param_groups(self, models):
        return [{"named_params": all_named_params(models)}]

    def phase(self, step: int) -> str:
        return "mlm"

    def flops_per_sequence(self, step: int) -> float:
        return flops.mlm_flops_per_sequence(common.disc_flops_shape(self.ctx))

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        masked = common.mask_batch(batch, self.ctx)
        logits = common.generator_predictions(models, "mlm", batch, masked)
        loss = common.mlm_loss(logits, masked.labels, masked.weights)
        metrics = common.mlm_metrics(logits, masked.labels, masked.weights, loss, "mlm")
        metrics["loss"] = metrics["mlm_loss"]
        return StepOutput(loss, metrics)

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        return {"encoder": models["mlm"]}
