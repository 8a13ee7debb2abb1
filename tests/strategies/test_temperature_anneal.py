"""strategy.temperature_end: the generator's sampling temperature falls linearly over the run
(Fast-ELECTRA's annealing), and the samples are drawn at that step's temperature."""
import pytest

from electra_lab.config import ConfigError
from electra_lab.strategies import _common as common

from .helpers import setup


def test_the_temperature_falls_linearly_and_sampling_uses_it(tiny_cfg, tiny_tokenizer, monkeypatch):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, total_steps=11,
                                       **{"strategy.temperature": 2.0, "strategy.temperature_end": 1.0})
    assert [strategy.temperature(s) for s in (0, 5, 10)] == pytest.approx([2.0, 1.5, 1.0])
    used = []
    real = common.corrupt_with_generator
    monkeypatch.setattr(common, "corrupt_with_generator", lambda m, b, c, t, d: used.append(t) or real(m, b, c, t, d))
    for step in (0, 5, 10):
        strategy.step(models, batch, step)
    assert used == pytest.approx([2.0, 1.5, 1.0])


def test_without_an_end_the_temperature_stays(tiny_cfg, tiny_tokenizer):
    _, strategy, _, _ = setup(tiny_cfg, tiny_tokenizer, total_steps=11, **{"strategy.temperature": 2.0})
    assert {strategy.temperature(s) for s in range(11)} == {2.0}


def test_a_temperature_must_be_positive(tiny_cfg):
    with pytest.raises(ConfigError, match="temperature_end must be > 0"):
        tiny_cfg(**{"strategy.temperature_end": 0.0})
