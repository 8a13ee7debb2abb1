"""Data pipeline speed: corpus build, tokenizer, tokenisation + packing; cold and cached.

The cold run uses a fresh, empty cache folder (ELECTRA_LAB_CACHE points at it), seeded only with
the already-downloaded registry files of the normal cache (hard links), so it measures building,
not the network. The warm run repeats the same calls on the same folder: everything is reused
after its checksums verify.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from electra_lab.paths import cache_root


def _seed_downloads(source_cache: Path, fresh: Path) -> list[str]:
    """Hard-link (or copy) source_cache/downloads into the fresh cache; returns what was seeded."""
    src = source_cache / "downloads"
    if not src.is_dir():
        return []

    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, fresh / "downloads", copy_function=link, ignore=shutil.ignore_patterns(".lock", ".fetch-*"))
    return sorted(str(p.relative_to(fresh / "downloads")) for p in (fresh / "downloads").rglob("*") if p.is_file())


def _build_all(sources: list[str], cache: Path, tokenizer_kind: str, seq_len: int, seed: int) -> tuple:
    """(timings, corpus, packed blocks) of one corpus -> tokenizer -> pack pass."""
    from electra_lab.data.corpus import build_corpus
    from electra_lab.data.packing import PackingOptions, pack_corpus
    from electra_lab.data.tokenizer import load_or_build_tokenizer

    t0 = time.perf_counter()
    corpus = build_corpus(sources, seed=seed, skip_unavailable=False, cache_dir=cache)
    t1 = time.perf_counter()
    vocab = 8000 if tokenizer_kind == "wordpiece" else None
    tokenizer, key = load_or_build_tokenizer(tokenizer_kind, vocab, corpus.train_path, cache_dir=cache)
    t2 = time.perf_counter()
    packed = pack_corpus(corpus.train_path, corpus.valid_path, tokenizer, key,
                         PackingOptions(seq_len=seq_len, seed=seed), cache_dir=cache)
    t3 = time.perf_counter()
    times = {"corpus_s": t1 - t0, "tokenizer_s": t2 - t1, "pack_s": t3 - t2, "total_s": t3 - t0}
    return times, corpus, packed


def data_pipeline_speed(sources: list[str], seq_len: int = 128, tokenizer: str = "bert", seed: int = 0,
                        source_cache: Path | None = None) -> dict:
    source_cache = Path(source_cache) if source_cache else cache_root()
    previous = os.environ.get("ELECTRA_LAB_CACHE")
    with tempfile.TemporaryDirectory(prefix="electra-bench-cache-") as tmp:
        fresh = Path(tmp)
        seeded = _seed_downloads(source_cache, fresh)
        os.environ["ELECTRA_LAB_CACHE"] = str(fresh)
        try:
            cold, corpus, packed = _build_all(sources, fresh, tokenizer, seq_len, seed)
            warm, _, _ = _build_all(sources, fresh, tokenizer, seq_len, seed)
        finally:
            if previous is None:
                os.environ.pop("ELECTRA_LAB_CACHE", None)
            else:
                os.environ["ELECTRA_LAB_CACHE"] = previous
    totals = corpus.manifest["totals"]
    splits = packed.meta["splits"]
    text_bytes = sum(s["text_bytes"] for s in splits.values())
    text_tokens = sum(s["text_tokens"] for s in splits.values())
    return {
        "sources": sources, "tokenizer": tokenizer, "seq_len": seq_len,
        "downloads_note": (f"seeded with {len(seeded)} downloaded files from {source_cache}" if seeded
                           else "nothing to seed: the cold run includes downloading"),
        "text_mb": text_bytes / 1e6, "text_chars": sum(t["chars"] for t in totals.values()),
        "text_tokens": text_tokens, "blocks": sum(s["n_blocks"] for s in splits.values()),
        "cold": cold, "warm": warm,
        "corpus_mb_per_s": text_bytes / 1e6 / cold["corpus_s"],
        "pack_mb_per_s": text_bytes / 1e6 / cold["pack_s"],
        "pack_tokens_per_s": text_tokens / cold["pack_s"],
    }
