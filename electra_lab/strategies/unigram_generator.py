"""ELECTRA with a unigram generator (paper Figure 3 left: "far worse" than a learned generator).

The masked slots are filled with tokens drawn from the training corpus's unigram distribution
(special tokens excluded), independently of the context; a sample equal to the original counts as
original. Only the discriminator trains, with the usual loss: disc_weight * L_Disc over all non-pad
tokens. The "generator" is a fixed distribution held as a buffer: no network, no trainable
parameters. FLOPs: the discriminator only (sampling is free, as in the official counting).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from electra_lab.config import StrategyOptions
from electra_lab.data.masking import SpecialIds
from electra_lab.models.build import build_discriminator
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, step_output


@dataclass
class Options(StrategyOptions):
    disc_weight: float = 50.0  # kept equal to joint ELECTRA's lambda so the discriminator's updates compare


class UnigramSampler(nn.Module):
    """Samples token ids by inverse CDF from fixed corpus frequencies (a buffer, saved in checkpoints)."""

    def __init__(self, counts: torch.Tensor, ids: SpecialIds):
        super().__init__()
        counts = counts.detach().double().clone()
        counts[[ids.pad, ids.cls, ids.sep, ids.mask, ids.unk]] = 0.0
        if counts.sum() <= 0:
            raise ValueError("unigram generator: the training data has no ordinary tokens to sample from")
        cdf = (counts / counts.sum()).cumsum(0)
        self.register_buffer("cdf", cdf.float())
        self.last_id = int(counts.nonzero().max())  # fp32 rounding may push a draw past the end

    @property
    def probs(self) -> torch.Tensor:
        return torch.diff(self.cdf, prepend=self.cdf.new_zeros(1))

    def forward(self, shape: torch.Size) -> torch.Tensor:
        uniform = torch.rand(shape, device=self.cdf.device) * self.cdf[-1]
        # right=True skips zero-probability ids (their CDF equals the previous one's)
        return torch.searchsorted(self.cdf, uniform, right=True).clamp_(max=self.last_id)


class Strategy(StrategyBase):
    phase_name = "discriminator"

    def build(self) -> nn.ModuleDict:
        if self.ctx.unigram_counts is None:
            raise ValueError("strategy unigram_generator needs the training data's token counts "
                             "(StrategyContext.unigram_counts); "
                             "strategies.from_config(cfg, ids, unigram_counter(blocks, V))")
        disc = build_discriminator(self.ctx.model, self.ctx.ids.vocab_size, self.ctx.ids.pad)
        unigram = UnigramSampler(self.ctx.unigram_counts(), self.ctx.ids)
        return nn.ModuleDict({"discriminator": disc, "unigram": unigram})

    def flops_per_sequence(self, step: int) -> float:
        return common.discriminator_flops(self.ctx)

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        masked = common.mask_batch(batch, self.ctx)
        samples = models["unigram"](masked.positions.shape)
        corrupted, is_replaced = common.replace_with_samples(batch, masked, samples)
        disc_logits = common.discriminate(models, corrupted, batch)
        token_mask = batch.attention_mask.float()
        disc = common.rtd_loss(disc_logits, is_replaced, token_mask)
        loss = self.options.disc_weight * disc
        return step_output(loss, common.rtd_metrics(disc_logits, is_replaced, token_mask, disc),
                           ranked=common.rtd_ranking(disc_logits, is_replaced, token_mask, corrupted, self.ctx))
