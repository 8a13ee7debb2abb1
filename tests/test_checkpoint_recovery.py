"""Checkpoints carry a SHA-256 and the last two are kept: a truncated or damaged latest one is
detected and the one before it is used, with a warning naming both; a run resumed that way goes on
from the earlier step."""
import logging

import pytest
import torch

from electra_lab.train.checkpoint import (
    CheckpointError,
    digest_path,
    load_checkpoint,
    load_latest_checkpoint,
    previous_path,
    save_checkpoint,
)

from .conftest import make_trainer


def state(step: int) -> dict:
    return {"models": {"w": torch.full((64,), float(step))}, "optimizer": {}, "scheduler": {}, "step": step,
            "rng": {}, "data": {}}


def test_the_last_two_are_kept_each_with_its_digest(tmp_path):
    path = tmp_path / "checkpoint.pt"
    for step in (1, 2, 3):
        save_checkpoint(path, state(step))
    assert load_checkpoint(path)["step"] == 3 and load_checkpoint(previous_path(path))["step"] == 2
    assert digest_path(path).is_file() and digest_path(previous_path(path)).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.prev.pt", "checkpoint.prev.pt.sha256", "checkpoint.pt", "checkpoint.pt.sha256"]


@pytest.mark.parametrize("damage", ["truncate", "flip_a_byte"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog, damage):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1))
    save_checkpoint(path, state(2))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # one bit inside the tensor's bytes: still a loadable file, only the digest can tell
        at = bytes(data).index(torch.full((64,), 2.0).numpy().tobytes()) + 130
        data[at] ^= 0x01
        path.write_bytes(bytes(data))
        assert torch.load(path, weights_only=False)["models"]["w"].sum() != 128.0
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)
    with caplog.at_level(logging.WARNING, logger="electra_lab.train.checkpoint"):
        assert load_latest_checkpoint(path)["step"] == 1
    assert str(path) in caplog.text and str(previous_path(path)) in caplog.text


def test_both_damaged_is_an_error_naming_both(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1))
    save_checkpoint(path, state(2))
    for p in (path, previous_path(path)):
        p.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=rf"{path.name}.*previous one.*{previous_path(path).name}"):
        load_latest_checkpoint(path)


def test_a_trainer_resumes_from_the_previous_checkpoint_when_the_latest_is_damaged(tiny_cfg, tiny_tokenizer,
                                                                                    tmp_path):
    cfg = tiny_cfg(**{"train.steps": 6, "train.checkpoint_every": 2, "train.eval_every": 100})
    first = make_trainer(cfg, tiny_tokenizer, tmp_path / "run")
    first.fit(max_steps=4)  # checkpoints at steps 2 and 4
    first.checkpoint_path.write_bytes(first.checkpoint_path.read_bytes()[:1000])
    second = make_trainer(cfg, tiny_tokenizer, tmp_path / "run")
    assert second.resume_if_possible() and second.step == 2
    second.fit()
    assert second.step == 6


@pytest.mark.parametrize("killed_after", range(5))
def test_a_kill_at_any_step_of_the_rotation_leaves_a_whole_checkpoint(tmp_path, monkeypatch, killed_after):
    """SIGKILL between two of save_checkpoint's renames/unlinks (simulated: the next one raises)."""
    import electra_lab.train.checkpoint as checkpoint

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1))
    save_checkpoint(path, state(2))
    done = []

    class Killed(BaseException):
        pass

    def step(real):
        def wrapped(*args, **kwargs):
            if len(done) == killed_after:
                raise Killed
            done.append(args)
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(checkpoint.os, "replace", step(checkpoint.os.replace))
    monkeypatch.setattr(checkpoint.Path, "unlink", step(checkpoint.Path.unlink))
    with pytest.raises(Killed):
        save_checkpoint(path, state(3))
    monkeypatch.undo()
    assert load_latest_checkpoint(path)["step"] in (2, 3)
