"""A Trainer used as a library changes nothing process-wide: torch threads, the allocator and the
caller's random stream are as they were, and the run does not depend on the caller's stream."""
import torch

import electra_lab.train.device as device

from .conftest import make_trainer


def test_training_leaves_threads_allocator_and_the_callers_rng_alone(tiny_cfg, tiny_tokenizer, tmp_path, monkeypatch):
    def refuse():
        raise AssertionError("the allocator was tuned by a library call")
    monkeypatch.setattr(device, "tune_cpu_allocator", refuse)
    threads = torch.get_num_threads()
    torch.manual_seed(1234)
    caller_stream = torch.get_rng_state()
    trainer = make_trainer(tiny_cfg(**{"train.threads": threads + 1}), tiny_tokenizer, tmp_path / "run")
    trainer.fit()
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), caller_stream)


def test_the_run_is_the_same_whatever_the_callers_random_state(tiny_cfg, tiny_tokenizer, tmp_path):
    def losses(caller_seed, folder):
        torch.manual_seed(caller_seed)
        trainer = make_trainer(tiny_cfg(), tiny_tokenizer, tmp_path / folder)
        torch.rand(17)  # the caller draws between construction and training
        trainer.fit()
        return [r["train/loss"] for r in trainer.history if "train/loss" in r]
    assert losses(1, "a") == losses(2, "b")
