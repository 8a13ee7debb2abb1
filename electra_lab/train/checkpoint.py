"""Checkpoints: model, optimiser, scheduler, RNG and data position, written atomically with a
SHA-256 beside each; the last two are kept, and a damaged latest one falls back to the one before."""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from electra_lab.errors import ElectraLabError

log = logging.getLogger(__name__)


class CheckpointError(ElectraLabError, RuntimeError):
    """A checkpoint that cannot be read or does not fit the run being resumed."""


class DiskFull(ElectraLabError, OSError):
    """No space left where the run writes; the checkpoint on disk before the failed write is whole."""


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC (or a quota), also when torch's zip writer or safetensors reports it in its own type."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(exc)  # torch's and safetensors' writers wrap the OS error in their own types
    return any(sign in text for sign in ("write failed", "No space left", "StorageFull", "QuotaExceeded"))


def free_megabytes(folder: Path) -> float:
    try:
        return shutil.disk_usage(folder).free / 2**20
    except OSError:
        return float("nan")


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def previous_path(path: Path) -> Path:
    """Where the checkpoint before `path` is kept: checkpoint.pt -> checkpoint.prev.pt."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict) -> None:
    """Write to a temporary file with its SHA-256 beside it, then keep the last two: the one being
    replaced becomes checkpoint.prev.pt. A crash at any moment leaves at least one whole checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp_digest = path.with_name(path.name + ".sha256.tmp")
    try:  # both new files are whole before anything on disk is replaced
        torch.save(state, tmp)
        tmp_digest.write_text(_sha256(tmp) + "\n")
    except (OSError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        tmp_digest.unlink(missing_ok=True)
        if not is_disk_full(exc):
            raise
        kept = f"the previous checkpoint {path} (step {_step_of(path)}) is intact" if path.exists() else \
            "no earlier checkpoint exists"
        raise DiskFull(f"no space left on the device of {path.parent} writing the step-{state.get('step')} checkpoint "
                       f"({free_megabytes(path.parent):.1f} MB free): {kept}; free some space and run again to resume"
                       ) from exc
    if path.exists():  # renames need no space
        previous = previous_path(path)
        # the old digest goes first and each file moves before its digest: a kill between any two
        # steps leaves no file beside a digest of another, so the latest whole checkpoint still loads
        digest_path(previous).unlink(missing_ok=True)
        os.replace(path, previous)
        if digest_path(path).exists():
            os.replace(digest_path(path), digest_path(previous))
    os.replace(tmp, path)
    os.replace(tmp_digest, digest_path(path))


def _step_of(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)["step"]
    except Exception:  # only for the message
        return "?"


def checkpoint_exists(path: Path) -> bool:
    return Path(path).is_file() or previous_path(Path(path)).is_file()


def load_checkpoint(path: Path) -> dict:
    """The state in `path`, checked against its SHA-256 when one was written with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if digest_path(path).is_file() and _sha256(path) != digest_path(path).read_text().strip():
        raise CheckpointError(f"checkpoint {path} is corrupt: its SHA-256 differs from {digest_path(path).name} "
                              "(truncated or damaged after it was written)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated/corrupt files
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(exc).__name__}: {exc})") from None
    missing = {"models", "optimizer", "scheduler", "step", "rng", "data"} - set(state)
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {sorted(missing)}: not an electra-lab checkpoint")
    return state


def load_latest_checkpoint(path: Path) -> dict:
    """The latest whole checkpoint: `path`, or, when it is missing or damaged, the one before it
    (with a warning naming both files). Both unusable: a CheckpointError naming both."""
    path, previous = Path(path), previous_path(Path(path))
    try:
        return load_checkpoint(path)
    except CheckpointError as latest_error:
        if not previous.is_file():
            raise
        try:
            state = load_checkpoint(previous)
        except CheckpointError as previous_error:
            raise CheckpointError(f"{latest_error}; and the previous one: {previous_error}") from None
        log.warning("%s; resuming from the previous checkpoint %s (step %s) instead", latest_error, previous,
                    state["step"])
        return state
