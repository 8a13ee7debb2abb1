"""FLOPs per sequence for the benchmark: the official count and the matmuls actually executed.

official: electra_lab.flops (the paper's accounting: embeddings as dense one-hot products,
  backward = forward, MLM head on 15.625% of tokens). The same number is charged to the
  framework and the reference, so their FLOP/s ratio equals their throughput ratio.
executed matmuls: 3 x forward (backward = 2 x forward) of every matrix multiply a run performs:
  projections, attention scores and values, FFN, heads. Embedding lookups are gathers (0 FLOPs).
  The framework applies the generator's vocabulary head at its P = max_predictions slots per
  sequence; the reference applies it at all L positions.
"""
from __future__ import annotations

from electra_lab.config import Config, max_predictions
from electra_lab.models.build import Shape, discriminator_shape, generator_shape


def forward_matmul_flops_per_token(shape: Shape, seq_len: int, vocab: int, head: str, head_frac: float = 1.0) -> float:
    h, i, e = shape.hidden, shape.ffn, shape.embedding_size
    flops = shape.layers * (8 * h * h + 4 * h * seq_len + 4 * h * i)  # q, k, v, out; scores, values; FFN
    if e != h:
        flops += 2 * e * h  # embeddings_project
    if head == "disc":
        flops += 2 * h * h + 2 * h  # dense h -> h, dense h -> 1
    elif head == "mlm":
        flops += head_frac * (2 * h * e + 2 * e * vocab)  # dense h -> e, tied output matrix
    return flops


def executed_matmul_flops_per_sequence(cfg: Config, vocab: int, mlm_head_frac: float) -> float:
    """Training matmul FLOPs of one joint-ELECTRA sequence (generator head on mlm_head_frac of tokens)."""
    L = cfg.data.seq_len
    per_token = (forward_matmul_flops_per_token(discriminator_shape(cfg.model), L, vocab, "disc")
                 + forward_matmul_flops_per_token(generator_shape(cfg.model), L, vocab, "mlm", mlm_head_frac))
    return 3 * per_token * L


def framework_head_fraction(cfg: Config) -> float:
    return max_predictions(cfg.masking, cfg.data.seq_len) / cfg.data.seq_len
