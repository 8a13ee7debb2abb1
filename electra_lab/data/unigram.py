"""Token frequencies of packed training blocks (what the unigram-generator ablation samples from)."""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

_MAX_BLOCKS = 20000  # a sample of the blocks is plenty for the frequencies of a few thousand tokens


def unigram_counter(blocks: np.ndarray, vocab_size: int) -> Callable[[], torch.Tensor]:
    """A function giving the [V] float token counts of the first blocks, computed on the first call
    (the unigram generator, and the rarity control of evaluation) and kept."""
    @functools.cache
    def counts() -> torch.Tensor:
        flat = np.asarray(blocks[: min(len(blocks), _MAX_BLOCKS)]).reshape(-1).astype(np.int64)
        return torch.from_numpy(np.bincount(flat, minlength=vocab_size)[:vocab_size]).float()
    return counts
