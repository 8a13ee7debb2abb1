"""Held-out-only diagnostics: the generator's entropy (the paper's measure of an adversarial
generator's peaked output) is computed in evaluation (no grad) and skipped in training steps, and
a run's last held-out evaluation is what its summary and a study's cell keep."""
import math

import pytest
import torch

from electra_lab.strategies._common import mlm_metrics
from electra_lab.train.pretrain import final_heldout


def read(metric) -> float:
    total, count = metric
    return float(total) / float(count)


def test_entropy_is_log_v_for_uniform_logits_zero_for_a_certain_one_and_weighted_by_real_slots():
    vocab = 50
    logits = torch.zeros(1, 3, vocab)
    logits[0, 1, 7] = 1e4  # slot 1 is certain
    labels = torch.tensor([[7, 7, 7]])
    weights = torch.tensor([[1.0, 1.0, 0.0]])  # slot 2 is padding
    with torch.no_grad():
        metrics = mlm_metrics(logits, labels, weights, torch.tensor(1.0), "gen")
    assert read(metrics["gen_entropy"]) == pytest.approx(math.log(vocab) / 2, rel=1e-5)
    assert read(metrics["gen_acc"]) == pytest.approx(0.5)  # uniform logits pick token 0, the certain slot 7


def test_training_steps_do_not_pay_for_the_entropy():
    logits = torch.zeros(1, 2, 10, requires_grad=True)
    metrics = mlm_metrics(logits, torch.tensor([[1, 2]]), torch.ones(1, 2), torch.tensor(1.0), "gen")
    assert set(metrics) == {"gen_loss", "gen_acc"}


def test_final_heldout_is_the_last_eval_row_without_its_prefix():
    history = [{"step": 2, "eval/gen_acc": 0.1, "flops": 1.0}, {"step": 3, "train/loss": 5.0},
               {"step": 4, "eval/gen_acc": 0.3, "eval/disc_auc": 0.6, "flops": 2.0}, {"step": 4, "train/loss": 4.0}]
    assert final_heldout(history) == {"step": 4, "gen_acc": 0.3, "disc_auc": 0.6}
    assert final_heldout([{"step": 1, "train/loss": 1.0}]) == {}
