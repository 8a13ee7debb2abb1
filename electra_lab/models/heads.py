"""Forward passes that compute only what the objective needs.

The generator's vocabulary projection is the largest single cost of a small model, so it is
applied only at the [B, P] masked positions, never over all L tokens.
"""
from __future__ import annotations

import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from electra_lab.data.masking import gather_positions


def encode(model, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
    """Last hidden states [B, L, H] of the Electra encoder inside either head class."""
    return model.electra(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
    ).last_hidden_state


def mlm_logits_at(hidden: torch.Tensor, model: ElectraForMaskedLM, positions: torch.Tensor) -> torch.Tensor:
    """[B, L, H] hidden states -> [B, P, V] vocabulary logits at `positions`."""
    return model.generator_lm_head(model.generator_predictions(gather_positions(hidden, positions)))


def mlm_logits_all(hidden: torch.Tensor, model: ElectraForMaskedLM) -> torch.Tensor:
    """[B, L, H] -> [B, L, V]: for objectives that predict every token (All-Tokens MLM)."""
    return model.generator_lm_head(model.generator_predictions(hidden))


def rtd_logits(hidden: torch.Tensor, model: ElectraForPreTraining) -> torch.Tensor:
    """[B, L, H] -> [B, L] replaced-token-detection logits (dense -> GELU -> dense(1))."""
    return model.discriminator_predictions(hidden)
