"""Deterministic train/dev/test splits by a salted hash of the example's text, never its position.

Hashing the (normalised) group text means a file that is reordered, or grows, keeps every old
example in the split it was in, and near-identical texts (case, spacing) always land together.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable

from electra_lab.tasks.base import Example, SplitCaps, Splits

SPLIT_NAMES = ("train", "dev", "test")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive key for hashing and de-duplication."""
    return _SPACE.sub(" ", text).strip().casefold()


def example_key(example: Example) -> str:
    return normalise(example.text_a) + "\t" + normalise(example.text_b or "")


def unit_hash(salt: str, text: str) -> float:
    """A uniform number in [0, 1) from sha256(salt, text): stable across runs and machines."""
    digest = hashlib.sha256(f"{salt}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def deduplicate(examples: Iterable[Example], regression: bool = False) -> list[Example]:
    """One example per normalised text. Classification: duplicates that disagree on the label are
    dropped (the text is ambiguous); regression: their labels are averaged."""
    by_key: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_key[example_key(example)].append(example)
    kept = []
    for same in by_key.values():
        labels = [e.label for e in same]
        if regression:
            kept.append(Example(same[0].text_a, same[0].text_b, sum(labels) / len(labels), same[0].group))
        elif len(set(labels)) == 1:
            kept.append(same[0])
    return kept


def hash_split(examples: Iterable[Example], salt: str, dev_fraction: float, test_fraction: float) -> Splits:
    """Assign each example to train/dev/test by the hash of its group (its own text if none)."""
    if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction < 1):
        raise ValueError(f"bad split fractions dev={dev_fraction} test={test_fraction}")
    splits: Splits = {name: [] for name in SPLIT_NAMES}
    for example in examples:
        u = unit_hash(salt, normalise(example.group) if example.group else example_key(example))
        name = "test" if u < test_fraction else "dev" if u < test_fraction + dev_fraction else "train"
        splits[name].append(example)
    return splits


def apply_caps(splits: Splits, caps: SplitCaps, salt: str) -> Splits:
    """Keep at most caps.<split> examples per split, chosen (and ordered) by a second salted hash,
    so the kept subset is a deterministic random sample, independent of file order."""
    out: Splits = {}
    for name, examples in splits.items():
        ranked = sorted(examples, key=lambda e: unit_hash(salt + ":order", example_key(e)))
        limit = caps.cap(name)
        out[name] = ranked if limit is None else ranked[:limit]
    return out


def split_and_cap(
    examples: Iterable[Example],
    *,
    salt: str,
    caps: SplitCaps,
    dev_fraction: float = 0.15,
    test_fraction: float = 0.25,
    regression: bool = False,
) -> Splits:
    """The offline suite's whole recipe: de-duplicate, hash-split, cap."""
    unique = deduplicate(examples, regression=regression)
    return apply_caps(hash_split(unique, salt, dev_fraction, test_fraction), caps, salt)
