"""Weight sharing between generator and discriminator, chosen by name.

none        separate weights
embeddings  word, position and type embeddings and their LayerNorm are one module (the paper's
            choice); each model keeps its own embeddings_project
all         the whole encoder is one module (generator and discriminator must be the same size)
gdes        DeBERTaV3's gradient-disentangled sharing: the discriminator's embedding tables are
            stop_gradient(generator's) + a zero-initialised delta, so RTD updates only the delta
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from electra_lab.config import ConfigError

SHARING_MODES = ("none", "embeddings", "all", "gdes")
_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")


class DeltaEmbedding(nn.Module):
    """Embedding whose table is base.detach() + delta; gradients reach only the delta."""

    def __init__(self, base: nn.Embedding):
        super().__init__()
        self.base = base
        self.delta = nn.Parameter(torch.zeros_like(base.weight))
        self.padding_idx = base.padding_idx

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight.detach() + self.delta

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def merged(self) -> nn.Embedding:
        out = nn.Embedding(*self.base.weight.shape, padding_idx=self.padding_idx)
        out.weight.data.copy_(self.weight.detach())
        return out


def apply_sharing(generator: nn.Module, discriminator: nn.Module, mode: str) -> None:
    """Tie generator (ElectraForMaskedLM) and discriminator (ElectraForPreTraining) in place."""
    if mode not in SHARING_MODES:
        raise ConfigError(f"model.sharing must be one of {', '.join(SHARING_MODES)}, got {mode!r}")
    gen, disc = generator.electra, discriminator.electra
    if mode == "embeddings":
        gen.embeddings = disc.embeddings
    elif mode == "all":
        if _shape(gen) != _shape(disc):
            raise ConfigError(
                f"model.sharing=all needs equal generator and discriminator sizes, got {_shape(gen)} vs {_shape(disc)} "
                "(set model.gen_fraction=1.0)"
            )
        generator.electra = discriminator.electra
    elif mode == "gdes":
        for name in _TABLES:
            setattr(disc.embeddings, name, DeltaEmbedding(getattr(gen.embeddings, name)))
    # the MLM head's output matrix is the generator's word-embedding table
    generator.generator_lm_head.weight = generator.electra.embeddings.word_embeddings.weight


def merge_gdes(discriminator: nn.Module) -> None:
    """Replace DeltaEmbedding tables by plain embeddings holding base + delta (for export)."""
    emb = discriminator.electra.embeddings
    for name in _TABLES:
        table = getattr(emb, name)
        if isinstance(table, DeltaEmbedding):
            setattr(emb, name, table.merged())


def _shape(encoder: nn.Module) -> tuple:
    c = encoder.config
    return (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size, c.embedding_size)
