"""Classification / regression heads on the [CLS] hidden state, and the encoder + head module.

"linear" is the official ELECTRA head: dropout -> linear on the raw [CLS] hidden state, no pooler.
"hf_mlp" mirrors Hugging Face's ElectraClassificationHead (dropout -> dense -> GELU -> dropout
-> linear), which reproductions found behaves differently; it is a switch, not the default.
"""
from __future__ import annotations

import torch
from torch import nn

from electra_lab.config import ConfigError
from electra_lab.tasks.cls_forward import cls_states, supports

HEAD_KINDS = ("linear", "hf_mlp")


def _init_linear(layer: nn.Linear, std: float) -> nn.Linear:
    nn.init.normal_(layer.weight, std=std)  # BERT/ELECTRA initialiser range
    nn.init.zeros_(layer.bias)
    return layer


class ClsLinearHead(nn.Module):
    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1, init_std: float = 0.02):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = _init_linear(nn.Linear(hidden, num_labels), init_std)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """[B, L, H] -> [B, num_labels] from position 0 ([CLS])."""
        return self.out(self.dropout(hidden_states[:, 0]))


class ClsMlpHead(nn.Module):
    def __init__(self, hidden: int, num_labels: int, dropout: float = 0.1, init_std: float = 0.02):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = _init_linear(nn.Linear(hidden, hidden), init_std)
        self.out = _init_linear(nn.Linear(hidden, num_labels), init_std)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        x = self.dense(self.dropout(hidden_states[:, 0]))
        return self.out(self.dropout(nn.functional.gelu(x)))


def build_head(kind: str, hidden: int, num_labels: int, dropout: float = 0.1, init_std: float = 0.02) -> nn.Module:
    heads = {"linear": ClsLinearHead, "hf_mlp": ClsMlpHead}
    if kind not in heads:
        raise ConfigError(f"unknown head {kind!r} (fine-tuning option head); valid: {', '.join(HEAD_KINDS)}")
    return heads[kind](hidden, num_labels, dropout, init_std)


class SequenceClassifier(nn.Module):
    """An ElectraModel encoder with a head; logits [B, num_labels] (num_labels=1: a score).

    lean: run the encoder through tasks/cls_forward.py (the [CLS] state only, same function, less
    work) when it supports the encoder; packed_dropout: its dropout masks from packed random bits
    (CPU). Both change no parameter, so state dicts and optimiser groups are the same either way."""

    def __init__(self, encoder: nn.Module, head: nn.Module, lean: bool = False, packed_dropout: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.lean = lean and supports(encoder)
        self.packed_dropout = packed_dropout

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        if self.lean:
            return self.head(cls_states(self.encoder, input_ids, attention_mask, token_type_ids, self.packed_dropout))
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self.head(hidden)
