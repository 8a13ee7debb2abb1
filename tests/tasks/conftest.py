"""Fixtures for the downstream tests: offline hub flags, a private cache, a tiny saved ELECTRA."""
from __future__ import annotations

from pathlib import Path

import pytest

WORDS = "the a movie film plot acting good great fun bad dull awful is was very not and".split()


@pytest.fixture(autouse=True)
def offline_and_private_cache(monkeypatch, tmp_path):
    """No test may reach the network or the user's cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.fixture
def tiny_model_dir(tmp_path) -> Path:
    """A random ElectraForPreTraining (hidden 32, 2 layers) + a WordPiece tokenizer over a tiny
    vocabulary, saved as one folder the way the project exports models."""
    import torch
    from transformers import ElectraConfig, ElectraForPreTraining

    from electra_lab.data.tokenizer import wordpiece_from_vocab

    folder = tmp_path / "tiny_electra"
    folder.mkdir()
    tokenizer = wordpiece_from_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])
    assert tokenizer.unk_token_id not in tokenizer("the movie was good")["input_ids"]
    torch.manual_seed(0)
    config = ElectraConfig(
        vocab_size=len(tokenizer),
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    ElectraForPreTraining(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
