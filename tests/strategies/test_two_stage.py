"""Two-stage training: generator first, then a discriminator initialised from it with the generator frozen."""
import pytest
import torch

from electra_lab.config import ConfigError
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import from_config

from ..conftest import make_trainer
from .helpers import assert_updates, optimizer_step, setup

EQUAL = {"strategy.name": "two_stage", "model.gen_fraction": 1.0}


def test_unequal_sizes_are_refused_at_build(tiny_cfg, tiny_tokenizer):
    cfg = tiny_cfg(**{"strategy.name": "two_stage", "model.gen_fraction": 0.5})
    strategy = from_config(cfg, SpecialIds.of(tiny_tokenizer))
    with pytest.raises(ConfigError, match=r"same size.*model.gen_fraction=1.0"):
        strategy.build()


def test_tie_all_is_refused(tiny_cfg, tiny_tokenizer):
    strategy = from_config(tiny_cfg(**EQUAL, **{"model.sharing": "all"}), SpecialIds.of(tiny_tokenizer))
    with pytest.raises(ConfigError, match="frozen"):
        strategy.build()


def test_switch_step_and_phases(tiny_cfg, tiny_tokenizer):
    _, strategy, _, _ = setup(tiny_cfg, tiny_tokenizer, total_steps=10, **EQUAL, **{"strategy.switch_fraction": 0.3})
    assert [strategy.phase(s) for s in (0, 2, 3, 9)] == ["generator", "generator", "discriminator", "discriminator"]
    _, fixed, _, _ = setup(tiny_cfg, tiny_tokenizer, total_steps=10, **EQUAL, **{"strategy.switch_step": 7})
    # an explicit switch_step wins over the default switch_fraction (0.5 of 10 steps would switch at 5)
    assert fixed.switch_step == 7 and [fixed.phase(s) for s in (5, 6, 7)] == ["generator", "generator", "discriminator"]


@pytest.mark.parametrize("sharing", ["embeddings", "none", "gdes"])
def test_switch_copies_the_generator_then_trains_only_the_discriminator(tiny_cfg, tiny_tokenizer, sharing):
    # untied, the official generator embeds at its hidden size (32 != 16): keep the discriminator's width so it copies
    cfg, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, total_steps=10, **EQUAL,
                                         **{"strategy.switch_step": 1, "model.sharing": sharing,
                                            "model.untied_gen_embedding": "discriminator"})
    optimizer_step(cfg, strategy, models, batch, step=0)  # phase 1 moves the generator away from its init
    gen, disc = models["generator"].electra, models["discriminator"].electra
    assert not bool(models.switched)

    with torch.no_grad():
        strategy.step(models, batch, 1)  # the first phase-2 call performs the switch
    assert bool(models.switched)
    models.eval()  # no dropout: equal weights must give equal outputs
    with torch.no_grad():
        torch.testing.assert_close(disc(batch.input_ids).last_hidden_state, gen(batch.input_ids).last_hidden_state,
                                   rtol=0, atol=0)
    models.train()

    before = optimizer_step(cfg, strategy, models, batch, step=1)
    assert_updates(models, before, trained={"discriminator"}, frozen={"generator"})


def test_generator_gets_no_gradient_in_phase_two(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **EQUAL, **{"strategy.switch_step": 0})
    strategy.step(models, batch, 0).loss.backward()
    assert all(p.grad is None for p in models["generator"].parameters())
    assert all(p.grad is not None for p in models["discriminator"].parameters())


def test_without_init_the_discriminator_keeps_its_own_weights(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "two_stage",
                                       "strategy.switch_step": 0, "strategy.init_from_generator": False,
                                       "model.sharing": "none"})  # gen_fraction 0.5 is fine without the copy
    layer = "electra.encoder.layer.0.attention.self.query.weight"
    before = models["discriminator"].get_parameter(layer).detach().clone()
    with torch.no_grad():
        strategy.step(models, batch, 0)
    assert torch.equal(models["discriminator"].get_parameter(layer), before)


@pytest.mark.parametrize("restart, stop", [(False, 4), (True, 3), (True, 4)])
def test_resume_after_the_switch_does_not_copy_again(tiny_cfg, tiny_tokenizer, tmp_path, restart, stop):
    """Stop one step after the switch (or right at it, when the schedule restarts there) and resume:
    a second copy would overwrite the discriminator's first phase-2 update, and a restart missed or
    repeated would change the learning rates; either way the losses would differ."""
    cfg = tiny_cfg(**EQUAL, **{"train.steps": 6, "strategy.switch_step": 3, "train.checkpoint_every": 100,
                               "train.eval_every": 100, "model.dropout": 0.0, "strategy.restart_schedule": restart})
    full = make_trainer(cfg, tiny_tokenizer, tmp_path / "full")
    full.fit()

    first = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    first.fit(max_steps=stop)
    first.save()
    second = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    assert second.resume_if_possible() and bool(second.models.switched) == (stop > 3)
    second.fit()
    losses = lambda h: [(r["step"], r["phase"], r["train/loss"]) for r in h if "train/loss" in r]  # noqa: E731
    assert losses(second.history) == losses(full.history)
    assert [p for _, p, _ in losses(full.history)] == ["generator"] * 3 + ["discriminator"] * 3


@pytest.mark.parametrize("restart", [False, True])
def test_restart_schedule_warms_up_again_and_clears_the_optimiser(tiny_cfg, tiny_tokenizer, tmp_path, restart):
    """strategy.restart_schedule: the discriminator phase's learning rates repeat the generator
    phase's (equal lengths, one warmup rule), and the frozen generator's Adam moments are dropped."""
    cfg = tiny_cfg(**EQUAL, **{"train.steps": 8, "strategy.switch_step": 4, "train.log_every": 1,
                               "train.eval_every": 100, "train.checkpoint_every": 100, "optim.warmup_steps": 2,
                               "optim.warmup_fraction": None, "strategy.restart_schedule": restart})
    trainer = make_trainer(cfg, tiny_tokenizer, tmp_path / "run")
    trainer.fit()
    lr = [r["train/lr"] for r in trainer.history if "train/lr" in r]
    assert len(lr) == 8
    generator_params = {id(p) for p in trainer.models["generator"].parameters()}
    with_state = {id(p) for p in trainer.optimizer.state}
    if restart:
        # logged after each step's update, i.e. the next step's rate: step 4 warms up from zero again
        assert lr[4:] == pytest.approx(lr[:4]) and lr[3] == 0.0 < lr[4]
        assert not with_state & generator_params
    else:
        assert all(a > b for a, b in zip(lr[1:], lr[2:], strict=False))  # one decay after the 2-step warmup
        assert with_state & generator_params


@pytest.mark.parametrize("init_from_generator", [True, False])
def test_an_export_before_the_switch_holds_the_generator_the_switch_will_copy(tiny_cfg, tiny_tokenizer,
                                                                             init_from_generator):
    # before the switch the discriminator is untrained: a snapshot of it would be a random encoder
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, total_steps=10, **EQUAL,
                                       **{"strategy.switch_step": 1, "model.sharing": "none",
                                          "model.untied_gen_embedding": "discriminator",
                                          "strategy.init_from_generator": init_from_generator})
    before = strategy.export_models(models)["encoder"]
    assert before is (models["generator"] if init_from_generator else models["discriminator"])
    with torch.no_grad():
        strategy.step(models, batch, 1)  # the switch
    assert strategy.export_models(models)["encoder"] is models["discriminator"]
