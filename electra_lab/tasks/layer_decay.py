"""Layer-wise learning-rate decay for fine-tuning (ELECTRA's recipe).

Depth 0 is the embeddings (and embeddings_project), depth k the k-th transformer layer (1..n),
depth n+1 the task head. A parameter at depth d gets lr * decay ** (n + 1 - d): the head gets
lr, the top layer lr * decay, the embeddings the deepest decay, lr * decay ** (n + 1).

The official code (model/optimization.py) counts one layer too many below the head, a leftover
from the removed pooler (google-research/electra issues 51 and 64), so every encoder layer and
the embeddings get one extra factor of decay. `official_extra_factor=True` reproduces that.
"""
from __future__ import annotations

import re

from torch import nn

_LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")


def parameter_depth(name: str, n_layers: int) -> int:
    """Depth of a SequenceClassifier parameter name ("encoder.encoder.layer.3.attention...")."""
    if name.startswith("head."):
        return n_layers + 1
    if name.startswith("encoder.embeddings"):  # also encoder.embeddings_project
        return 0
    match = _LAYER.search(name)
    if name.startswith("encoder.") and match:
        return int(match.group(1)) + 1
    raise ValueError(f"no layer depth for parameter {name!r}")


def depth_lr(depth: int, n_layers: int, lr: float, decay: float, official_extra_factor: bool = False) -> float:
    exponent = n_layers + 1 - depth
    if official_extra_factor and depth <= n_layers:
        exponent += 1
    return lr * decay**exponent


def layerwise_param_groups(
    model: nn.Module, n_layers: int, lr: float, decay: float, official_extra_factor: bool = False,
    weight_decay: float = 0.0,
) -> list[dict]:
    """Optimiser groups by depth (shallowest first), each tagged with its "depth". With
    weight_decay > 0, LayerNorm weights and biases get none (the official exclusion)."""
    by_key: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            exempt = weight_decay > 0 and (name.endswith(".bias") or "LayerNorm" in name)
            by_key.setdefault((parameter_depth(name, n_layers), exempt), []).append(param)
    return [
        {
            "params": params,
            "lr": depth_lr(depth, n_layers, lr, decay, official_extra_factor),
            "depth": depth,
            "weight_decay": 0.0 if exempt else weight_decay,
        }
        for (depth, exempt), params in sorted(by_key.items())
    ]
