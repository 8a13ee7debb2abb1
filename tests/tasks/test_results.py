"""SuiteResult: the reported (test) score and its dev counterpart, which is what a search selects on."""
import pytest

from electra_lab.tasks.results import SeedResult, SuiteResult, TaskResult


def seed(task, seed, test, dev_by_epoch, best_epoch):
    return SeedResult(task=task, seed=seed, metric="accuracy", score=test, metrics={"accuracy": test},
                      report_split="test", dev_by_epoch=dev_by_epoch, best_epoch=best_epoch, train_examples=10,
                      seconds=0.0)


def test_dev_score_reads_each_seed_at_its_chosen_epoch_and_never_the_test_score():
    a = TaskResult("a", "accuracy", "test", runs=[seed("a", 0, 0.90, [0.50, 0.70, 0.60], 2),
                                                  seed("a", 1, 0.10, [0.40, 0.45], 1),
                                                  seed("a", 2, 0.50, [0.20, 0.30, 0.80], 3)])
    b = TaskResult("b", "accuracy", "test", runs=[seed("b", 0, 0.30, [0.60], 1)])
    suite = SuiteResult("offline", "m", False, {"a": a, "b": b})
    assert a.dev_scores == [0.70, 0.40, 0.80] and a.dev_median == pytest.approx(0.70)
    assert suite.dev_score == pytest.approx((0.70 + 0.60) / 2)
    assert suite.score == pytest.approx((0.50 + 0.30) / 2)  # test medians: a different number
