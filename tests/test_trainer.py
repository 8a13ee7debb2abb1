import math

import pytest
import torch

from electra_lab.train.checkpoint import CheckpointError, load_checkpoint
from electra_lab.train.trainer import TrainingDiverged

from .conftest import make_trainer


def losses(history):
    return [(r["step"], r["train/loss"]) for r in history if "train/loss" in r]


@pytest.mark.parametrize("strategy", ["joint", "mlm"])
def test_stop_and_resume_gives_identical_losses(tiny_cfg, tiny_tokenizer, tmp_path, strategy):
    cfg = tiny_cfg(**{"strategy.name": strategy, "train.checkpoint_every": 100})
    full = make_trainer(cfg, tiny_tokenizer, tmp_path / "full")
    full.fit()

    first = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    first.fit(max_steps=3)
    first.save()
    second = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    assert second.resume_if_possible() and second.step == 3
    second.fit()
    assert losses(second.history) == losses(full.history)
    assert second.flops == pytest.approx(full.flops) and second.tokens == full.tokens


def test_budget_in_flops_matches_the_mlm_and_electra_runs(tiny_cfg, tiny_tokenizer, tmp_path):
    electra = make_trainer(tiny_cfg(**{"train.steps": None, "train.flops": 2e10}), tiny_tokenizer, tmp_path / "e")
    mlm = make_trainer(tiny_cfg(**{"train.steps": None, "train.flops": 2e10, "strategy.name": "mlm"}),
                       tiny_tokenizer, tmp_path / "m")
    for t in (electra, mlm):
        per_step = t.budget.flops_per_step[0]
        assert 2e10 <= t.budget.total_flops < 2e10 + per_step
    assert mlm.budget.total_steps != electra.budget.total_steps  # equal FLOPs, different step counts


def test_learning_rate_schedule_is_official(tiny_cfg, tiny_tokenizer, tmp_path):
    cfg = tiny_cfg(**{"train.steps": 10, "optim.warmup_steps": 4, "optim.lr": 1.0})
    t = make_trainer(cfg, tiny_tokenizer, tmp_path / "r")
    lrs = []
    for _ in range(10):
        lrs.append(t.scheduler.get_last_lr()[0])
        t.optimizer.step()
        t.scheduler.step()
    expected = [(1 - s / 10) * min(1, s / 4) for s in range(10)]
    assert lrs == pytest.approx(expected)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tiny_cfg, tiny_tokenizer, tmp_path):
    cfg = tiny_cfg(**{"train.checkpoint_every": 2, "train.steps": 6, "train.log_every": 1})
    t = make_trainer(cfg, tiny_tokenizer, tmp_path / "nan")
    t.fit(max_steps=2)
    t.save()
    good = load_checkpoint(t.checkpoint_path)["step"]
    original = t.strategy.step

    def poisoned(models, batch, step):
        out = original(models, batch, step)
        out.loss = out.loss * float("nan")
        out.metrics["loss"] = (out.loss.detach(), torch.ones(()))
        return out

    t.strategy.step = poisoned
    t._compiled_step = poisoned
    with pytest.raises(TrainingDiverged, match="non-finite training loss"):
        t.fit()
    assert load_checkpoint(t.checkpoint_path)["step"] == good


def test_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)


def test_discriminator_learns_on_tiny_data(tiny_cfg, tiny_tokenizer, tmp_path):
    """When the text uses half the vocabulary, an untrained generator's samples are easy to spot
    (mlm_weight=0 keeps the generator untrained): precision and recall must rise well above zero;
    a discriminator stuck at the prior would be a bug in the RTD path."""
    cfg = tiny_cfg(**{"strategy.mlm_weight": 0.0, "train.steps": 150, "optim.lr": 1e-3, "optim.warmup_steps": 10,
                      "train.eval_every": 150, "train.log_every": 20, "model.dropout": 0.0})
    t = make_trainer(cfg, tiny_tokenizer, tmp_path / "learn", half_vocab=True)
    t.fit()
    final_eval = [r for r in t.history if "eval/disc_recall" in r][-1]
    assert final_eval["eval/disc_recall"] > 0.2
    assert final_eval["eval/disc_precision"] > 0.2
    assert 0.7 < final_eval["eval/disc_auc"] <= 1.0  # threshold-free: replaced rank above originals (0.5: chance)
    assert math.isfinite(final_eval["eval/gen_loss"])


def test_a_snapshot_records_its_flops_under_both_lookup_counts(tiny_cfg, tiny_tokenizer, tmp_path):
    import json

    cfg = tiny_cfg(**{"train.steps": 4, "train.snapshot_fractions": [0.5], "train.eval_every": 100})
    t = make_trainer(cfg, tiny_tokenizer, tmp_path / "snap")
    t.fit()
    folder = tmp_path / "snap" / "snapshots" / "frac_0.5000"
    flops, step = (folder / "pretrain_flops.txt").read_text().split()
    both = json.loads((folder / "pretrain_flops_by_lookup.json").read_text())
    assert int(step) == 2 and both["dense"] == pytest.approx(float(flops))  # the chosen count is the dense one
    assert 0 < both["sparse"] < both["dense"]
    assert t.budget.flops_at(t.step) == pytest.approx(t.budget.flops_by_lookup)
    assert both["dense"] == pytest.approx(t.budget.flops_by_lookup["dense"] / 2)  # half the steps, constant cost
