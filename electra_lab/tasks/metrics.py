"""Downstream metrics, thin over scikit-learn and SciPy, named as GLUE names them.

Every metric takes (predictions, labels) and returns a float in the metric's natural range
(fractions, not percent). A correlation over constant predictions is undefined: we return 0.0
(no signal) rather than NaN so medians over seeds stay defined.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

ArrayLike = Sequence[float] | np.ndarray


def accuracy(predictions: ArrayLike, labels: ArrayLike) -> float:
    return float(skm.accuracy_score(labels, predictions))


def f1(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Binary F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    return float(skm.f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0.0))


def macro_f1(predictions: ArrayLike, labels: ArrayLike) -> float:
    return float(skm.f1_score(labels, predictions, average="macro", zero_division=0.0))


def matthews_corr(predictions: ArrayLike, labels: ArrayLike) -> float:
    """Matthews correlation (CoLA). sklearn already returns 0.0 when it is undefined."""
    return float(skm.matthews_corrcoef(labels, predictions))


def _defined(value: float) -> float:
    return 0.0 if math.isnan(value) else float(value)


def spearman(predictions: ArrayLike, labels: ArrayLike) -> float:
    if np.ptp(np.asarray(predictions, dtype=float)) == 0:
        return 0.0  # constant predictions: the correlation is undefined
    return _defined(stats.spearmanr(predictions, labels).statistic)


def pearson(predictions: ArrayLike, labels: ArrayLike) -> float:
    if np.ptp(np.asarray(predictions, dtype=float)) == 0:
        return 0.0
    return _defined(stats.pearsonr(predictions, labels).statistic)


METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "matthews_corr": matthews_corr,
    "spearman": spearman,
    "pearson": pearson,
}


def compute_metrics(names: Sequence[str], predictions: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; valid: {sorted(METRICS)}")
    return {name: METRICS[name](predictions, labels) for name in names}
