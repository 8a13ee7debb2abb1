"""Build a deduplicated pretraining corpus from text sources, split by document, cached by its arguments.

Layout: <cache>/corpus/<key>/{train.jsonl, valid.jsonl, manifest.json}, one JSON object per line
({"source", "doc_id", "text"}, paragraphs separated by "\n"). The key hashes every argument (and a
fingerprint of local files), so calling again with the same arguments reuses the files once their
checksums verify; a missing or corrupt file triggers a rebuild. The manifest is written last, so
its presence means the build finished.

Cleaning rules applied across sources:
  * documents whose normalised text was already seen are dropped (exact near-duplicates);
  * a paragraph whose normalised text was already seen anywhere is dropped (repeated boilerplate);
  * the split is by document: hash(seed, text) decides, so a document is in exactly one split and
    its side does not depend on which other sources were built with it;
  * documents are written in a seeded shuffled order so any prefix of train.jsonl mixes sources.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from electra_lab.config import ConfigError
from electra_lab.data.download import SourceUnavailable, file_lock, sha256_file
from electra_lab.data.sources import source_documents
from electra_lab.paths import cache_root

log = logging.getLogger(__name__)

# Bump when cleaning or corpus rules change, so cached corpora are rebuilt.
BUILDER_VERSION = 1
SPLITS = ("train", "valid")
_NORMALISE = re.compile(r"\W+")


@dataclass(frozen=True)
class Corpus:
    train_path: Path
    valid_path: Path
    manifest: dict
    key: str


def iter_documents(path: Path) -> Iterator[dict]:
    """The records of a corpus .jsonl file: {"source", "doc_id", "text"}."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


# --- keys and hashes ------------------------------------------------------------------------------

def _local_fingerprint(spec: str) -> list:
    """Sizes and mtimes of a local source's files, so edited text changes the corpus key."""
    root = Path(spec.partition(":")[2]).expanduser()
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
    else:
        files = []  # the source itself will report the missing path
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def corpus_key(arguments: dict) -> str:
    payload = dict(arguments, builder_version=BUILDER_VERSION)
    payload["local_files"] = {s: _local_fingerprint(s) for s in arguments["sources"] if s.startswith("local:")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _normalised_digest(text: str) -> bytes:
    """Case-, punctuation- and whitespace-insensitive 16-byte fingerprint."""
    return hashlib.blake2b(_NORMALISE.sub(" ", text.lower()).strip().encode(), digest_size=16).digest()


def split_score(text: str, seed: int) -> float:
    """A stable number in [0, 1) from the document's text and the seed; < valid_fraction means valid."""
    digest = hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# --- cache ----------------------------------------------------------------------------------------

def _load_cached(directory: Path, key: str) -> Corpus | None:
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        for split in SPLITS:
            path = directory / f"{split}.jsonl"
            expected = manifest["files"][path.name]["sha256"]
            if not path.exists() or sha256_file(path) != expected:
                log.warning("corpus %s: %s is missing or corrupt; rebuilding", key, path.name)
                return None
    except (json.JSONDecodeError, KeyError) as err:
        log.warning("corpus %s: unreadable manifest (%s); rebuilding", key, err)
        return None
    if manifest.get("skipped"):
        log.warning("corpus %s was built without unavailable sources: %s", key, ", ".join(manifest["skipped"]))
    return Corpus(directory / "train.jsonl", directory / "valid.jsonl", manifest, key)


def _write_atomic(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


# --- building -------------------------------------------------------------------------------------

class _Deduplicator:
    """Remembers document and paragraph fingerprints across the whole corpus."""

    def __init__(self) -> None:
        self.documents: set[bytes] = set()
        self.paragraphs: set[bytes] = set()

    def clean(self, text: str) -> tuple[str | None, int]:
        """(text without already-seen paragraphs or None if the document is a duplicate, paragraphs dropped)."""
        doc_digest = _normalised_digest(text)
        if doc_digest in self.documents:
            return None, 0
        self.documents.add(doc_digest)
        kept, dropped = [], 0
        for paragraph in text.split("\n"):
            digest = _normalised_digest(paragraph)
            if digest in self.paragraphs:
                dropped += 1
                continue
            self.paragraphs.add(digest)
            kept.append(paragraph)
        return "\n".join(kept) if kept else None, dropped


def _truncate(text: str, budget: int) -> str:
    """The leading whole paragraphs that fit in `budget` characters ("" if not even the first fits)."""
    kept, used = [], 0
    for paragraph in text.split("\n"):
        used += len(paragraph) + (1 if kept else 0)
        if used > budget:
            break
        kept.append(paragraph)
    return "\n".join(kept)


def _collect_source(spec: str, cache_dir: Path, dedup: _Deduplicator, max_docs: int | None,
                    max_chars: int | None) -> tuple[list[dict], dict]:
    records: list[dict] = []
    stats = {"duplicate_docs": 0, "duplicate_paragraphs": 0, "chars": 0}
    started = time.perf_counter()
    for document in source_documents(spec, cache_dir):
        text, dropped = dedup.clean(document.text)
        stats["duplicate_paragraphs"] += dropped
        if text is None:
            stats["duplicate_docs"] += 1
            continue
        if max_chars is not None:
            fitted = _truncate(text, max_chars - stats["chars"])
            if not fitted and records:
                break
            text = fitted or text.split("\n", 1)[0]  # a source always yields something, even over budget
        records.append({"source": spec, "doc_id": document.doc_id, "text": text})
        stats["chars"] += len(text)
        enough_docs = max_docs is not None and len(records) >= max_docs
        if enough_docs or (max_chars is not None and stats["chars"] >= max_chars):
            break
    stats["seconds"] = round(time.perf_counter() - started, 2)
    return records, stats


def _split(records: list[dict], valid_fraction: float, seed: int) -> dict[str, list[dict]]:
    scored = [(split_score(r["text"], seed), r) for r in records]
    splits = {"train": [r for s, r in scored if s >= valid_fraction],
              "valid": [r for s, r in scored if s < valid_fraction]}
    if valid_fraction > 0 and not splits["valid"] and len(records) > 1:
        # Tiny corpora: still hold out one document (the lowest-scoring, so it is deterministic).
        _, first = min(scored, key=lambda pair: pair[0])
        splits["valid"] = [first]
        splits["train"] = [r for r in splits["train"] if r is not first]
    for name, split_records in splits.items():
        random.Random(f"{seed}:{name}").shuffle(split_records)
    return splits


def _count(records: list[dict], spec: str) -> dict:
    chosen = [r for r in records if r["source"] == spec]
    return {"docs": len(chosen), "chars": sum(len(r["text"]) for r in chosen)}


def build_corpus(
    sources: list[str],
    *,
    valid_fraction: float = 0.02,
    seed: int = 0,
    max_docs_per_source: int | None = None,
    max_chars_per_source: int | None = None,
    skip_unavailable: bool = False,
    cache_dir: Path | None = None,
) -> Corpus:
    """Build (or reuse) the corpus for these sources; see the module docstring for the rules."""
    if not sources:
        raise ConfigError("build_corpus needs at least one source (data.sources is empty)")
    if not 0 <= valid_fraction < 1:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    cache = Path(cache_dir) if cache_dir is not None else cache_root()
    arguments = {"sources": list(sources), "valid_fraction": valid_fraction, "seed": seed,
                 "max_docs_per_source": max_docs_per_source, "max_chars_per_source": max_chars_per_source,
                 "skip_unavailable": skip_unavailable}
    key = corpus_key(arguments)
    directory = cache / "corpus" / key
    with file_lock(directory):
        if (cached := _load_cached(directory, key)) is not None:
            log.info("corpus %s: reusing %s", key, directory)
            return cached
        return _build(arguments, key, directory, cache)


def _build(arguments: dict, key: str, directory: Path, cache: Path) -> Corpus:
    started = time.perf_counter()
    dedup = _Deduplicator()
    records: list[dict] = []
    per_source: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for spec in dict.fromkeys(arguments["sources"]):  # a source listed twice is read once
        try:
            found, stats = _collect_source(spec, cache, dedup, arguments["max_docs_per_source"],
                                           arguments["max_chars_per_source"])
        except SourceUnavailable as err:
            if not arguments["skip_unavailable"]:
                raise
            log.warning("skipping unavailable source %s: %s", spec, err)
            skipped[spec] = str(err)
            continue
        log.info("source %s: %d documents, %.1f MB in %.1fs", spec, len(found), stats["chars"] / 1e6, stats["seconds"])
        records.extend(found)
        per_source[spec] = stats
    if not records:
        raise SourceUnavailable(f"no documents from any source: {arguments['sources']} (skipped: {skipped})")

    splits = _split(records, arguments["valid_fraction"], arguments["seed"])
    files = {}
    for name, split_records in splits.items():
        path = directory / f"{name}.jsonl"
        _write_atomic(path, split_records)
        files[path.name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    for spec, stats in per_source.items():
        stats.update({name: _count(split_records, spec) for name, split_records in splits.items()})
    manifest = {
        "key": key,
        "arguments": arguments,
        "builder_version": BUILDER_VERSION,
        "sources": per_source,
        "skipped": skipped,
        "totals": {name: {"docs": len(r), "chars": sum(len(x["text"]) for x in r)} for name, r in splits.items()},
        "files": files,
        "build_seconds": round(time.perf_counter() - started, 2),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    tmp = directory / f".manifest.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    tmp.replace(directory / "manifest.json")
    return Corpus(directory / "train.jsonl", directory / "valid.jsonl", manifest, key)
