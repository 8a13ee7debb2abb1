import json
from pathlib import Path

import pytest

from electra_lab.cli import main
from electra_lab.config import load_config
from electra_lab.train.budget import config_flops

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.parametrize("config, official", [
    ("pretrain/electra_small.yaml", 1.29e18),  # official flops_computation.py: ELECTRA-Small
    ("pretrain/bert_small.yaml", 1.42e18),  # official: BERT-Small (1.45M steps)
])
def test_config_flops_match_the_official_script(config, official):
    got = config_flops(load_config(EXPERIMENTS / config))["pretrain_flops"]
    assert abs(got - official) / official < 0.005


def test_flops_command_prints_json(capsys):
    assert main(["flops", str(EXPERIMENTS / "pretrain/electra_small.yaml"), "train.steps=1000"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 1000 and out["generator"]["hidden"] == 64
    assert out["pretrain_flops"] == pytest.approx(1.29e15, rel=0.005)


def test_flops_paper_table(capsys):
    assert main(["flops", "--paper"]) == 0
    out = capsys.readouterr().out
    assert "ELECTRA-Small" in out and "1.29e18" in out and "3.11e21" in out


def test_bad_config_key_is_a_one_line_error(capsys):
    code = main(["flops", str(EXPERIMENTS / "pretrain/tiny_electra.yaml"), "model.hiden=3"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "model.hiden" in err


def test_missing_config_file_is_named(capsys):
    assert main(["pretrain", "does/not/exist.yaml"]) == 2
    assert "does/not/exist.yaml" in capsys.readouterr().err


def test_every_pretrain_config_resolves():
    for path in sorted((EXPERIMENTS / "pretrain").glob("*.yaml")):
        info = config_flops(load_config(path))
        assert info["steps"] > 0 and info["pretrain_flops"] > 0, path


def test_scale_search_with_a_bad_spec_is_a_one_line_error(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("variants: []\nfinetune: {tasks: [movie_polarity], train_sizes: [10]}\nfloor_from: nobody\n")
    assert main(["scale-search", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "floor_from 'nobody'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing started


def test_check_overlap_fails_on_a_planted_evaluation_text(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    leaked = "the quiet harbour town woke to bells ringing across the grey water every single morning"
    docs = tmp_path / "texts"
    docs.mkdir()
    for i in range(6):  # several documents so the corpus has a train and a validation part
        (docs / f"d{i}.txt").write_text(f"Document {i} talks about gardens and rivers and hills.\n\n" * 3)
    (docs / "d2.txt").write_text(f"Once upon a time. {leaked.capitalize()}. The end.\n")
    monkeypatch.setattr("electra_lab.tasks.overlap.evaluation_texts", lambda tasks, **kw: [leaked, "short one"])
    config = str(EXPERIMENTS / "pretrain/tiny_electra.yaml")
    assert main(["check-overlap", config, f"data.sources=[local:{docs}]", "--tasks", "movie_polarity"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["overlaps"] == 1 and "harbour town" in report["examples"][0]
    (docs / "d2.txt").write_text("Once upon a time. The end.\n")
    assert main(["check-overlap", config, f"data.sources=[local:{docs}]", "--tasks", "movie_polarity"]) == 0
