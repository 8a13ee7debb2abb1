"""Tokenised splits of offline tasks, kept on disk and reused by every later fine-tuning call.

Loading and tokenising the demo's three tasks takes ~10 s per call (hyperbaton alone reads a 14 MB
JSON file); a study calls fine-tuning for every checkpoint and seed. The entry is keyed by
everything its content depends on: the tokenizer's files (sha256), the task, its caps, max_length,
the code that loads, splits and encodes it, and the tokenizers / transformers versions. Only
offline-suite tasks from the registry are cached: their sources are pinned by checksum, while a
GLUE folder or the hub can change under the same name.

An entry is one .npz (flat int32 ids, segment ids and offsets per split, no pickles), written to a
temporary name and renamed, so a reader sees a whole entry or none. One that fails to read or to
check is logged and rebuilt.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from electra_lab.paths import cache_root
from electra_lab.tasks.base import Task
from electra_lab.tasks.batching import Encoded

log = logging.getLogger(__name__)

FORMAT = 1
SPLITS = ("train", "dev", "test")
# the files AutoTokenizer reads from a model folder
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.txt", "vocab.json", "merges.txt", "spiece.model")


def cacheable(task: Task) -> bool:
    from electra_lab.tasks.registry import TASKS

    return task.suite == "offline" and TASKS.get(task.name) is task


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tokenizer_fingerprint(tokenizer_dir: str | Path) -> str:
    """sha256 over the tokenizer files present in the folder (names and bytes)."""
    digest = hashlib.sha256()
    found = 0
    for name in TOKENIZER_FILES:
        path = Path(tokenizer_dir) / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
            found += 1
    if not found:
        raise FileNotFoundError(f"no tokenizer files in {tokenizer_dir}")
    return digest.hexdigest()


def entry_key(task: Task, tokenizer_dir: str | Path, caps, max_length: int) -> str:
    import tokenizers
    import transformers

    from electra_lab.tasks import batching, splits

    code = [Path(inspect.getfile(task.loader)), Path(inspect.getfile(splits)), Path(inspect.getfile(batching))]
    parts = {
        "format": FORMAT, "task": task.name, "caps": [caps.train, caps.dev, caps.test], "max_length": max_length,
        "tokenizer": tokenizer_fingerprint(tokenizer_dir), "code": [_sha256(p) for p in code],
        "versions": [tokenizers.__version__, transformers.__version__],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def entry_path(task: Task, key: str) -> Path:
    return cache_root() / "finetune_tokens" / f"{task.name}-{key}.npz"


def _pack(encoded: dict[str, Encoded]) -> dict[str, np.ndarray]:
    arrays = {}
    for split, data in encoded.items():
        lengths = np.array([len(ids) for ids in data.input_ids], dtype=np.int64)
        arrays[f"{split}.offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        arrays[f"{split}.ids"] = np.fromiter((i for ids in data.input_ids for i in ids), np.int32, int(lengths.sum()))
        arrays[f"{split}.types"] = np.fromiter((t for ts in data.token_type_ids for t in ts), np.int8,
                                               int(lengths.sum()))
        arrays[f"{split}.labels"] = data.labels.numpy()
    return arrays


def _unpack(arrays, split: str) -> Encoded:
    offsets, ids, types = arrays[f"{split}.offsets"], arrays[f"{split}.ids"], arrays[f"{split}.types"]
    labels = arrays[f"{split}.labels"]
    if (offsets[0] != 0 or offsets[-1] != len(ids) or len(types) != len(ids) or np.any(np.diff(offsets) <= 0)
            or len(labels) != len(offsets) - 1):
        raise ValueError(f"inconsistent arrays for split {split}")
    if len(offsets) == 1:  # an empty split
        return Encoded([], [], torch.from_numpy(labels.copy()))
    cuts = offsets[1:-1]
    return Encoded([a.tolist() for a in np.split(ids, cuts)], [a.tolist() for a in np.split(types, cuts)],
                   torch.from_numpy(labels.copy()))


def read_entry(path: Path) -> dict[str, Encoded]:
    """The splits stored at `path`; raises on a missing, truncated or inconsistent file."""
    with np.load(path, allow_pickle=False) as arrays:
        names = {name.split(".")[0] for name in arrays.files}
        return {split: _unpack(arrays, split) for split in SPLITS if split in names}


def write_entry(path: Path, encoded: dict[str, Encoded]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **_pack(encoded))
    tmp.replace(path)


def cached_encodings(task: Task, tokenizer_dir: str | Path, caps, max_length: int,
                     build: Callable[[], dict[str, Encoded]]) -> dict[str, Encoded]:
    """The entry for (task, tokenizer, caps, max_length), built with `build()` and stored when it
    is missing or unreadable."""
    path = entry_path(task, entry_key(task, tokenizer_dir, caps, max_length))
    if path.exists():
        try:
            return read_entry(path)
        except Exception as error:  # noqa: BLE001 - any unreadable entry is rebuilt, never trusted
            log.warning("token cache entry %s is unreadable (%s); rebuilding it", path, error)
    encoded = build()
    write_entry(path, encoded)
    return encoded
