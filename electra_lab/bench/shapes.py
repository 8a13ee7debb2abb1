"""What the speed benchmark runs on: model sizes, the run config, and synthetic token blocks.

The blocks are random word ids in the packer's layout ([CLS] A [SEP] B [SEP], a few rows shorter
and padded), with the BERT uncased special ids and each size's vocabulary: BERT's 30,522 for the
paper's sizes, the tiny recipe's 8,192-token WordPiece for tiny (the generator's head over the
vocabulary is a large share of a tiny step, so the benchmark measures the shape the studies run).
Speed does not depend on which words appear, so random text measures the same work as real text
without any data on disk.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from electra_lab.config import Config, ConfigError
from electra_lab.data.masking import SpecialIds
from electra_lab.experiment import load_config

# The paper's sizes (experiments/models/*.yaml) plus the CPU demo's tiny model; batch is the
# benchmark's default per step (the paper's 128 / 256 do not fit a quick CPU measurement).
SIZES: dict[str, dict] = {
    "tiny": {"model": {"layers": 4, "hidden": 128, "heads": 2, "ffn": 512, "embedding_size": 128,
                       "gen_fraction": 0.25}, "seq_len": 128, "batch_size": 32, "vocab_size": 8192},
    "small": {"model": {"layers": 12, "hidden": 256, "heads": 4, "ffn": 1024, "embedding_size": 128,
                        "gen_fraction": 0.25}, "seq_len": 128, "batch_size": 32, "vocab_size": 30522},
    "base": {"model": {"layers": 12, "hidden": 768, "heads": 12, "ffn": 3072, "embedding_size": 768,
                       "gen_fraction": 1 / 3}, "seq_len": 512, "batch_size": 8, "vocab_size": 30522},
}

# BERT uncased WordPiece ids; the first 999 ids are [PAD], [unusedN], [UNK], [CLS], [SEP], [MASK].
BERT_IDS = SpecialIds(pad=0, cls=101, sep=102, mask=103, unk=100, vocab_size=30522)
FIRST_WORD_ID = 999


def bench_config(size: str, device: str, precision: str, batch_size: int | None = None,
                 seq_len: int | None = None, total_steps: int = 100, compile: bool = False,
                 threads: int | None = None, packed_dropout: bool = True) -> Config:
    """The joint-ELECTRA pretraining config the benchmark trains (official optimiser, lambda = 50)."""
    if size not in SIZES:
        raise ConfigError(f"unknown size {size!r} (valid: {', '.join(SIZES)})")
    spec = SIZES[size]
    seq_len = seq_len or spec["seq_len"]
    overrides = {f"model.{k}": v for k, v in spec["model"].items()}
    overrides.update({
        "model.max_position": max(512, seq_len), "data.seq_len": seq_len, "data.vocab_size": spec["vocab_size"],
        "train.batch_size": batch_size or spec["batch_size"], "train.steps": total_steps,
        "train.device": device, "train.precision": precision, "train.compile": compile,
        "train.threads": threads, "train.progress": False, "train.packed_dropout": packed_dropout,
        "strategy.name": "joint", "strategy.disc_weight": 50.0, "run.name": f"bench-{size}",
    })
    return load_config(None, [f"{k}={'null' if v is None else v}" for k, v in overrides.items()])


def bench_ids(cfg: Config) -> SpecialIds:
    """BERT's special ids with the config's vocabulary size (every special id is below 999)."""
    return dataclasses.replace(BERT_IDS, vocab_size=cfg.data.vocab_size)


def random_blocks(n: int, seq_len: int, ids: SpecialIds = BERT_IDS, seed: int = 0,
                  short_prob: float = 0.05) -> np.ndarray:
    """[n, seq_len] uint16 blocks: [CLS] A [SEP] B [SEP] with random word ids; short_prob of the rows
    end early and are padded (like the packer's random shorter targets)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(FIRST_WORD_ID, ids.vocab_size, size=(n, seq_len)).astype(np.uint16)
    lengths = np.where(rng.random(n) < short_prob, rng.integers(5, seq_len + 1, size=n), seq_len)
    for row, length in enumerate(lengths):
        cut = int(rng.integers(2, length - 2)) if length > 4 else 2
        blocks[row, 0] = ids.cls
        blocks[row, cut] = ids.sep
        blocks[row, length - 1] = ids.sep
        blocks[row, length:] = ids.pad
    return blocks
