"""Masking as pure tensor functions (no host synchronisation, static shapes).

Shapes: B = batch, L = sequence length, P = max_predictions (slots per sequence).
Masked positions are returned as a fixed [B, P] index tensor plus a [B, P] weight (1 = a real
prediction slot, 0 = an unused slot), like the official pretrain_helpers.mask.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MaskedBatch:
    input_ids: torch.Tensor  # [B, L] the corrupted input given to the model
    positions: torch.Tensor  # [B, P] long, indices into L (0 where the slot is unused)
    labels: torch.Tensor  # [B, P] long, original token ids at `positions`
    weights: torch.Tensor  # [B, P] float, 1 for real slots


@dataclass(frozen=True)
class SpecialIds:
    pad: int
    cls: int
    sep: int
    mask: int
    unk: int
    vocab_size: int

    @classmethod
    def of(cls, tokenizer) -> SpecialIds:
        """The special-token ids and vocabulary size of a Hugging Face tokenizer."""
        return cls(pad=tokenizer.pad_token_id, cls=tokenizer.cls_token_id, sep=tokenizer.sep_token_id,
                   mask=tokenizer.mask_token_id, unk=tokenizer.unk_token_id, vocab_size=len(tokenizer))

    def never_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[B, L] bool: positions that may never be chosen for prediction."""
        return (input_ids == self.pad) | (input_ids == self.cls) | (input_ids == self.sep)


def select_positions(
    input_ids: torch.Tensor,
    never_mask: torch.Tensor,
    pad_mask: torch.Tensor,
    mask_prob: float,
    max_predictions: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose n_i = clamp(round(mask_prob * non-pad tokens), 1, max_predictions) positions per row.

    Counting over all non-pad tokens ([CLS]/[SEP] included) and choosing among the maskable ones
    is what the official code does. Returns positions [B, P] and weights [B, P].
    """
    num_tokens = (~pad_mask).sum(dim=1).to(torch.float32)
    n_predict = torch.round(num_tokens * mask_prob).clamp(min=1, max=max_predictions)
    scores = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    scores = scores.masked_fill(never_mask, -1.0)
    top_scores, positions = scores.topk(max_predictions, dim=1)
    slot = torch.arange(max_predictions, device=input_ids.device).unsqueeze(0)
    # a slot is real if it is within the row's count and landed on a maskable token
    weights = ((slot < n_predict.unsqueeze(1)) & (top_scores >= 0)).to(torch.float32)
    positions = positions * weights.long()
    return positions, weights


def apply_mask(
    input_ids: torch.Tensor,
    ids: SpecialIds,
    mask_prob: float,
    max_predictions: int,
    mask_token_frac: float,
    random_token_frac: float,
    generator: torch.Generator | None = None,
) -> MaskedBatch:
    """Select positions, then replace mask_token_frac of them with [MASK], random_token_frac with a
    random token and leave the rest unchanged."""
    pad_mask = input_ids == ids.pad
    positions, weights = select_positions(
        input_ids, ids.never_mask(input_ids), pad_mask, mask_prob, max_predictions, generator
    )
    labels = input_ids.gather(1, positions)
    draw = torch.rand(positions.shape, device=input_ids.device, generator=generator)
    use_mask = draw < mask_token_frac
    use_random = (draw >= mask_token_frac) & (draw < mask_token_frac + random_token_frac)
    random_tokens = torch.randint(
        0, ids.vocab_size, positions.shape, device=input_ids.device, generator=generator
    )
    new_tokens = torch.where(use_mask, torch.full_like(labels, ids.mask), labels)
    new_tokens = torch.where(use_random, random_tokens, new_tokens)
    # unused slots write the original token back, so they change nothing
    new_tokens = torch.where(weights > 0, new_tokens, labels)
    masked = input_ids.scatter(1, positions, new_tokens)
    return MaskedBatch(masked, positions, labels, weights)


def official_mask(input_ids, ids: SpecialIds, mask_prob: float, max_predictions: int, generator=None) -> MaskedBatch:
    """ELECTRA's official masking: 85% [MASK], 15% unchanged, never a random token."""
    return apply_mask(input_ids, ids, mask_prob, max_predictions, 0.85, 0.0, generator)


def bert_mask(input_ids, ids: SpecialIds, mask_prob: float, max_predictions: int, generator=None) -> MaskedBatch:
    """BERT's masking: 80% [MASK], 10% random token, 10% unchanged."""
    return apply_mask(input_ids, ids, mask_prob, max_predictions, 0.8, 0.1, generator)


MASKING_STYLES = {"official": official_mask, "bert": bert_mask}


def gather_positions(sequence: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """[B, L, H] gathered at [B, P] -> [B, P, H]."""
    index = positions.unsqueeze(-1).expand(-1, -1, sequence.size(-1))
    return sequence.gather(1, index)


def scatter_positions(input_ids: torch.Tensor, positions: torch.Tensor, values: torch.Tensor,
                      weights: torch.Tensor) -> torch.Tensor:
    """Write values [B, P] into input_ids [B, L] at real slots only."""
    current = input_ids.gather(1, positions)
    return input_ids.scatter(1, positions, torch.where(weights > 0, values, current))
