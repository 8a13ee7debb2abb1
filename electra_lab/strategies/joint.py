"""Joint ELECTRA: generator (MLM) and discriminator (replaced token detection) trained together.

loss = mlm_weight * L_MLM + disc_weight * L_Disc. The generator's samples are drawn without
gradient, so the discriminator's loss sends nothing back to the generator (not a GAN).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from electra_lab.config import ConfigError, StrategyOptions
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, step_output


@dataclass
class Options(StrategyOptions):
    disc_weight: float = 50.0  # lambda, searched over {1, 10, 20, 50, 100} in the paper
    mlm_weight: float = 1.0
    temperature: float = 1.0  # sampling temperature of the generator
    # anneal the temperature linearly from `temperature` at step 0 to this at the end (Fast-ELECTRA
    # anneals a high temperature down to 1); None keeps it constant
    temperature_end: float | None = None
    disallow_correct: bool = False  # official-code knob: never sample the original token
    # start the discriminator's output bias at the logit of the masking rate, so the constant
    # "all original" answer is free and short runs don't collapse the encoder to reach it
    disc_prior_init: bool = False

    def __post_init__(self):  # runs at config load, before any data work
        for name in ("temperature", "temperature_end"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"strategy.{name} must be > 0, got {value}")


class Strategy(StrategyBase):
    def build(self) -> nn.ModuleDict:
        models = common.build_electra_pair(self.ctx)
        if self.options.disc_prior_init:
            common.init_disc_bias_to_prior(models["discriminator"], self.ctx.masking.prob)
        return models

    def flops_per_sequence(self, step: int) -> float:
        return common.electra_flops(self.ctx)

    def temperature(self, step: int) -> float:
        """The generator's sampling temperature at `step` (constant unless temperature_end is set)."""
        o = self.options
        if o.temperature_end is None:
            return o.temperature
        done = min(1.0, step / max(1, self.ctx.total_steps - 1))
        return o.temperature + (o.temperature_end - o.temperature) * done

    def disc_loss_mask(self, corruption: common.Corruption, batch: Batch) -> torch.Tensor:
        """[B, L] float: the positions the RTD loss covers (every non-pad token)."""
        return batch.attention_mask.float()

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        o = self.options
        c = common.corrupt_with_generator(models, batch, self.ctx, self.temperature(step), o.disallow_correct)
        disc_logits = common.discriminate(models, c.corrupted, batch)
        loss_mask = self.disc_loss_mask(c, batch)
        disc = common.rtd_loss(disc_logits, c.is_replaced, loss_mask)
        loss = o.mlm_weight * c.mlm + o.disc_weight * disc
        return step_output(loss, common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"),
                           common.rtd_metrics(disc_logits, c.is_replaced, loss_mask, disc),
                           ranked=common.rtd_ranking(disc_logits, c.is_replaced, loss_mask, c.corrupted, self.ctx))
