import pytest

from electra_lab.config import ConfigError
from electra_lab.experiment import load_config
from electra_lab.strategies import available


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.hiden'"):
        load_config(None, ["train.steps=1", "model.hiden=3"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"'train\.batch_size' must be int"):
        load_config(None, ["train.steps=1", "train.batch_size=big"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_impossible_size_is_named():
    with pytest.raises(ConfigError, match=r"model\.hidden \(100\) must be divisible by model\.heads \(3\)"):
        load_config(None, ["train.steps=1", "model.hidden=100", "model.heads=3"])


def test_budget_must_be_exactly_one():
    with pytest.raises(ConfigError, match="exactly one budget"):
        load_config(None, ["train.steps=1", "train.tokens=100"])


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown strategy.name 'gan'.*joint.*mlm"):
        load_config(None, ["train.steps=1", "strategy.name=gan"])


def test_unknown_strategy_option_is_named_at_load():
    with pytest.raises(ConfigError, match=r"unknown config key 'strategy\.lambda'.*'joint' does not use it"):
        load_config(None, ["train.steps=1", "strategy.lambda=3"])


def test_an_option_of_another_strategy_is_refused():
    # mlm has no discriminator: a joint option there would silently do nothing
    with pytest.raises(ConfigError, match=r"'strategy\.disc_weight'.*'mlm' does not use it"):
        load_config(None, ["train.steps=1", "strategy.name=mlm", "strategy.disc_weight=5"])


def test_wrong_type_of_a_strategy_option_is_named():
    with pytest.raises(ConfigError, match=r"'strategy\.disc_weight' must be float"):
        load_config(None, ["train.steps=1", "strategy.disc_weight=heavy"])
    with pytest.raises(ConfigError, match=r"strategy\.switch_fraction must be in \[0, 1\]"):
        load_config(None, ["train.steps=1", "strategy.name=two_stage", "strategy.switch_fraction=2"])


def test_strategy_options_are_typed():
    cfg = load_config(None, ["train.steps=1", "strategy.name=electra_15", "strategy.disc_weight=7"])
    assert (cfg.strategy.name, cfg.strategy.disc_weight, cfg.strategy.temperature) == ("electra_15", 7.0, 1.0)


def test_a_bare_strategy_name_replaces_the_whole_section(tmp_path):
    (tmp_path / "joint.yaml").write_text("strategy: {name: joint, disc_weight: 5}\ntrain: {steps: 3}\n")
    cfg = load_config(tmp_path / "joint.yaml", ["strategy=two_stage", "model.gen_fraction=1.0"])
    assert cfg.strategy.name == "two_stage" and cfg.strategy.disc_weight == 50.0  # two-stage's default
    with pytest.raises(ConfigError, match="strategy=NAME replaces the whole strategy section"):
        load_config(tmp_path / "joint.yaml", ["strategy.name=mlm"])  # keeps disc_weight: 5


def test_a_budget_override_replaces_the_file_budget(tmp_path):
    (tmp_path / "run.yaml").write_text("train: {flops: 7.5e13, batch_size: 4}\n")
    cfg = load_config(tmp_path / "run.yaml", ["train.steps=500"])
    assert (cfg.train.steps, cfg.train.flops, cfg.train.batch_size) == (500, None, 4)
    cfg = load_config(tmp_path / "run.yaml", ["train.tokens=1000"])
    assert (cfg.train.tokens, cfg.train.flops) == (1000, None)
    assert load_config(tmp_path / "run.yaml").train.flops == 7.5e13
    with pytest.raises(ConfigError, match="exactly one budget"):  # two budgets given on purpose still fail
        load_config(tmp_path / "run.yaml", ["train.steps=5", "train.tokens=100"])


def test_inherit_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("model: {hidden: 64, heads: 2}\ntrain: {steps: 5}\n")
    (tmp_path / "child.yaml").write_text("inherit: base.yaml\nmodel: {layers: 3}\n")
    cfg = load_config(tmp_path / "child.yaml", ["optim.lr=1e-3", "train.flops=null", "train.steps=7"])
    assert (cfg.model.hidden, cfg.model.layers, cfg.optim.lr, cfg.train.steps) == (64, 3, 1e-3, 7)


def test_every_strategy_module_is_discoverable():
    assert {"joint", "mlm"} <= set(available())
