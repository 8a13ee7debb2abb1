"""A random-init tiny ELECTRA encoder folder for the fine-tuning cost benchmark.

The demo's shape (experiments/pretrain/tiny_electra.yaml: 4 layers, hidden 128, WordPiece of
8,192 trained on real text) with untrained weights. Fine-tuning cost depends on the shape, the
vocabulary size and the token lengths, not on the weights' values, so a random encoder measures
cost as well as a pretrained one (its scores are near chance, which is fine for a cost benchmark).
"""
from __future__ import annotations

from pathlib import Path

TINY_CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "pretrain" / "tiny_electra.yaml"
MARKER = "bench_tiny_encoder.txt"


def tiny_encoder_dir(folder: Path, sources: tuple[str, ...] = ("austen",), seed: int = 0) -> Path:
    """Build (or reuse) `folder` holding a random ElectraForPreTraining of the tiny shape and its
    tokenizer. The WordPiece is trained on the project's corpus of `sources` (Austen: one cached
    Debian package), so token lengths are those of a real tokenizer of that size."""
    import torch

    from electra_lab.data.tokenizer import load_or_build_tokenizer
    from electra_lab.experiment import load_config
    from electra_lab.models.build import build_discriminator
    from electra_lab.train.pretrain import config_corpus

    folder = Path(folder)
    if (folder / MARKER).is_file() and (folder / "config.json").is_file():
        return folder
    cfg = load_config(TINY_CONFIG, [f"data.sources={list(sources)}"])
    corpus = config_corpus(cfg)
    tokenizer, key = load_or_build_tokenizer(cfg.data.tokenizer, cfg.data.vocab_size, corpus.train_path)
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        model = build_discriminator(cfg.model, len(tokenizer), tokenizer.pad_token_id or 0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / MARKER).write_text(f"random-init tiny ELECTRA ({TINY_CONFIG.name}), tokenizer {key}, seed {seed}\n")
    return folder
