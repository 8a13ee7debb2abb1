"""Dropout whose CPU masks cost a quarter of a random draw per element.

On CPU, ATen's dropout draws one random number per element (`bernoulli_`), serially: in the
ELECTRA-Small step it took about a fifth of the time under bf16 (results/bench). Here one 64-bit
draw from torch's generator yields four 16-bit lanes, each compared with round(p * 2^16): the drop
probability is p to within 2^-17 (0.1 -> 0.100006), the kept values are scaled by 1 / (1 - that
probability), so expectations are exact, and the masks come from torch's seeded generator like
ATen's (so checkpoints resume exactly). On CUDA, ATen's fused dropout is used unchanged.

`install_packed_dropout(model)` swaps the hidden-state dropouts of a transformers model for this
one, and its attention for `packed_attention`, which is SDPA whenever no attention dropout is
applied (evaluation, p = 0, CUDA) and otherwise softmax(QK^T * scale + mask) -> packed dropout -> V.
`remove_packed_dropout` restores the stock modules (export does, so saved folders stay stock).
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION_NAME = "electra_lab_packed_sdpa"
_LANES = 1 << 16


def drop_threshold(p: float) -> int:
    """Lanes below this value (of 2^16, as signed int16 offset by -2^15) are dropped."""
    return int(round(p * _LANES))


def _lanes(shape: torch.Size, device: torch.device) -> torch.Tensor:
    """[shape] uniform int16 lanes, four from each 64-bit draw of torch's generator."""
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(1 << 63), None)
    return words.view(torch.int16)[:n].view(shape)


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """A boolean keep-mask with P(drop) = round(p * 2^16) / 2^16, and the matching scale."""
    dropped = drop_threshold(p)
    return _lanes(shape, device) >= dropped - (1 << 15), _LANES / (_LANES - dropped)


def keep_factor(shape: torch.Size, p: float, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, float]:
    """keep_mask's decisions from the same draws as a 0/1 tensor of `dtype`, and the scale.

    On CPU, x * factor (bf16 or fp32) runs ~7x faster than torch.where on a boolean mask, and
    comparing straight into a `dtype` output avoids the (slow) bool -> bf16 conversion."""
    dropped = drop_threshold(p)
    factor = torch.empty(shape, dtype=dtype, device=device)
    torch.ge(_lanes(shape, device), dropped - (1 << 15), out=factor)
    return factor, _LANES / (_LANES - dropped)


def keep_multiplier(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """keep_mask's decisions from the same draws, as a float32 multiplier: 1 / (1 - P(drop)) where
    kept, 0 where dropped. On CPU, x * multiplier runs several times faster than torch.where on a
    boolean mask (forward and backward), at four bytes per element kept for backward instead of one."""
    factor, scale = keep_factor(shape, p, device, torch.float32)
    return factor.mul_(scale)


def multiplied_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """packed_dropout's distribution with keep_multiplier's masks (CPU; ATen's dropout elsewhere)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return nn.functional.dropout(x, p, training=True)
    return (x * keep_multiplier(x.shape, p, x.device)).to(x.dtype)  # scaled in float32, as ATen does


class _PackedDropout(torch.autograd.Function):
    """x * keep * scale for a 0/1 `keep` of x's dtype (scale 1.0: the caller rescales)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)  # x's dtype: two bytes per element under bf16
        ctx.scale = scale
        return _apply(x, keep, scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return _apply(grad, keep, ctx.scale), None, None


def _apply(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    # one pass, the product rounded once: bit-equal to torch.where(keep, x * scale, 0)
    return torch.addcmul(x.new_zeros(()), x, keep, value=scale) if scale != 1.0 else x * keep


def packed_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return nn.functional.dropout(x, p, training=True)
    keep, scale = keep_factor(x.shape, p, x.device, x.dtype)
    return _PackedDropout.apply(x, keep, scale)


class PackedDropout(nn.Dropout):
    """nn.Dropout with packed CPU masks; a subclass, so code reading `.p` keeps working."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return packed_dropout(x, self.p, self.training)


def packed_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' attention-function signature; SDPA unless attention dropout runs on CPU.

    Elementwise work on the [B, H, L, L] scores is what costs here, so the softmax scale is applied
    to the queries and the dropout's 1 / (1 - p) to the output ([B, H, L, D], D < L), and the mask
    is written into the fresh product in place."""
    if dropout == 0.0 or query.device.type != "cpu":
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scaling, key.transpose(-1, -2))
    if attention_mask is not None:  # sdpa_mask's convention: bool True = attend, or an additive float mask
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill_(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores.add_(attention_mask)
    # a bf16 softmax accumulates in fp32 inside the kernel: the same bits as softmax(dtype=float32)
    # then a cast, without the [B, H, L, L] fp32 copy (8x faster on CPU); its backward works from the
    # rounded probabilities, a difference within bf16's own rounding
    probs = torch.softmax(scores, dim=-1)
    keep, scale = keep_factor(probs.shape, dropout, probs.device, probs.dtype)
    out = torch.matmul(_PackedDropout.apply(probs, keep, 1.0), value).mul_(scale)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION_NAME, packed_attention)
AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)


def _swap_dropouts(model: nn.Module, cls: type[nn.Dropout]) -> None:
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Dropout) and type(child) is not cls:
                swapped = cls(child.p, child.inplace)
                swapped.train(child.training)
                setattr(parent, name, swapped)


def _set_attention(model: nn.Module, name: str) -> None:
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = name


def install_packed_dropout(model: nn.Module) -> nn.Module:
    _swap_dropouts(model, PackedDropout)
    _set_attention(model, ATTENTION_NAME)
    return model


def remove_packed_dropout(model: nn.Module) -> nn.Module:
    _swap_dropouts(model, nn.Dropout)
    _set_attention(model, "sdpa")
    return model
