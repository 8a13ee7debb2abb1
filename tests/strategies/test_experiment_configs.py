"""Every strategy experiment (and every pretraining config) runs end to end on a tiny model:
the YAML as written, shrunk by the tiny overrides, 2 trainer steps on random blocks, then export."""
import math
from pathlib import Path

import pytest
from transformers import ElectraModel

from electra_lab.config import ModelConfig, load_yaml_tree
from electra_lab.data.masking import SpecialIds
from electra_lab.data.unigram import unigram_counter
from electra_lab.experiment import load_config
from electra_lab.strategies import from_config
from electra_lab.train.trainer import Trainer

from ..conftest import make_blocks, tiny_overrides

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
CONFIGS = sorted((EXPERIMENTS / "strategies").glob("*.yaml")) + sorted((EXPERIMENTS / "pretrain").glob("*.yaml"))


def test_there_is_a_config_for_every_strategy():
    from electra_lab.strategies import available

    named = {load_yaml_tree(p).get("strategy", {}).get("name") for p in CONFIGS}
    assert set(available()) <= named


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_runs_two_steps_and_exports(path, tiny_tokenizer, tmp_path):
    model = load_yaml_tree(path).get("model", {})
    # keep the experiment's generator fraction (two-stage and tie-all need 1.0); shrink everything else
    shrink = tiny_overrides(tmp_path, **{
        "model.gen_fraction": model.get("gen_fraction", ModelConfig.gen_fraction),
        "train.steps": 2, "train.flops": None, "train.tokens": None, "train.eval_every": 2, "train.eval_batches": 1,
        "train.checkpoint_every": 100, "train.threads": 1,
    })
    cfg = load_config(path, shrink)
    ids = SpecialIds.of(tiny_tokenizer)
    train = make_blocks(16, cfg.data.seq_len, ids.vocab_size, seed=1)
    valid = make_blocks(8, cfg.data.seq_len, ids.vocab_size, seed=2)
    strategy = from_config(cfg, ids, unigram_counter(train, ids.vocab_size))
    trainer = Trainer(cfg, strategy, ids, train, valid, tmp_path / "run", tiny_tokenizer)
    trainer.fit()

    losses = [r[k] for r in trainer.history for k in ("train/loss", "eval/loss") if k in r]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses)
    assert trainer.step == 2 and trainer.flops > 0
    folders = trainer.export(tmp_path / "export")
    encoder = ElectraModel.from_pretrained(folders["encoder"])
    assert encoder.config.hidden_size == cfg.model.hidden
