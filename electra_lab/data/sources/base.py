"""The unit every text source yields: one document of clean paragraphs."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Document:
    source: str  # the source spec it came from, e.g. "debian:sqlite3-doc"
    doc_id: str  # stable within the source (a file path, a chapter, a book)
    text: str  # paragraphs separated by "\n"; no paragraph contains a newline

    @staticmethod
    def from_paragraphs(source: str, doc_id: str, paragraphs: list[str]) -> Document:
        return Document(source, doc_id, "\n".join(paragraphs))


# A resolved source: given the cache folder, stream its documents.
SourceFn = Callable[[Path], Iterator[Document]]
