"""Build discriminator and generator with transformers' Electra classes from a size spec.

The generator follows the paper's rule: hidden = round(h * fraction), FFN = 4 * hidden,
heads = max(1, hidden // 64), same depth as the discriminator. Its embedding size is the
discriminator's when the embeddings are tied (sharing embeddings/all/gdes: one table, one width).
Untied (sharing=none) it is the generator's own hidden size, so it has no e -> h projection: the
official run_pretraining.py builds it with embedding_size=None and flops_computation.py counts it
with e = h_g (model.untied_gen_embedding=discriminator keeps the discriminator's width instead).
"""
from __future__ import annotations

from dataclasses import dataclass

from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from electra_lab.config import ConfigError, ModelConfig


@dataclass(frozen=True)
class Shape:
    """One transformer's dimensions (everything FLOPs and construction need)."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    embedding_size: int


def discriminator_shape(m: ModelConfig) -> Shape:
    return Shape(m.layers, m.hidden, m.heads, m.ffn, m.embedding_size)


def generator_embedding_size(m: ModelConfig, gen_hidden: int) -> int:
    """Width of the generator's token embeddings, given its hidden size (the rule in the module docstring)."""
    if m.sharing == "none" and m.untied_gen_embedding == "official":
        return gen_hidden  # official: embedding_size=None, i.e. the generator's own hidden size
    return m.embedding_size  # tied tables have one width; or the opt-in old rule for untied ones


def generator_shape(m: ModelConfig) -> Shape:
    if m.gen_fraction == 1.0:  # an equal-size generator has the discriminator's heads and FFN too
        return Shape(m.gen_layers or m.layers, m.hidden, m.heads, m.ffn, generator_embedding_size(m, m.hidden))
    hidden = int(round(m.hidden * m.gen_fraction))
    if hidden < 1:
        raise ConfigError(f"model.gen_fraction={m.gen_fraction} gives a generator with hidden size {hidden}")
    heads = max(1, hidden // 64)
    if hidden % heads:
        raise ConfigError(f"model.gen_fraction={m.gen_fraction}: "
                          f"generator hidden {hidden} not divisible by {heads} heads")
    return Shape(m.gen_layers or m.layers, hidden, heads, 4 * hidden, generator_embedding_size(m, hidden))


def electra_config(shape: Shape, m: ModelConfig, vocab_size: int, pad_id: int = 0) -> ElectraConfig:
    # a fresh config per model: transformers mutates the config a model is built from
    return ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=shape.embedding_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=m.max_position,
        hidden_dropout_prob=m.dropout,
        attention_probs_dropout_prob=m.dropout,
        pad_token_id=pad_id,
        attn_implementation="sdpa",
    )


def build_discriminator(m: ModelConfig, vocab_size: int, pad_id: int = 0) -> ElectraForPreTraining:
    return ElectraForPreTraining(electra_config(discriminator_shape(m), m, vocab_size, pad_id))


def build_generator(m: ModelConfig, vocab_size: int, pad_id: int = 0) -> ElectraForMaskedLM:
    return ElectraForMaskedLM(electra_config(generator_shape(m), m, vocab_size, pad_id))


def build_mlm_model(m: ModelConfig, vocab_size: int, pad_id: int = 0) -> ElectraForMaskedLM:
    """BERT-style MLM baseline: discriminator-sized encoder with the generator's MLM head."""
    return ElectraForMaskedLM(electra_config(discriminator_shape(m), m, vocab_size, pad_id))
