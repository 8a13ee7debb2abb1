"""Joint ELECTRA: generator (MLM) and discriminator (replaced token detection) trained together.

loss = mlm_weight * L_MLM + disc_weight * L_Disc. The generator's samples are drawn without
gradient, so the discriminator's loss sends nothing back to the generator (not a GAN).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from electra_lab.strategies import common
from electra_lab.strategies.base import Batch, StepOutput, StrategyContext, all_named_params


@dataclass
class Options:
    disc_weight: float = 50.0  # lambda, searched over {1, 10, 20, 50, 100} in the paper
    mlm_weight: float = 1.0
    temperature: float = 1.0  # sampling temperature of the generator
    disallow_correct: bool = False  # official-code knob: never sample the original token
    # start the discriminator's output bias at the logit of the masking rate, so the constant
    # "all original" answer is free and short runs don't collapse the encoder to reach it
    disc_prior_init: bool = False


class Strategy:
    def __init__(self, options: Options, ctx: StrategyContext):
        self.options, self.ctx = options, ctx

    def build(self) -> nn.ModuleDict:
        models = common.build_electra_pair(self.ctx)
        if self.options.disc_prior_init:
            common.init_disc_bias_to_prior(models["discriminator"], self.ctx.masking.prob)
        return models

    def param_groups(self, models):
        return [{"named_params": all_named_params(models)}]

    def phase(self, step: int) -> str:
        return "joint"

    def flops_per_sequence(self, step: int) -> float:
        return common.electra_flops(self.ctx)

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        o = self.options
        c = common.corrupt_with_generator(models, batch, self.ctx, o.temperature, o.disallow_correct)
        disc_logits = common.discriminate(models, c.corrupted, batch)
        token_mask = batch.attention_mask.float()
        disc = common.rtd_loss(disc_logits, c.is_replaced, token_mask)

        loss = o.mlm_weight * c.mlm + o.disc_weight * disc
        metrics = {
            **common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"),
            **common.rtd_metrics(disc_logits, c.is_replaced, token_mask, disc),
            "loss": (loss.detach().float(), torch.ones((), device=loss.device)),
        }
        return StepOutput(loss, metrics)

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        return {"encoder": models["discriminator"], "generator": models["generator"]}
