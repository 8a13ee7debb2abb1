"""The on-disk cache of tokenised offline tasks (tasks/token_cache.py): identical encodings from a
warm entry without loading the task, a new entry for a new key, and a rebuild of a corrupt one."""
import logging

import pytest
import torch

from electra_lab.tasks import registry, token_cache
from electra_lab.tasks.base import Example, SplitCaps, Task
from electra_lab.tasks.finetune import FinetuneOptions, load_tokenizer, prepare_task

from .test_finetune import fixture_sentences


@pytest.fixture
def offline_task(monkeypatch):
    """A registered offline task whose loader counts its calls."""
    calls = []

    def load(options):
        calls.append(options)
        make = lambda n, s: [Example(t, None, y) for t, y in fixture_sentences(n, s)]  # noqa: E731
        return {"train": make(40, 0), "dev": make(12, 1), "test": make(12, 2)}

    task = Task("cached_fixture", "accuracy", 2, False, loader=load, default_caps=SplitCaps(100, 20, 20))
    monkeypatch.setitem(registry.TASKS, task.name, task)
    return task, calls


def encodings(prepared):
    return {name: (data.input_ids, data.token_type_ids, data.labels.tolist())
            for name, data in (("train", prepared.train), ("dev", prepared.dev), ("test", prepared.test))}


def test_a_warm_entry_returns_identical_encodings_without_loading(offline_task, tiny_model_dir):
    task, calls = offline_task
    tokenizer = load_tokenizer(tiny_model_dir)
    cold = prepare_task(task, tokenizer, FinetuneOptions(), None, tokenizer_dir=tiny_model_dir)
    warm = prepare_task(task, tokenizer, FinetuneOptions(), None, tokenizer_dir=tiny_model_dir)
    assert len(calls) == 1 and encodings(warm) == encodings(cold)
    assert warm.train.labels.dtype == torch.long and warm.epochs == cold.epochs
    uncached = prepare_task(task, tokenizer, FinetuneOptions(task_cache=False), None, tokenizer_dir=tiny_model_dir)
    assert len(calls) == 2 and encodings(uncached) == encodings(cold)


def test_the_key_follows_max_length_caps_and_tokenizer(offline_task, tiny_model_dir, tmp_path):
    import shutil

    task, _ = offline_task
    key = token_cache.entry_key(task, tiny_model_dir, SplitCaps(100, 20, 20), 128)
    assert key == token_cache.entry_key(task, tiny_model_dir, SplitCaps(100, 20, 20), 128)
    assert key != token_cache.entry_key(task, tiny_model_dir, SplitCaps(100, 20, 20), 64)
    assert key != token_cache.entry_key(task, tiny_model_dir, SplitCaps(50, 20, 20), 128)
    other = tmp_path / "other_tokenizer"
    shutil.copytree(tiny_model_dir, other)
    assert key == token_cache.entry_key(task, other, SplitCaps(100, 20, 20), 128)  # same files, same key
    (other / "tokenizer.json").write_text((other / "tokenizer.json").read_text().replace('"movie"', '"mov1e"'))
    assert key != token_cache.entry_key(task, other, SplitCaps(100, 20, 20), 128)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "inconsistent"])
def test_a_corrupt_entry_is_rebuilt(offline_task, tiny_model_dir, caplog, damage):
    import numpy as np

    task, calls = offline_task
    tokenizer = load_tokenizer(tiny_model_dir)
    first = prepare_task(task, tokenizer, FinetuneOptions(), None, tokenizer_dir=tiny_model_dir)
    path = token_cache.entry_path(task, token_cache.entry_key(task, tiny_model_dir, task.default_caps, 128))
    if damage == "garbage":
        path.write_bytes(b"not an npz")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a readable file whose offsets do not match its ids
        with np.load(path) as arrays:
            parts = dict(arrays)
        parts["train.offsets"] = parts["train.offsets"][:-1]
        np.savez(path, **parts)
    with caplog.at_level(logging.WARNING, logger="electra_lab.tasks.token_cache"):
        rebuilt = prepare_task(task, tokenizer, FinetuneOptions(), None, tokenizer_dir=tiny_model_dir)
    assert len(calls) == 2 and "rebuilding" in caplog.text
    assert encodings(rebuilt) == encodings(first)
    token_cache.read_entry(path)  # rewritten whole
    prepare_task(task, tokenizer, FinetuneOptions(), None, tokenizer_dir=tiny_model_dir)
    assert len(calls) == 2


def test_only_registered_offline_tasks_are_cached(offline_task):
    from .test_finetune import sentiment_task

    task, _ = offline_task
    assert token_cache.cacheable(task)
    assert not token_cache.cacheable(sentiment_task())  # not the registry's object
    assert not token_cache.cacheable(registry.get_task("sst2"))  # GLUE: its data are not pinned
