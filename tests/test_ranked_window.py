"""Evaluation's ROC AUC over the RTD head: exact over every held-out batch, masked positions out."""
import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from electra_lab.strategies._base import Ranked
from electra_lab.train.trainer import RankedWindow


def test_auc_is_computed_over_all_batches_together_and_ignores_masked_positions():
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.randn(4, 16, generator=g), (torch.rand(4, 16, generator=g) < 0.3).float()
    scores = scores + 1.5 * labels  # replaced tokens score higher, with overlap
    mask = torch.ones(4, 16)
    mask[:, -3:] = 0  # padding: a perfect score there must not count
    scores[:, -3:], labels[:, -3:] = 100.0, 0.0
    window = RankedWindow()
    for b in range(0, 4, 2):  # two evaluation batches
        window.add({"disc_auc": Ranked(scores[b:b + 2], labels[b:b + 2], mask[b:b + 2])})
    keep = mask.bool()
    expected = roc_auc_score(labels[keep].numpy(), scores[keep].numpy())
    assert window.read()["disc_auc"] == pytest.approx(expected, abs=1e-12)
    assert 0.6 < expected < 0.99  # neither trivial nor perfect: a per-batch mean would differ
    assert window.read() == {}  # read empties the window


def test_one_class_only_gives_nan():
    window = RankedWindow()
    window.add({"disc_auc": Ranked(torch.randn(2, 4), torch.zeros(2, 4), torch.ones(2, 4))})
    assert math.isnan(window.read()["disc_auc"])


def test_rarity_control_ranks_by_unigram_rarity_in_evaluation_only():
    """rarity_auc scores each token by -log p_unigram: where the replaced tokens are the rare ones it
    is 1; in training (grad enabled) or without counts it is not computed."""
    from electra_lab.strategies._common import rtd_ranking

    counts = torch.tensor([0.0, 0.0, 0.0, 0.0, 100.0, 80.0, 3.0, 1.0])  # ids 4-5 frequent, 6-7 rare
    ctx = type("Ctx", (), {"unigram_counts": staticmethod(lambda: counts)})()
    corrupted = torch.tensor([[4, 6, 5, 7, 4, 5]])
    replaced = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]])  # exactly the rare ones
    mask = torch.ones(1, 6)
    logits = torch.zeros(1, 6)
    with torch.no_grad():
        ranked = rtd_ranking(logits, replaced, mask, corrupted, ctx)
    window = RankedWindow()
    window.add(ranked)
    assert window.read()["rarity_auc"] == pytest.approx(1.0)
    swapped = torch.tensor([[6, 4, 7, 5, 6, 7]])  # now the replaced ones are frequent
    with torch.no_grad():
        window.add(rtd_ranking(logits, replaced, mask, swapped, ctx))
    assert window.read()["rarity_auc"] == pytest.approx(0.0)
    assert "rarity_auc" not in rtd_ranking(logits, replaced, mask, corrupted, ctx)  # grad enabled: training
    assert "rarity_auc" not in rtd_ranking(logits, replaced, mask)
