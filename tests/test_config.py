import pytest

from electra_lab.config import ConfigError, load_config
from electra_lab.strategies import available
from electra_lab.train.pretrain import make_strategy
from electra_lab.data.masking import SpecialIds

IDS = SpecialIds(pad=0, cls=2, sep=3, mask=4, unk=1, vocab_size=100)


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
    cfg = load_config(None, ["train.steps=1", "strategy.name=gan"])
    with pytest.raises(ConfigError, match="unknown strategy.name 'gan'.*joint.*mlm"):
        make_strategy(cfg, IDS)


def test_unknown_strategy_option_is_named():
    cfg = load_config(None, ["train.steps=1", "strategy.lambda=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'strategy\.lambda'"):
        make_strategy(cfg, IDS)


def test_inherit_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("model: {hidden: 64, heads: 2}\ntrain: {steps: 5}\n")
    (tmp_path / "child.yaml").write_text("inherit: base.yaml\nmodel: {layers: 3}\n")
    cfg = load_config(tmp_path / "child.yaml", ["optim.lr=1e-3", "train.flops=null", "train.steps=7"])
    assert (cfg.model.hidden, cfg.model.layers, cfg.optim.lr, cfg.train.steps) == (64, 3, 1e-3, 7)


def test_every_strategy_module_is_discoverable():
    assert {"joint", "mlm"} <= set(available())
