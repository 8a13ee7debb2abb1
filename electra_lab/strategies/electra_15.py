"""ELECTRA 15% (paper Table 5): joint ELECTRA whose discriminator loss covers only the masked slots.

loss = mlm_weight * L_MLM + disc_weight * L_Disc15, where L_Disc15 is the sigmoid BCE averaged over
the ~15% of positions that were masked (and then filled with generator samples) instead of over every
non-pad token. It isolates how much ELECTRA gains from learning on all tokens.

FLOPs: counted as ELECTRA. The discriminator still reads and scores every token (its head runs on
all of them); only the loss ignores most of them, and the official counting takes backward = forward.
"""
from __future__ import annotations

import torch
from torch import nn

from electra_lab.strategies import common
from electra_lab.strategies.base import Batch, StepOutput, StrategyContext, all_named_params
from electra_lab.strategies.joint import Options  # the same knobs as joint ELECTRA

__all__ = ["Options", "Strategy"]


class Strategy:
    def __init__(self, options: Options, ctx: StrategyContext):
        self.options, self.ctx = options, ctx

    def build(self) -> nn.ModuleDict:
        return common.build_electra_pair(self.ctx)

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
        loss_mask = common.masked_token_mask(c.masked, batch.input_ids)  # the only difference from joint
        disc = common.rtd_loss(disc_logits, c.is_replaced, loss_mask)

        loss = o.mlm_weight * c.mlm + o.disc_weight * disc
        metrics = {
            **common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"),
            **common.rtd_metrics(disc_logits, c.is_replaced, loss_mask, disc),
            "loss": (loss.detach().float(), torch.ones((), device=loss.device)),
        }
        return StepOutput(loss, metrics)

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        return {"encoder": models["discriminator"], "generator": models["generator"]}
