"""Analytic pretraining FLOPs, following the ELECTRA paper's accounting.

The paper's compute numbers (Table 1, Table 8, Figure 4) come from the official
``flops_computation.py`` in google-research/electra. This module re-implements
that accounting so the paper's totals reproduce, and exposes per-sequence costs
so a trainer can accumulate FLOPs step by step. Pure Python: no torch import.

What the official script counts (and therefore what we count):

* A matrix multiply costs ``2*m*n`` per row (multiply and add are separate ops).
  Element-wise ops cost: softmax 5, dropout 4, layer norm 5, GELU 8 per element;
  biases and residual adds 1.
* Embedding lookups are dense one-hot products: ``2*e*V`` for tokens and
  ``2*e*(s+2)`` for positions plus the 2 token types, then an add, layer norm
  and dropout; ``2*h*e + h`` more for the projection when ``e != h``.
* The MLM head (BERT transform layer h->e + GELU + layer norm, tied output
  matrix ``2*e*V``, softmax ``5V`` and target pick ``2V``) is charged only on
  ``output_frac`` of the tokens: 0.15625 = 20 predictions / 128 tokens, the
  script's default, even at seq_len 512 and even for the generator.
* The discriminator (= binary classification) head is a dense h->h layer + bias
  + GELU + a 2h logit, on every token: ``2*h*h + 11*h``.
* Backward = forward, so training = ``2 * forward`` (a common alternative
  counts backward as twice forward, i.e. 3x; the paper does not).
* ELECTRA = discriminator (binary head) + generator (MLM head), each trained
  with the full 2x forward+backward. The generator's own input embedding is
  charged again even though it is tied to the discriminator's. Sampling from
  the generator, building the corrupted input, and the losses are free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Per-element costs of the small ops, as in the official script.
SOFTMAX_FLOPS = 5  # max-subtract, exp, sum, divide
DROPOUT_FLOPS = 4  # random number, compare, mask multiply, rescale
LAYER_NORM_FLOPS = 5  # mean, variance (square + sum), scale, bias
GELU_FLOPS = 8

DEFAULT_OUTPUT_FRAC = 0.15625  # 20 masked predictions per 128 tokens
BERT_VOCAB = 30522

Head = Literal["mlm", "disc", "none"]


@dataclass(frozen=True)
class TransformerShape:
    """Sizes of a BERT-style encoder; the only inputs the FLOPs formulas need."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    embedding_size: int
    vocab_size: int = BERT_VOCAB
    seq_len: int = 128
    sparse_embed_lookup: bool = False  # the official switch: the input token lookup costs nothing

    @classmethod
    def from_hidden(
        cls,
        hidden: int,
        layers: int,
        *,
        embedding_size: int | None = None,
        vocab_size: int = BERT_VOCAB,
        seq_len: int = 128,
        heads: int | None = None,
        ffn: int | None = None,
    ) -> TransformerShape:
        """Shape with the script's defaults: 64-dim heads, FFN = 4h, e = h."""
        return cls(
            layers=layers,
            hidden=hidden,
            heads=max(hidden // 64, 1) if heads is None else heads,
            ffn=4 * hidden if ffn is None else ffn,
            embedding_size=hidden if embedding_size is None else embedding_size,
            vocab_size=vocab_size,
            seq_len=seq_len,
        )


# ---------------------------------------------------------------------------
# Forward FLOPs per token (averaged over the seq_len tokens of a sequence).
# ---------------------------------------------------------------------------


def embedding_flops(shape: TransformerShape) -> float:
    """Input embeddings: dense one-hot token/position/type lookups + LN + dropout. With
    sparse_embed_lookup the token lookup is free (the official script still charges position and
    type as one-hot products, and the MLM head's output product is always charged)."""
    e, h, s, v = shape.embedding_size, shape.hidden, shape.seq_len, shape.vocab_size
    flops = (
        (0 if shape.sparse_embed_lookup else 2 * e * v)  # token one-hot @ embedding matrix
        + 2 * e * (s + 2)  # position (s) and token-type (2) one-hot lookups
        + 2 * e  # add the three embeddings
        + LAYER_NORM_FLOPS * e
        + DROPOUT_FLOPS * e
    )
    if e != h:
        flops += 2 * h * e + h  # projection e -> h with bias
    return flops


def layer_flops(shape: TransformerShape) -> float:
    """One transformer block: self-attention + FFN + the element-wise terms."""
    h, s, a, i = shape.hidden, shape.seq_len, shape.heads, shape.ffn
    attention = (
        3 * 2 * h * h  # query/key/value projections
        + 3 * h  # their biases
        + 2 * h * s  # scores q.k against all s positions
        + (SOFTMAX_FLOPS + DROPOUT_FLOPS + 1) * s * a  # softmax, dropout, 1/sqrt(d) scale
        + 2 * h * s  # weighted average of the values
        + 2 * h * h + h  # output projection with bias
        + DROPOUT_FLOPS * h
        + h  # residual
        # The script charges this layer norm 5 per token, not 5 per element
        # (the other norms are per element); kept so totals match exactly.
        + LAYER_NORM_FLOPS
    )
    ffn = (
        2 * h * i + i  # up projection with bias
        + GELU_FLOPS * i
        + 2 * h * i + h  # down projection with bias
        + DROPOUT_FLOPS * h
        + h  # residual
        + LAYER_NORM_FLOPS * h
    )
    return attention + ffn


def mlm_head_flops(shape: TransformerShape, output_frac: float = DEFAULT_OUTPUT_FRAC) -> float:
    """MLM output head, charged on ``output_frac`` of the tokens (1.0 = every token)."""
    e, h, v = shape.embedding_size, shape.hidden, shape.vocab_size
    per_predicted_token = (
        2 * h * e + e  # transform dense h -> e with bias (counted even when e == h)
        + GELU_FLOPS * e
        + LAYER_NORM_FLOPS * e
        + 2 * e * v  # logits through the tied embedding matrix
        + SOFTMAX_FLOPS * v
        + 2 * v  # picking out the target word
    )
    return output_frac * per_predicted_token


def disc_head_flops(shape: TransformerShape) -> float:
    """Binary head on every token (the script's classification head): 2h^2 + 11h."""
    h = shape.hidden
    return 2 * h * h + h + GELU_FLOPS * h + 2 * h  # dense + bias + GELU + logit


def forward_flops_per_token(
    shape: TransformerShape, head: Head, output_frac: float = DEFAULT_OUTPUT_FRAC
) -> float:
    """Forward FLOPs per token of embeddings + all layers + the chosen head."""
    flops = embedding_flops(shape) + shape.layers * layer_flops(shape)
    if head == "mlm":
        flops += mlm_head_flops(shape, output_frac)
    elif head == "disc":
        flops += disc_head_flops(shape)
    elif head != "none":
        raise ValueError(f"unknown head {head!r}; expected 'mlm', 'disc' or 'none'")
    return flops


# ---------------------------------------------------------------------------
# Training FLOPs.
# ---------------------------------------------------------------------------


def train_flops(forward_per_token: float, batch: float, steps: float, seq_len: int) -> float:
    """Training FLOPs; the official script takes backward = forward, hence the 2."""
    return 2 * forward_per_token * batch * steps * seq_len


def model_flops_per_sequence(
    shape: TransformerShape, head: Head, output_frac: float = DEFAULT_OUTPUT_FRAC
) -> float:
    """Forward + backward FLOPs of one model on one sequence of ``shape.seq_len`` tokens.

    The building block for every strategy: e.g. All-Tokens MLM is
    ``head="mlm", output_frac=1.0``; a unigram-generator ELECTRA is just the
    discriminator (``head="disc"``); a frozen-generator phase could add the
    generator's forward only (half of this) if a caller wants that.
    """
    per_token = forward_flops_per_token(shape, head, output_frac)
    return train_flops(per_token, batch=1, steps=1, seq_len=shape.seq_len)


def mlm_flops_per_sequence(
    shape: TransformerShape, output_frac: float = DEFAULT_OUTPUT_FRAC
) -> float:
    """BERT-style masked language model training cost per sequence."""
    return model_flops_per_sequence(shape, "mlm", output_frac)


def electra_flops_per_sequence(
    disc: TransformerShape,
    gen: TransformerShape,
    output_frac: float = DEFAULT_OUTPUT_FRAC,
) -> float:
    """ELECTRA training cost per sequence: discriminator + generator, both fully trained.

    Pass the generator's ``embedding_size`` equal to the discriminator's when the
    embeddings are tied (the script then charges the generator an e -> h projection),
    and equal to its own hidden size when untied: the script's ``tied_embeddings=False``
    gives the generator e = h_g, hence no projection (``embedding_flops`` charges one
    only when e != h).
    """
    if disc.seq_len != gen.seq_len:
        raise ValueError("generator and discriminator must share seq_len")
    return model_flops_per_sequence(disc, "disc") + model_flops_per_sequence(
        gen, "mlm", output_frac
    )


# ---------------------------------------------------------------------------
# The comparison table of the official script.
# ---------------------------------------------------------------------------

# ELMo and XLNet were measured with TensorFlow's profiler, not the formulas;
# the script keeps their forward FLOPs per example and scales by the schedule.
# The script's comment calls ELMo's number "per example", but its arithmetic
# (divide by batch 20 * 128 tokens) treats it as one batch of 20 examples.
ELMO_FORWARD_PER_SEQUENCE = 568_093_262_680 / 20
ELMO_TRAIN_WORDS = 768_648_884  # LM1B, trained for 10 epochs at batch 20
XLNET_FORWARD_PER_SEQUENCE = 15_064_773_691_518 / 32  # profiled on 32 examples


def _row(
    name: str,
    shapes: dict[str, TransformerShape],
    batch: float,
    steps: float,
    seq_len: int,
    per_sequence: float,
    method: str = "formula",
) -> dict:
    return dict(
        name=name,
        shapes=shapes,
        batch=batch,
        steps=steps,
        seq_len=seq_len,
        flops_per_sequence=per_sequence,
        train_flops=per_sequence * batch * steps,
        method=method,
    )


def _mlm_row(name: str, shape: TransformerShape, batch: float, steps: float,
             output_frac: float = DEFAULT_OUTPUT_FRAC) -> dict:
    per_seq = mlm_flops_per_sequence(shape, output_frac)
    return _row(name, {"model": shape}, batch, steps, shape.seq_len, per_seq)


def _electra_row(name: str, disc: TransformerShape, gen: TransformerShape,
                 batch: float, steps: float) -> dict:
    per_seq = electra_flops_per_sequence(disc, gen)
    return _row(name, {"discriminator": disc, "generator": gen}, batch, steps,
                disc.seq_len, per_seq)


def paper_table() -> list[dict]:
    """Rows of the official script's comparison, totals computed here.

    Each row: name, shapes (role -> TransformerShape; empty for profiled models),
    batch, steps, seq_len, flops_per_sequence, train_flops, method. Note the
    script's choices: seq_len 512 for everything but the Small models (BERT
    really trained 90% of steps at 128), BERT-Small 1.45M steps, ELECTRA-Base
    766K steps (to match BERT-Base's compute), GPT with an MLM-style head on
    every token, RoBERTa as BERT-Large with a 50265 vocab.
    """
    shape = TransformerShape.from_hidden
    small = shape(256, 12, embedding_size=128, seq_len=128)
    small_gen = shape(64, 12, embedding_size=128, seq_len=128)
    base = shape(768, 12, seq_len=512)
    base_gen = shape(256, 12, embedding_size=768, seq_len=512)  # tied to e = 768
    large = shape(1024, 24, seq_len=512)
    large_gen = shape(256, 24, embedding_size=1024, seq_len=512)

    elmo_steps = 10 * ELMO_TRAIN_WORDS / (20 * 128)
    return [
        _mlm_row("BERT-Small", small, 128, 1.45e6),
        _electra_row("ELECTRA-Small", small, small_gen, 128, 1e6),
        _mlm_row("BERT-Base", base, 256, 1e6),
        _electra_row("ELECTRA-Base", base, base_gen, 256, 766_000),
        _mlm_row("BERT-Large", large, 256, 1e6),
        _electra_row("ELECTRA-400K", large, large_gen, 2048, 400_000),
        _electra_row("ELECTRA-1.75M", large, large_gen, 2048, 1_750_000),
        _mlm_row("GPT", shape(768, 12, vocab_size=40000, seq_len=512), 128, 960_800,
                 output_frac=1.0),
        _row("ELMo", {}, 20, elmo_steps, 128,
             train_flops(ELMO_FORWARD_PER_SEQUENCE / 128, 1, 1, 128), "tf-profiler"),
        _mlm_row("RoBERTa", shape(1024, 24, vocab_size=50265, seq_len=512), 8000, 500_000),
        _row("XLNet", {}, 8192, 500_000, 512,
             train_flops(XLNET_FORWARD_PER_SEQUENCE / 512, 1, 1, 512), "tf-profiler"),
    ]


def format_flops(x: float) -> str:
    """Three significant figures in e-notation, as the paper prints: 1.29e18."""
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"
