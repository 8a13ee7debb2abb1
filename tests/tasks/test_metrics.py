import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from electra_lab.tasks.metrics import METRICS, accuracy, compute_metrics, f1, matthews_corr, pearson, spearman

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 2, size=50)
PREDS = np.where(RNG.random(50) < 0.7, LABELS, 1 - LABELS)
SCORES = RNG.normal(size=40)
NOISY = SCORES + RNG.normal(scale=0.5, size=40)


def test_classification_metrics_agree_with_sklearn():
    assert accuracy(PREDS, LABELS) == pytest.approx(skm.accuracy_score(LABELS, PREDS))
    assert f1(PREDS, LABELS) == pytest.approx(skm.f1_score(LABELS, PREDS))
    assert matthews_corr(PREDS, LABELS) == pytest.approx(skm.matthews_corrcoef(LABELS, PREDS))


def test_correlations_agree_with_scipy():
    assert spearman(NOISY, SCORES) == pytest.approx(stats.spearmanr(NOISY, SCORES).statistic)
    assert pearson(NOISY, SCORES) == pytest.approx(stats.pearsonr(NOISY, SCORES).statistic)


def test_hand_computed_values():
    assert accuracy([1, 0, 1, 1], [1, 0, 0, 1]) == 0.75
    assert f1([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    assert matthews_corr([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert matthews_corr([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)


def test_degenerate_predictions_give_zero_not_nan():
    assert spearman([0.5] * 5, [1, 2, 3, 4, 5]) == 0.0
    assert pearson([0.5] * 5, [1, 2, 3, 4, 5]) == 0.0
    assert matthews_corr([1] * 6, [0, 1, 0, 1, 0, 1]) == 0.0  # majority-class collapse


def test_compute_metrics_names_and_unknown():
    out = compute_metrics(["accuracy", "f1"], PREDS, LABELS)
    assert set(out) == {"accuracy", "f1"}
    with pytest.raises(KeyError, match="valid"):
        compute_metrics(["bleu"], PREDS, LABELS)
    assert {"accuracy", "f1", "matthews_corr", "spearman", "pearson"} <= set(METRICS)
