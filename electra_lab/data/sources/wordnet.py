"""`wordnet`: WordNet 3.0 glosses (definitions and example sentences), ~100 synsets per document.

Licence: WordNet 3.0 licence (Princeton University; free to use, copy and distribute with the
copyright notice). Packaging: Debian `wordnet-base`. Each synset line of data.{noun,verb,adj,adv}
ends with "| gloss"; we emit "lemma: gloss" per synset, keeping the files' order so neighbouring
glosses share a lexicographer file (topic).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import normalize_whitespace
from electra_lab.data.download import SourceUnavailable, extracted_apt_package
from electra_lab.data.sources.base import Document

SOURCE = "wordnet"
PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")
GLOSSES_PER_DOCUMENT = 100


def gloss_paragraph(line: str) -> str | None:
    """'00001740 03 n 01 entity 0 ... | that which is perceived ...' -> 'entity: that which ...'."""
    if line.startswith("  ") or " | " not in line:  # licence header lines start with two spaces
        return None
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    lemma = fields[4].replace("_", " ") if len(fields) > 4 else ""
    lemma = lemma.split("(")[0]  # adjective markers such as "(a)" / "(p)"
    gloss = normalize_whitespace(gloss)
    return f"{lemma}: {gloss}" if lemma and gloss else None


def documents(cache_dir: Path, per_document: int = GLOSSES_PER_DOCUMENT) -> Iterator[Document]:
    root = extracted_apt_package("wordnet-base", cache_dir)
    for pos in PARTS_OF_SPEECH:
        data = next(root.rglob(f"data.{pos}"), None)
        if data is None:
            raise SourceUnavailable(f"wordnet-base no longer ships data.{pos}; update the loader")
        batch, number = [], 0
        with open(data, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if (paragraph := gloss_paragraph(line)) is None:
                    continue
                batch.append(paragraph)
                if len(batch) == per_document:
                    number += 1
                    yield Document.from_paragraphs(SOURCE, f"{pos}-{number:04d}", batch)
                    batch = []
        if batch:
            yield Document.from_paragraphs(SOURCE, f"{pos}-{number + 1:04d}", batch)
