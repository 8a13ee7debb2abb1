"""A full disk, made for real: the run folder on a small tmpfs. Too little room is refused before
training; a disk that fills mid-run stops with an error naming it, the checkpoint on disk is whole,
and once space is freed the run resumes from it."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from electra_lab.train.checkpoint import load_checkpoint

from .conftest import tiny_run_overrides, write_tiny_corpus

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a folder on a tmpfs of that size, unmounted afterwards."""
    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def command(overrides) -> list[str]:
    return [sys.executable, "-m", "electra_lab.cli", "pretrain", "--no-tracking", str(CONFIG), *overrides]


@pytest.fixture
def run_env(tmp_path):
    env = {**os.environ, "ELECTRA_LAB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    return env, write_tiny_corpus(tmp_path / "texts")


def fill(folder: Path) -> Path:
    """Write zeros until the file system refuses."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


def test_too_little_room_is_refused_before_training(small_disk, run_env):
    env, corpus = run_env
    disk = small_disk("256k")
    done = subprocess.run(command([*tiny_run_overrides(corpus, disk, steps=20), "run.name=r"]), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "not enough free space for run folder" in done.stderr and "Traceback" not in done.stderr
    assert not list((disk / "r").glob("checkpoint*"))


def test_a_disk_filling_mid_run_keeps_the_last_checkpoint_and_the_run_resumes(small_disk, run_env):
    env, corpus = run_env
    disk = small_disk("16m")
    overrides = [*tiny_run_overrides(corpus, disk, steps=800), "train.checkpoint_every=20", "run.name=r"]
    run = subprocess.Popen(command(overrides), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    previous = disk / "r" / "checkpoint.prev.pt"
    deadline = time.time() + 240
    while time.time() < deadline and not previous.exists() and run.poll() is None:
        time.sleep(0.02)
    assert previous.exists(), "two checkpoints were never written"
    filler = fill(disk)
    _, err = run.communicate(timeout=240)
    assert run.returncode == 1, err[-3000:]
    assert "no space left on the device" in err and "is intact" in err and "Traceback" not in err, err[-3000:]
    assert not (disk / "r" / "export").exists(), "the disk must fill mid-run"
    assert not (disk / "r" / "checkpoint.pt.tmp").exists()
    kept = load_checkpoint(disk / "r" / "checkpoint.pt")  # whole: its SHA-256 matches
    assert 0 < kept["step"] < 800

    filler.unlink()
    again = subprocess.run(command(overrides), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert load_checkpoint(disk / "r" / "checkpoint.pt")["step"] == 800
    assert (disk / "r" / "export" / "encoder" / "model.safetensors").exists()
