"""Every command README.md shows runs as written: the test reads them from the README itself, so an
edited, added or misspelt command (a subcommand or flag that does not exist, an unknown override
key, a config file that is gone) fails here without anyone editing this file.

Each `electra-lab ...` line goes through electra_lab.cli.main in-process: `pretrain` for real on a
tiny budget (its own overrides kept, shrinking ones appended: later overrides win), `flops` exactly
as written (its printed number checked where the README states one), `bench` for real on a micro
shape; the others (whole fine-tuning suites, downloads, studies of hours) are parsed by the real
parser, checked as far as that is cheap without data, and asked for --help."""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest

from electra_lab import cli, flops
from electra_lab.experiment import load_config

from .conftest import tiny_run_overrides, write_tiny_corpus

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# README lines that are not electra-lab commands, each with why this test does not run it; any other
# `make` / `mlflow` line fails test_every_other_readme_command_is_excluded_with_a_reason
EXCLUDED = {
    "make demo": "builds .venv and a real corpus from downloads, then pretrains and fine-tunes (23 min on AVX2)",
    "make test": "runs this very suite",
    "mlflow ui": "starts a web server that never exits",
    "mlflow server": "a tracking server that never exits (tests/studies/test_shared_servers.py starts a real one)",
}
OTHER_TOOLS = ("make", "mlflow")
LAUNCHERS = ("torchrun", "accelerate")  # their `-m electra_lab.cli ...` part is checked like an electra-lab line

# a flops comment's number as the paper prints it: 1.29e18
FLOPS_NUMBER = re.compile(r"\b\d\.\d{2}e\d+\b")


def readme_lines() -> list[str]:
    """The README's code-block lines (indented by four spaces), stripped."""
    return [line.strip() for line in README.read_text().splitlines() if line.startswith("    ") and line.strip()]


def readme_commands() -> list[str]:
    return [line for line in readme_lines() if line.startswith("electra-lab ")]


def launched_commands() -> list[str]:
    """The electra-lab commands inside the README's torchrun lines, as `electra-lab ...`."""
    return ["electra-lab " + line.split(" -m electra_lab.cli ", 1)[1] for line in readme_lines()
            if line.startswith(LAUNCHERS) and " -m electra_lab.cli " in line]


def split_command(line: str) -> tuple[list[str], str]:
    """(argv after `electra-lab`, the trailing `# comment`)."""
    comment = line.split("#", 1)[1].strip() if "#" in line else ""
    return shlex.split(line, comments=True)[1:], comment


COMMANDS = readme_commands()


@pytest.fixture
def library_state():
    """main() switches library chatter off process-wide (environment, transformers' logging): put
    back what it changed, so the tests after this one see the process they expect."""
    from transformers.utils import logging as hf_logging

    environ, verbosity, bars = dict(os.environ), hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    yield
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)
    hf_logging.set_verbosity(verbosity)
    hf_logging.enable_progress_bar() if bars else hf_logging.disable_progress_bar()


@pytest.fixture
def workdir(tmp_path, monkeypatch, library_state):
    """A scratch working folder that sees the repository's experiments/ (the README's paths are
    relative to the checkout), with a private data cache: nothing lands in the checkout."""
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def shrinking_overrides(workdir: Path) -> list[str]:
    """Appended to a README pretrain command: a tiny model, 2 steps, CPU, fp32, a local corpus, and
    a private MLflow store (the command stays tracked, as the README runs it)."""
    return [*tiny_run_overrides(write_tiny_corpus(workdir / "texts"), workdir / "runs", steps=2),
            f"run.tracking_uri=sqlite:///{workdir / 'mlflow.db'}"]


def parse(argv: list[str]):
    """The real parser: an unknown subcommand, flag or choice exits with status 2."""
    try:
        return cli.build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"electra-lab {shlex.join(argv)}: the parser refused it (exit {exc.code})") from None


def asks_for_help(subcommand: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([subcommand, "--help"])
    assert exited.value.code == 0 and subcommand in capsys.readouterr().out


# ----------------------------------------------------------------------------- per subcommand


def run_pretrain(argv, comment, workdir, capsys):
    args, shrink = parse(argv), shrinking_overrides(workdir)
    assert cli.main([*argv, *shrink]) == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    cfg = load_config(args.config, [*args.overrides, *shrink])
    run_dir = workdir / "runs" / cfg.run.name
    assert printed["steps"] == 2 and printed["run_id"]  # tracked, into the private store
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2
    assert (run_dir / "export" / "encoder" / "config.json").exists()


def run_flops(argv, comment, workdir, capsys):
    parse(argv)
    assert cli.main(argv) == 0, capsys.readouterr().err  # as written: it builds no data
    out = capsys.readouterr().out
    stated = FLOPS_NUMBER.findall(comment)
    if "--paper" in argv:
        assert "ELECTRA-Small" in out
        assert all(n in out for n in stated), (stated, out)
    else:
        printed = json.loads(out)
        assert printed["pretrain_flops"] > 0
        assert [flops.format_flops(printed["pretrain_flops"])] == stated or not stated, (stated, printed)


def check_finetune(argv, comment, workdir, capsys):
    """A whole suite with 5 seeds (or GLUE from a folder of its data) is minutes and downloads:
    check what can be checked without them, the suite, tasks and --set options."""
    from electra_lab.tasks.finetune import finetune_options
    from electra_lab.tasks.registry import suite_tasks

    args = parse(argv)
    assert suite_tasks(args.suite, args.tasks)
    finetune_options(args.set)
    asks_for_help("finetune", capsys)


def check_overlap(argv, comment, workdir, capsys):
    """Reading every evaluation task needs their package downloads: check the config, its
    overrides and the task names."""
    from electra_lab.tasks.registry import SUITES, suite_tasks

    args = parse(argv)
    load_config(args.config, args.overrides)
    suite_tasks("offline", args.tasks or list(SUITES["offline"]))
    asks_for_help("check-overlap", capsys)


def run_bench(argv, comment, workdir, capsys):
    """As written, then made micro by flags appended after it (argparse: the last value wins)."""
    import torch

    args = parse(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip(f"the README's bench asks for {args.device}")
    micro = ["--steps", "1", "--warmup", "0", "--interleave", "0", "--batch-size", "2", "--seq-len", "16",
             "--peak-sizes", "64", "--threads", "1", "--no-reference", "--out-dir", str(workdir / "bench"),
             "--name", "readme"]
    assert cli.main([*argv, *micro]) == 0, capsys.readouterr().err
    saved = json.loads((workdir / "bench" / "readme.json").read_text())
    assert saved["runs"]["framework"]["tokens_per_s"] > 0
    asks_for_help("bench", capsys)


def check_study_file(argv, comment, workdir, capsys):
    """Studies pretrain and fine-tune for hours: load the file (every cell's config, built down to
    its models, or the sweep's ranges), which is where a stale key would stop it."""
    from electra_lab.studies.spec import load_study
    from electra_lab.studies.sweep_spec import is_sweep_file, load_sweep

    args = parse(argv)
    path = args.sweep if argv[0] == "sweep" else args.study
    (load_sweep if is_sweep_file(path) else load_study)(path, args.scale, args.set)
    asks_for_help(argv[0], capsys)


HANDLERS = {"pretrain": run_pretrain, "flops": run_flops, "finetune": check_finetune,
            "check-overlap": check_overlap, "bench": run_bench, "grid": check_study_file,
            "sweep": check_study_file, "report": check_study_file}


def test_the_readme_shows_commands():
    # a parser that found nothing would pass every test below vacuously
    assert {split_command(c)[0][0] for c in COMMANDS} >= {"pretrain", "flops"}


@pytest.mark.parametrize("line", COMMANDS, ids=[shlex.join(split_command(c)[0]) for c in COMMANDS])
def test_readme_command_runs(line, workdir, capsys):
    argv, comment = split_command(line)
    handler = HANDLERS.get(argv[0])
    if handler is None:  # a subcommand this file has no recipe for: at least it must exist and parse
        parse(argv)
        asks_for_help(argv[0], capsys)
        return
    handler(argv, comment, workdir, capsys)


def test_every_other_readme_command_is_excluded_with_a_reason():
    others = [line for line in readme_lines() if line.split()[0] in OTHER_TOOLS]
    assert others, "the README's make / mlflow lines were not found: has its layout changed?"
    unknown = [line for line in others if " ".join(shlex.split(line, comments=True)[:2]) not in EXCLUDED]
    assert not unknown, f"README commands neither run nor excluded here: {unknown}"


def test_readme_strategy_list_is_exactly_the_available_strategies():
    from electra_lab.strategies import available

    text = " ".join(README.read_text().split())  # the sentence wraps over lines
    found = re.search(r"Strategies \(`strategy\.name`[^)]*\):(.*?)\.(?:\s|$)", text)
    assert found, "the README's sentence 'Strategies (`strategy.name`...): ...' is gone"
    named = re.findall(r"`([a-z0-9_]+)`", found.group(1))
    assert len(named) == len(set(named)) and set(named) == set(available()), (named, available())


def test_the_readme_launcher_lines_run_a_real_command_with_a_real_config():
    launched = launched_commands()
    assert len(launched) >= 2, "the README's torchrun lines were not found: has its layout changed?"
    for line in launched:
        argv, _ = split_command(line)
        args = parse(argv)
        assert args.func is cli.cmd_pretrain
        load_config(ROOT / args.config, list(args.overrides))
