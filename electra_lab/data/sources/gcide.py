"""`gcide`: GNU Collaborative International Dictionary of English (mostly Webster's 1913).

Licence: GPL-2+ (GCIDE), packaging Debian `dict-gcide`. The register is archaic. We read the
dictd database (gcide.index gives each entry's offset/length in the gzip-compatible gcide.dict.dz),
keep each sense's definition text and quotations, drop pronunciations, etymologies, usage tags
and synonym lists, and group ENTRIES_PER_DOCUMENT consecutive entries into one document.
"""
from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import is_prose, normalize_whitespace
from electra_lab.data.download import SourceUnavailable, extracted_apt_package
from electra_lab.data.sources.base import Document

SOURCE = "gcide"
ENTRIES_PER_DOCUMENT = 200
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HEADWORD = re.compile(r"^(.+?)\s*\\[^\\\n]*\\\s*(\([^)\n]*\))?,?")
_ACCENT = re.compile(r"\[(['`\"^~=.]?)([a-zA-Z]{1,2})([=^'`~\"]?)\]")  # [=o] [oo^] ['e] [ae]
_CITATION = re.compile(r"\s*--\s?[A-Z][A-Za-z'&]*\.?(?:\s(?:[A-Z][A-Za-z'&]*\.?|&|de|of|v\.|\d+[.,]?))*")
_SENSE_NUMBER = re.compile(r"(?:^|(?<=\. ))(?:\d+\.|\([a-z]\))\s+(?=[A-Za-z(])")  # "1. To ...", "(b) ..."


def decode_dictd_number(text: str) -> int:
    value = 0
    for char in text:
        value = value * 64 + _B64.index(char)
    return value


def entry_spans(index_text: str) -> list[tuple[int, int]]:
    """Sorted unique (offset, length) of dictionary entries, skipping the 00-* database headers."""
    spans = set()
    for line in index_text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not parts[0].startswith("00-"):
            spans.add((decode_dictd_number(parts[1]), decode_dictd_number(parts[2])))
    return sorted(spans)


def _drop_brackets(text: str) -> str:
    """Remove [...] spans (etymologies, usage tags, source tags), nesting included."""
    out, depth = [], 0
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def entry_paragraphs(entry: str) -> list[str]:
    """Definition paragraphs of one entry; the first is prefixed with the headword."""
    entry = _ACCENT.sub(lambda m: m.group(2), entry)
    headword = None
    if match := _HEADWORD.match(entry):
        headword = match.group(1).replace('"', "").replace("*", "").replace("`", "")
        entry = entry[match.end():]
    paragraphs = []
    for block in re.split(r"\n\s*\n", entry):
        text = normalize_whitespace(_drop_brackets(block))
        if not text or text.startswith("Syn:"):
            continue
        text = _CITATION.sub("", text).replace("{", "").replace("}", "")
        text = _SENSE_NUMBER.sub("", text.removeprefix("Note:").strip())
        text = normalize_whitespace(text)
        if headword and not paragraphs:
            text = f"{headword}, {text}"
        if is_prose(text, min_words=4):
            paragraphs.append(text)
    return paragraphs


def documents(cache_dir: Path, per_document: int = ENTRIES_PER_DOCUMENT) -> Iterator[Document]:
    root = extracted_apt_package("dict-gcide", cache_dir)
    index, packed = next(root.rglob("gcide.index"), None), next(root.rglob("gcide.dict.dz"), None)
    if index is None or packed is None:
        raise SourceUnavailable("dict-gcide no longer ships gcide.index / gcide.dict.dz; update the loader")
    with gzip.open(packed, "rb") as handle:  # dictzip is gzip with a seek table; ~40 MB unpacked
        data = handle.read()
    batch, number = [], 0
    for offset, length in entry_spans(index.read_text(encoding="utf-8", errors="replace")):
        batch.extend(entry_paragraphs(data[offset : offset + length].decode("utf-8", errors="replace")))
        number += 1
        if number % per_document == 0 and batch:
            yield Document.from_paragraphs(SOURCE, f"entries-{number // per_document:05d}", batch)
            batch = []
    if batch:
        yield Document.from_paragraphs(SOURCE, f"entries-{number // per_document + 1:05d}", batch)
