"""A pretraining process killed with SIGKILL mid-run and started again resumes from its last
checkpoint and ends with weights identical to an uninterrupted run's."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .conftest import tiny_run_overrides, write_tiny_corpus

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"
STEPS = 80


def pretrain(overrides, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "electra_lab.cli", "pretrain", "--no-tracking", str(CONFIG),
                             *overrides], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "export" / "encoder" / "model.safetensors")


def test_sigkill_then_restart_ends_with_the_uninterrupted_weights(tmp_path):
    env = {**os.environ, "ELECTRA_LAB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    corpus = write_tiny_corpus(tmp_path / "texts")
    base = [*tiny_run_overrides(corpus, tmp_path / "runs", steps=STEPS), "train.checkpoint_every=5",
            "train.eval_every=10", "model.dropout=0.1"]
    whole = pretrain([*base, "run.name=whole"], env)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-3000:]

    killed = pretrain([*base, "run.name=killed"], env)
    checkpoint = tmp_path / "runs" / "killed" / "checkpoint.pt"
    deadline = time.time() + 240
    while time.time() < deadline and not (checkpoint.with_name("checkpoint.prev.pt")).exists():
        time.sleep(0.05)  # two checkpoints written: the run is past step 10, far from its end
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "runs" / "killed" / "export").exists(), "the kill must land mid-run"

    again = pretrain([*base, "run.name=killed"], env)
    assert again.wait(timeout=300) == 0, again.stderr.read()[-3000:]
    expected, got = weights(tmp_path / "runs" / "whole"), weights(tmp_path / "runs" / "killed")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
