"""Data parallel pretraining under torchrun: 2 CPU processes on the gloo backend follow one
process's loss trajectory with the same global batch, and their checkpoint resumes in one process."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from .conftest import tiny_run_overrides, write_tiny_corpus

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"
STEPS = 6


def pretrain(overrides, env, processes: int = 1) -> subprocess.CompletedProcess:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m"]
                if processes > 1 else [sys.executable, "-m"])
    done = subprocess.run([*launcher, "electra_lab.cli", "pretrain", "--no-tracking", str(CONFIG), *overrides],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "export" / "encoder" / "model.safetensors")


def train_losses(run_dir: Path) -> np.ndarray:
    frame = pd.read_csv(run_dir / "metrics.csv")
    rows = frame[frame["train/loss"].notna()]
    assert list(rows["step"]) == list(range(1, STEPS + 1))
    return rows["train/loss"].to_numpy()


def assert_close_weights(expected: dict, got: dict) -> None:
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5, msg=name)


def test_two_gloo_processes_follow_one_process_and_their_checkpoint_resumes_in_one(tmp_path):
    env = {**os.environ, "ELECTRA_LAB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    corpus = write_tiny_corpus(tmp_path / "texts")
    runs = tmp_path / "runs"
    # a global batch of 8 in 2 micro-batches: one process accumulates both, two processes take one each;
    # dropout on, so each micro-batch's random draws must not depend on the rank that computes it
    base = [*tiny_run_overrides(corpus, runs, steps=STEPS), "train.batch_size=8", "train.grad_accum=2",
            "train.log_every=1", "train.checkpoint_every=3", "train.eval_every=3", "model.dropout=0.1"]
    pretrain([*base, "run.name=single"], env)
    pair_run = pretrain([*base, "run.name=pair"], env, processes=2)
    assert pair_run.stdout.count('"run_name": "pair"') == 1  # one summary, rank 0's

    single, pair = train_losses(runs / "single"), train_losses(runs / "pair")
    assert np.all(np.isfinite(single)) and len(set(single.round(6))) > 1, "the trajectory must move"
    np.testing.assert_allclose(pair, single, rtol=1e-5)
    assert_close_weights(weights(runs / "single"), weights(runs / "pair"))
    assert not (runs / "pair" / "checkpoint.pt.tmp").exists()

    # the pair's step-3 checkpoint (kept as the previous one) resumes in one process, and in two (rank 0
    # reads it and sends it to rank 1), and both end where the uninterrupted runs ended
    for name, processes in (("resumed_alone", 1), ("resumed_pair", 2)):
        resumed = runs / name
        resumed.mkdir()
        shutil.copy(runs / "pair" / "checkpoint.prev.pt", resumed / "checkpoint.pt")
        shutil.copy(runs / "pair" / "checkpoint.prev.pt.sha256", resumed / "checkpoint.pt.sha256")
        assert torch.load(resumed / "checkpoint.pt", weights_only=False)["step"] == 3
        done = pretrain([*base, f"run.name={name}"], env, processes=processes)
        if processes == 1:
            assert "written by 2 process(es) and resumes on 1" in done.stderr
            assert "continues exactly" in done.stderr
        else:
            assert "resumes on" not in done.stderr
        assert_close_weights(weights(runs / "single"), weights(resumed))
        assert train_losses(resumed)[3:] == pytest.approx(single[3:], rel=1e-5)
