import json
from pathlib import Path

import pytest

from electra_lab.cli import main
from electra_lab.experiment import load_config
from electra_lab.train.config_flops import config_flops

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


def test_every_pretrain_config_spends_its_budget():
    """Each shipped config's run spends what its YAML asks: its steps, or its FLOPs to within one step."""
    for path in sorted((EXPERIMENTS / "pretrain").glob("*.yaml")):
        cfg = load_config(path)
        info = config_flops(cfg)
        per_step = info["flops_per_sequence_first_step"] * cfg.train.batch_size
        if cfg.train.flops is not None:
            assert cfg.train.flops <= info["pretrain_flops"] < cfg.train.flops + per_step, path
        else:
            assert info["steps"] == cfg.train.steps and info["pretrain_flops"] == info["steps"] * per_step, path


def test_grid_with_a_bad_study_file_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "study.yaml"
    spec.write_text("name: s\nbase: pretrain/tiny_electra.yaml\nvariants: [{name: a, overrides: []}]\n"
                    "finetune: {tasks: [movie_polarity], floor_from: nobody}\n")
    assert main(["grid", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert "floor_from 'nobody'" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [spec]  # nothing started: no storage, store or runs


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


@pytest.fixture
def library_settings(monkeypatch):
    """Put back what the CLI's quiet_libraries switches (process-wide) after the test."""
    from transformers.utils import logging as hf_logging

    from electra_lab import cli

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    for name in {**cli.BARS_OFF, **cli.INFO_OFF}:
        monkeypatch.setenv(name, "")  # records the original value, which teardown restores
        monkeypatch.delenv(name)
    yield hf_logging
    hf_logging.set_verbosity(verbosity)
    hf_logging.enable_progress_bar() if bars else hf_logging.disable_progress_bar()


def failing_command(monkeypatch, error: BaseException):
    def command(args):
        raise error

    monkeypatch.setattr("electra_lab.cli.cmd_flops", command)


def test_a_project_error_is_one_line_without_traceback(monkeypatch, capsys, library_settings):
    from electra_lab.train.checkpoint import CheckpointError

    failing_command(monkeypatch, CheckpointError("checkpoint runs/x/checkpoint.pt is from another run"))
    code = main(["flops", "--paper"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "electra-lab: error: checkpoint runs/x/checkpoint.pt is from another run"


def test_a_project_error_under_verbose_shows_its_traceback(monkeypatch, capsys, library_settings):
    from electra_lab.tasks.registry import UnknownTaskError

    failing_command(monkeypatch, UnknownTaskError("unknown task 'nope'"))
    code = main(["-v", "flops", "--paper"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[0] == "Traceback (most recent call last):" and "in command" in "\n".join(err)
    assert err[-1] == "electra-lab: error: unknown task 'nope'"  # the one line still ends it


@pytest.mark.parametrize("error", [IndexError("list index out of range"), RuntimeError("shape mismatch"),
                                   ValueError("too many values to unpack"), FileNotFoundError("internal.bin")])
def test_an_unexpected_error_propagates_with_its_traceback(monkeypatch, capsys, library_settings, error):
    failing_command(monkeypatch, error)
    with pytest.raises(type(error)) as caught:
        main(["flops", "--paper"])
    assert caught.value is error and caught.traceback[-1].name == "command"  # raised where it happened
    assert capsys.readouterr().err == ""  # not swallowed into a one-line message


def test_user_facing_errors_are_project_errors_and_keep_their_old_bases():
    from electra_lab.config import ConfigError
    from electra_lab.data.download import SourceUnavailable
    from electra_lab.errors import ElectraLabError
    from electra_lab.studies.evaluate import ModelNotFound
    from electra_lab.studies.jobs import JobFailed
    from electra_lab.studies.study_frame import NoEvaluations
    from electra_lab.tasks.glue import GlueUnavailableError
    from electra_lab.tasks.offline.sources import TaskDataError
    from electra_lab.tasks.overlap import EvaluationOverlapError
    from electra_lab.tasks.registry import UnknownTaskError
    from electra_lab.train.checkpoint import CheckpointError

    for error, old_base in [(ConfigError, ValueError), (CheckpointError, RuntimeError),
                            (SourceUnavailable, RuntimeError), (UnknownTaskError, KeyError),
                            (UnknownTaskError, ValueError), (TaskDataError, RuntimeError),
                            (GlueUnavailableError, RuntimeError), (EvaluationOverlapError, RuntimeError),
                            (JobFailed, RuntimeError), (ModelNotFound, FileNotFoundError),
                            (NoEvaluations, FileNotFoundError)]:
        assert issubclass(error, ElectraLabError) and issubclass(error, old_base), error


def test_a_missing_finetune_source_is_one_line(tmp_path, capsys, library_settings):
    code = main(["finetune", str(tmp_path), "--no-tracking", "--seeds", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.splitlines() == [f"electra-lab: error: {tmp_path}: no Hugging Face model (config.json) "
                                              "in it, its encoder/ or export/encoder/"]


def test_the_cli_quiets_libraries_before_running(monkeypatch, library_settings):
    calls = []
    monkeypatch.setattr("electra_lab.cli.quiet_libraries", lambda verbose: calls.append(verbose))
    main(["flops", "--paper"])
    main(["-v", "flops", "--paper"])
    assert calls == [False, True]


def test_quiet_libraries_silences_model_saving(tmp_path, capfd, library_settings):
    import os

    from transformers import ElectraConfig, ElectraModel

    from electra_lab.cli import quiet_libraries

    hf_logging = library_settings
    model = ElectraModel(ElectraConfig(vocab_size=20, embedding_size=8, hidden_size=8, num_hidden_layers=1,
                                       num_attention_heads=1, intermediate_size=8))
    hf_logging.enable_progress_bar()
    model.save_pretrained(tmp_path / "noisy")
    assert "Writing model shards" in capfd.readouterr().err  # what `make demo` printed pages of
    quiet_libraries()
    model.save_pretrained(tmp_path / "quiet")
    assert "Writing model shards" not in capfd.readouterr().err
    assert hf_logging.get_verbosity() == hf_logging.ERROR
    assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1" and os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
