"""A mistake in a strategy option stops `electra-lab pretrain` at config load: in well under a
second, before any corpus, tokenizer or block is built."""
import time

import pytest

import electra_lab.train.pretrain as pretrain
from electra_lab import cli


@pytest.fixture
def no_data_work(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data work started before the config was checked")
    for name in ("build_corpus", "load_or_build_tokenizer", "pack_corpus", "prepare_data"):
        monkeypatch.setattr(pretrain, name, refuse)


@pytest.mark.parametrize("override, named", [
    ("strategy.disc_wieght=5", "strategy.disc_wieght"),
    ("strategy.disc_weight=heavy", "strategy.disc_weight"),
    ("strategy.switch_fraction=0.5", "strategy.switch_fraction"),  # a two-stage option on joint
])
def test_a_strategy_option_typo_fails_in_under_a_second(no_data_work, capsys, tmp_path, override, named):
    started = time.perf_counter()
    code = cli.main(["pretrain", "--no-tracking", "experiments/pretrain/tiny_electra.yaml", override,
                     f"run.output_dir={tmp_path}"])
    elapsed = time.perf_counter() - started
    assert code != 0 and named in capsys.readouterr().err
    assert elapsed < 1.0
    assert not (tmp_path / "tiny-electra").exists()  # nothing was written either
