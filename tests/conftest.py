"""Shared fixtures: a tiny tokenizer, tiny token blocks and a trainer on them, so core tests run in
seconds offline."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from electra_lab.experiment import load_config  # noqa: E402

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


def make_trainer(cfg, tokenizer, run_dir, half_vocab: bool = False):
    """The project's Trainer for `cfg` on random tiny blocks (train seed 1, valid seed 2, so two
    trainers built alike see the same data: what the stop-and-resume tests compare)."""
    # imported here: conftest is loaded by every test, most of which never build a trainer
    from electra_lab.data.masking import SpecialIds
    from electra_lab.strategies import from_config
    from electra_lab.train.trainer import Trainer

    ids = SpecialIds.of(tokenizer)
    train = make_blocks(64, cfg.data.seq_len, ids.vocab_size, seed=1, half_vocab=half_vocab)
    valid = make_blocks(16, cfg.data.seq_len, ids.vocab_size, seed=2, half_vocab=half_vocab)
    return Trainer(cfg, from_config(cfg, ids), ids, train, valid, run_dir, tokenizer)


def write_tiny_corpus(folder) -> Path:
    """Six small local text documents: a corpus, a WordPiece vocabulary of 128 and packed blocks in
    well under a second, with no download (data.sources=['local:<folder>'])."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    words = [f"w{i}" for i in range(40)]
    for doc in range(6):
        (folder / f"doc{doc}.txt").write_text("\n\n".join(
            " ".join(words[(doc * 7 + p * 3 + k) % 40] for k in range(30)) for p in range(12)))
    return folder


def tiny_run_overrides(corpus, output_dir, steps: int | None = 2, device: str = "cpu") -> list[str]:
    """Overrides that shrink any pretraining config to seconds: the local corpus above, a 1-layer
    model, `steps` steps (None: keep the file's budget), fp32 on CPU. The generator fraction and the
    strategy stay the config's (two-stage needs its 1.0)."""
    return [f"data.sources=['local:{corpus}']", "data.tokenizer=wordpiece", "data.vocab_size=128",
            "data.seq_len=32", "data.valid_fraction=0.2", "model.layers=1", "model.hidden=32", "model.heads=2",
            "model.ffn=64", "model.embedding_size=16", "model.max_position=64", "train.batch_size=4",
            *([f"train.steps={steps}"] if steps is not None else []), f"train.device={device}",
            f"train.precision={'fp32' if device == 'cpu' else 'auto'}", "train.progress=false", "train.threads=1",
            "train.eval_every=2", "train.eval_batches=1", "train.checkpoint_every=2", "train.snapshot_fractions=[]",
            f"run.output_dir={output_dir}"]
