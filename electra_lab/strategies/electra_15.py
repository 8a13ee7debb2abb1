"""ELECTRA 15% (paper Table 5): joint ELECTRA whose discriminator loss covers only the masked slots.

loss = mlm_weight * L_MLM + disc_weight * L_Disc15, where L_Disc15 is the sigmoid BCE averaged over
the ~15% of positions that were masked (and then filled with generator samples) instead of over every
non-pad token. It isolates how much ELECTRA gains from learning on all tokens. Every other part,
options included, is joint ELECTRA's.

FLOPs: counted as ELECTRA. The discriminator still reads and scores every token (its head runs on
all of them); only the loss ignores most of them, and the official counting takes backward = forward.
"""
from __future__ import annotations

import torch

from electra_lab.strategies import _common as common
from electra_lab.strategies import joint
from electra_lab.strategies._base import Batch

Options = joint.Options  # the same knobs as joint ELECTRA, each with the same effect


class Strategy(joint.Strategy):
    def disc_loss_mask(self, corruption: common.Corruption, batch: Batch) -> torch.Tensor:
        """[B, L] float: only the masked slots (the one difference from joint ELECTRA)."""
        return common.masked_token_mask(corruption.masked, batch.input_ids)
