"""Shared fixtures: a tiny tokenizer and tiny token blocks, so core tests run in seconds offline."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from electra_lab.config import load_config  # noqa: E402

# tiny models run fastest on one thread, and a shared 2-core CI machine is not oversubscribed
torch.set_num_threads(1)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(59)]


@pytest.fixture
def tiny_tokenizer(tmp_path):
    from electra_lab.data.tokenizer import wordpiece_from_vocab

    return wordpiece_from_vocab(SPECIALS + WORDS)


def make_blocks(n: int, seq_len: int, vocab_size: int, seed: int = 0, half_vocab: bool = False) -> np.ndarray:
    """[CLS] A [SEP] B [SEP] blocks of random word ids, some shorter and padded (ids as SPECIALS).

    half_vocab=True draws words from the lower half of the vocabulary only, so an untrained
    generator's samples (spread over all of it) are detectable: a pattern a discriminator can learn."""
    rng = np.random.default_rng(seed)
    blocks = np.zeros((n, seq_len), dtype=np.uint16)
    for row in range(n):
        length = seq_len if rng.random() > 0.2 else int(rng.integers(8, seq_len))
        top = (vocab_size + len(SPECIALS)) // 2 if half_vocab else vocab_size
        body = rng.integers(len(SPECIALS), top, size=length - 3)
        cut = int(rng.integers(1, len(body)))
        blocks[row, :length] = [2, *body[:cut], 3, *body[cut:], 3]
    return blocks


def tiny_overrides(tmp_path, **extra) -> list[str]:
    base = {
        "run.name": "tiny", "run.output_dir": str(tmp_path / "runs"), "run.seed": 0,
        "model.layers": 2, "model.hidden": 32, "model.heads": 2, "model.ffn": 64, "model.embedding_size": 16,
        "model.gen_fraction": 0.5, "model.max_position": 64, "model.dropout": 0.1,
        "data.seq_len": 32, "train.batch_size": 8, "train.steps": 6, "train.device": "cpu",
        "train.precision": "fp32", "train.progress": False, "train.log_every": 1, "train.eval_every": 3,
        "train.eval_batches": 2, "train.checkpoint_every": 3, "optim.lr": 1e-3, "optim.warmup_steps": 2,
    }
    base.update(extra)
    return [f"{k}={'null' if v is None else v}" for k, v in base.items()]


@pytest.fixture
def tiny_cfg(tmp_path):
    def make(**extra):
        return load_config(None, tiny_overrides(tmp_path, **extra))
    return make
