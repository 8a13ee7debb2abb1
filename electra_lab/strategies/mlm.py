"""BERT-style masked language modelling baseline (no next-sentence prediction).

A discriminator-sized encoder with the generator's MLM head. Masking is the config's
`masking.style`: the official code's (85% [MASK] / 15% kept, as ELECTRA) by default, BERT's
80/10/10 with masking.style=bert.
"""
from __future__ import annotations

from torch import nn

from electra_lab import flops
from electra_lab.config import StrategyOptions
from electra_lab.models.build import build_mlm_model
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, step_output

Options = StrategyOptions  # no options of its own


class Strategy(StrategyBase):
    phase_name = "mlm"
    encoder_key = "mlm"

    def build(self) -> nn.ModuleDict:
        return nn.ModuleDict({"mlm": build_mlm_model(self.ctx.model, self.ctx.ids.vocab_size, self.ctx.ids.pad)})

    def flops_per_sequence(self, step: int) -> float:
        return flops.mlm_flops_per_sequence(common.disc_flops_shape(self.ctx))

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        loss, metrics = common.mlm_training_loss(models, "mlm", batch, self.ctx, "mlm")
        return step_output(loss, metrics)
