"""After one step of the real optimiser, exactly the models a strategy trains have moved."""
import pytest

from electra_lab.strategies import available

from .helpers import assert_updates, optimizer_step, setup

TRAINED = {
    "joint": {"generator", "discriminator"},
    "mlm": {"mlm"},
    "electra_15": {"generator", "discriminator"},
    "replace_mlm": {"generator", "mlm"},
    "all_tokens_mlm": {"generator", "mlm", "copy_head"},
    "adversarial": {"generator", "discriminator", "baseline"},
    "unigram_generator": {"discriminator"},
    "two_stage": {"generator"},  # phase 1 (step 0): the generator alone; the frozen test below checks D
}
NEEDS = {"two_stage": {"model.gen_fraction": 1.0}}


@pytest.mark.parametrize("name", available())  # a new strategy fails here until TRAINED names its models
def test_one_step_moves_every_trained_weight(tiny_cfg, tiny_tokenizer, name):
    assert name in TRAINED, f"add strategy {name!r} to TRAINED: which models does one step train?"
    cfg, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": name, **NEEDS.get(name, {})})
    before = optimizer_step(cfg, strategy, models, batch)
    assert_updates(models, before, trained=TRAINED[name], frozen=set(models) - TRAINED[name])


@pytest.mark.parametrize("name, frozen, step", [
    ("two_stage", {"discriminator"}, 0),  # phase 1: the generator alone
])
def test_one_step_leaves_frozen_models_alone(tiny_cfg, tiny_tokenizer, name, frozen, step):
    cfg, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": name, "model.gen_fraction": 1.0})
    before = optimizer_step(cfg, strategy, models, batch, step)
    assert_updates(models, before, trained={"generator"}, frozen=frozen)
