"""A lean forward of a transformers ElectraModel for classifiers that read the [CLS] state only.

It computes ElectraModel(...).last_hidden_state[:, :1] from the same parameters (the same
function: tests/tasks/test_cls_forward.py checks outputs and gradients against transformers),
with less work on a CPU:
- the last layer computes its query, attention output and feed-forward for position 0 only:
  the head reads [CLS] alone, so the other positions' last-layer outputs were never used (keys and
  values still come from every position). On a 4-layer encoder that is ~20% of the matmul FLOPs;
- Q, K and V come from one matmul with the three weights side by side: one core runs a 128 x 384
  GEMM at ~1.5x the FLOP rate of three 128 x 128 ones;
- the padding mask is one additive [B, 1, 1, L] bias per batch instead of a [B, 1, L, L] mask;
- training attention (dropout on) on CPU is softmax(q k^T * scale + bias) -> dropout -> v written
  out, which is what SDPA's CPU kernel falls back to with dropout; evaluation, and training on a
  GPU, use SDPA's fused kernels.
Dropout is ATen's, or on CPU when `packed` the packed-bit masks of models/packed_dropout.py applied
as a float multiplier (multiplied_dropout): the same distribution from a quarter of the random
draws, so results differ from ATen's masks by seed noise only.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from electra_lab.models.packed_dropout import multiplied_dropout


def supports(encoder: nn.Module) -> bool:
    """True for the plain bidirectional ElectraModel this forward reproduces (absolute positions,
    no decoder, no cross-attention, no feed-forward chunking)."""
    config = getattr(encoder, "config", None)
    return (config is not None and hasattr(encoder, "embeddings") and hasattr(encoder, "encoder")
            and not config.is_decoder and not config.add_cross_attention
            and getattr(config, "position_embedding_type", "absolute") == "absolute"
            and not getattr(config, "chunk_size_feed_forward", 0))


class _Dropout:
    """Dropout with the model's training flag; packed-bit masks on CPU when asked for."""

    def __init__(self, training: bool, packed: bool):
        self.training, self.packed = training, packed

    def __call__(self, x: torch.Tensor, p: float) -> torch.Tensor:
        if not self.training or p == 0.0:
            return x
        return multiplied_dropout(x, p) if self.packed else F.dropout(x, p, training=True)


def _embed(encoder: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor, drop: _Dropout) -> torch.Tensor:
    e = encoder.embeddings
    positions = e.position_embeddings.weight[: input_ids.shape[1]]
    x = e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids) + positions
    x = drop(e.LayerNorm(x), e.dropout.p)
    return encoder.embeddings_project(x) if hasattr(encoder, "embeddings_project") else x


def _attention(q, k, v, bias, keep, p: float, drop: _Dropout) -> torch.Tensor:
    """[B, H, Lq, D] queries against [B, H, L, D] keys/values -> [B, H, Lq, D]."""
    if not drop.training or p == 0.0:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    if q.device.type != "cpu":  # GPU kernels fuse the dropout
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=p)
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2)).add_(bias)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype)
    return torch.matmul(drop(probs, p), v)


def _layer(layer: nn.Module, x: torch.Tensor, bias, keep, drop: _Dropout, cls_only: bool) -> torch.Tensor:
    """One ElectraLayer, [B, L, H] -> [B, L, H] (or [B, 1, H] when cls_only)."""
    a = layer.attention.self
    batch, length, hidden = x.shape
    heads, size = a.num_attention_heads, a.attention_head_size
    weight = torch.cat([a.query.weight, a.key.weight, a.value.weight])
    bias_qkv = torch.cat([a.query.bias, a.key.bias, a.value.bias])
    if cls_only:  # keys and values from every position, the query from [CLS] alone
        kv = F.linear(x, weight[hidden:], bias_qkv[hidden:])
        k, v = kv.view(batch, length, 2, heads, size).permute(2, 0, 3, 1, 4)
        residual = x[:, :1]
        q = a.query(residual).view(batch, 1, heads, size).transpose(1, 2)
    else:
        q, k, v = F.linear(x, weight, bias_qkv).view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4)
        residual = x
    context = _attention(q, k, v, bias, keep, a.dropout.p, drop).transpose(1, 2).reshape(batch, -1, hidden)
    o = layer.attention.output
    h = o.LayerNorm(drop(o.dense(context), o.dropout.p) + residual)
    f = layer.output
    inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
    return f.LayerNorm(drop(f.dense(inner), f.dropout.p) + h)


def cls_states(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_type_ids: torch.Tensor, packed: bool = False) -> torch.Tensor:
    """[B, L] ids, mask (1 = token), segment ids -> [B, 1, H]: the last layer's [CLS] state, as
    encoder(...).last_hidden_state[:, :1] computes it. Training mode follows encoder.training."""
    drop = _Dropout(encoder.training, packed)
    x = _embed(encoder, input_ids, token_type_ids, drop)
    keep = attention_mask[:, None, None, :].bool()  # SDPA's convention: True = attend
    bias = torch.zeros(keep.shape, dtype=torch.float32, device=x.device).masked_fill_(
        ~keep, torch.finfo(torch.float32).min)
    layers = encoder.encoder.layer
    for i, layer in enumerate(layers):
        x = _layer(layer, x, bias, keep, drop, cls_only=i == len(layers) - 1)
    return x[:, :1]
