"""scripts/rtd_context.py: the word-order diagnostic of results/headline (does a discriminator, or a
masked-LM model, use the order of its context?)."""
import importlib.util
from pathlib import Path

import pytest
import torch

from electra_lab.experiment import load_config
from electra_lab.train.pretrain import run_pretraining
from tests.conftest import tiny_run_overrides, write_tiny_corpus

REPO = Path(__file__).resolve().parents[1]

spec = importlib.util.spec_from_file_location("rtd_context", REPO / "scripts" / "rtd_context.py")
rtd_context = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rtd_context)


def test_shuffling_permutes_within_each_segment_and_keeps_labels_with_their_tokens():
    ids = torch.tensor([[1, 10, 11, 12, 13, 2, 20, 21, 22, 2, 0, 0]])
    types = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]])
    labels = (ids % 2).float()  # a label tied to each token's identity
    keep = (ids > 2)
    shuffled, moved = rtd_context.shuffle_within_segments(ids, labels, types, keep, torch.Generator().manual_seed(3))
    assert shuffled[0, [0, 5, 9, 10, 11]].tolist() == [1, 2, 2, 0, 0]  # specials and padding stay put
    assert sorted(shuffled[0, 1:5].tolist()) == [10, 11, 12, 13] and sorted(shuffled[0, 6:9].tolist()) == [20, 21, 22]
    assert shuffled.tolist() != ids.tolist()  # this seed does move tokens
    assert torch.equal(moved, (shuffled % 2).float())  # each label travelled with its token


@pytest.mark.parametrize("strategy", ["joint", "mlm"])
def test_a_run_is_measured_with_full_shuffled_and_isolated_context(tmp_path, monkeypatch, strategy):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    corpus = write_tiny_corpus(tmp_path / "corpus")
    extra = ["strategy=mlm", "masking.style=bert"] if strategy == "mlm" else []
    cfg = load_config(None, [*tiny_run_overrides(corpus, tmp_path / "runs", steps=4), "train.snapshot_fractions=[0.5]",
                             "run.name=r", *extra])
    run_pretraining(cfg, tracking=False)
    rows = rtd_context.measure_run(tmp_path / "runs" / "r", batches=2, snapshots=True)
    assert [r["weights"] for r in rows] == ["final", "frac_0.5000"] and rows[1]["step"] == 2
    for row in rows:
        assert 0.0 <= row["mlm_acc_full"] <= 1.0 and row["masked_slots"] > 0
        if strategy == "joint":
            assert all(0.0 <= row[f"auc_{k}"] <= 1.0 for k in ("full", "shuffled", "isolated", "rarity"))
        else:
            assert "auc_full" not in row
    if strategy == "joint":  # the snapshot's weights were loaded: the two rows are different models
        assert rows[0]["auc_full"] != rows[1]["auc_full"] or rows[0]["mlm_acc_full"] != rows[1]["mlm_acc_full"]
