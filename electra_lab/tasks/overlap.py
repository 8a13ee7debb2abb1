"""Keep evaluation text out of pretraining text.

An evaluation text "appears" in a pretraining document when they share a run of `ngram`
consecutive words (lower-cased, punctuation dropped); a text shorter than that must appear
whole. Texts under `min_words` (8) words are skipped: a movie snippet "It was a dark and stormy
night..." found in WordNet's examples is a cliche, not a leak. Word runs are hashed with a vectorised
rolling hash, so a corpus of ~100 MB is checked in well under a minute; every hash hit is confirmed
word by word.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra_lab.errors import ElectraLabError
from electra_lab.tasks.base import NO_CAPS, LoadOptions, Task
from electra_lab.tasks.registry import SUITES, get_task

EVALUATION_SPLITS = ("dev", "test")
_WORD = re.compile(r"[^\W_]+")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


class EvaluationOverlapError(ElectraLabError, RuntimeError):
    """Pretraining documents contain evaluation text."""


@dataclass(frozen=True)
class Overlap:
    evaluation_text: str
    source: str
    doc_id: str
    shared: str  # the shared word run


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def evaluation_texts(
    tasks: Iterable[str | Task] | None = None,
    *,
    splits: Sequence[str] = EVALUATION_SPLITS,
    glue_dir: Path | None = None,
) -> Iterator[str]:
    """Every distinct text (both sides of a pair) in the tasks' evaluation splits.

    Splits are taken before capping, so this covers every text the suite could ever evaluate on,
    whatever caps a run uses. tasks=None means the offline suite; add "train" to `splits` to keep
    fine-tuning text out of pretraining too.
    """
    seen: set[str] = set()
    for name in tasks if tasks is not None else SUITES["offline"]:
        loaded = get_task(name).load(LoadOptions(glue_dir=glue_dir, caps=NO_CAPS))
        for split in splits:
            for example in loaded.get(split, []):
                for text in (example.text_a, example.text_b):
                    if text and text not in seen:
                        seen.add(text)
                        yield text


def _token_ids(tokens: list[str]) -> np.ndarray:
    # Python's str hash is salted per process, which is fine: both sides are hashed in this process
    return np.fromiter((hash(t) for t in tokens), dtype=np.int64, count=len(tokens)).view(np.uint64)


def _window_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive ids (uint64 arithmetic wraps, which is what we want)."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _MULTIPLIER + ids[k : k + count]
    return h


class _EvaluationIndex:
    """Hashes of every evaluation word run, by run length."""

    def __init__(self, texts: Iterable[str], ngram: int, min_words: int):
        self.texts: list[list[str]] = []
        self.raw: list[str] = []
        by_length: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        for text in texts:
            tokens = words(text)
            if len(tokens) < min_words:
                continue
            n = min(ngram, len(tokens))
            index = len(self.texts)
            self.texts.append(tokens)
            self.raw.append(text)
            for h in np.unique(_window_hashes(_token_ids(tokens), n)).tolist():
                by_length[n][h].append(index)
        self.owners = by_length
        self.sorted_hashes = {n: np.array(sorted(hs), dtype=np.uint64) for n, hs in by_length.items()}

    def matches(self, tokens: list[str]) -> Iterator[tuple[int, str]]:
        """(evaluation text index, shared run) for each evaluation text found in `tokens`."""
        ids = _token_ids(tokens)
        for n, table in self.sorted_hashes.items():
            hashes = _window_hashes(ids, n)
            # searchsorted on the pre-sorted table: np.isin would re-sort it for every document
            slots = np.minimum(np.searchsorted(table, hashes), len(table) - 1)
            hit_positions = np.flatnonzero(table[slots] == hashes)
            reported: set[int] = set()
            for pos in hit_positions.tolist():
                run = tokens[pos : pos + n]
                for index in self.owners[n][int(hashes[pos])]:
                    if index not in reported and _contains(self.texts[index], run):
                        reported.add(index)
                        yield index, " ".join(run)


def _contains(tokens: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(tokens[i : i + n] == run for i in range(len(tokens) - n + 1))


def _documents(paths: Iterable[Path]) -> Iterator[dict]:
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def check_no_overlap(
    pretraining_jsonl_paths: Iterable[str | Path],
    tasks: Iterable[str | Task] | None = None,
    *,
    splits: Sequence[str] = EVALUATION_SPLITS,
    glue_dir: Path | None = None,
    texts: Iterable[str] | None = None,
    ngram: int = 13,
    min_words: int = 8,
    raise_on_overlap: bool = True,
    max_listed: int = 10,
) -> list[Overlap]:
    """Find evaluation texts inside pretraining documents (jsonl lines {"source","doc_id","text"}).

    Returns the overlaps (empty when clean); raises EvaluationOverlapError listing examples
    unless raise_on_overlap=False. `texts` replaces the tasks' evaluation texts when given.
    """
    corpus = texts if texts is not None else evaluation_texts(tasks, splits=splits, glue_dir=glue_dir)
    index = _EvaluationIndex(corpus, ngram, min_words)
    overlaps = []
    for doc in _documents(Path(p) for p in pretraining_jsonl_paths):
        for i, shared in index.matches(words(doc["text"])):
            overlaps.append(Overlap(index.raw[i], str(doc.get("source", "?")), str(doc.get("doc_id", "?")), shared))
    if overlaps and raise_on_overlap:
        listed = "\n".join(
            f"  - {o.source}/{o.doc_id} contains {o.evaluation_text[:100]!r} (shared: {o.shared[:80]!r})"
            for o in overlaps[:max_listed]
        )
        more = f"\n  ... and {len(overlaps) - max_listed} more" if len(overlaps) > max_listed else ""
        raise EvaluationOverlapError(
            f"{len(overlaps)} evaluation text occurrence(s) found in pretraining documents; remove those "
            f"documents (or those sources) from pretraining:\n{listed}{more}"
        )
    return overlaps
