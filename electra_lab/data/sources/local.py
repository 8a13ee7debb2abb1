"""`local:<path>`: your own text, from one file or a folder (searched recursively, sorted).

Licence: whatever applies to your files; you are responsible for it.
Document boundaries:
  .txt        a run of two or more blank lines starts a new document (a file without one is one
              document); single blank lines separate paragraphs; lines within a paragraph are joined.
  .md         one document per file; fenced code blocks and heading lines are dropped.
  .html/.htm  one document per file, cleaned like the Debian manuals (<p> text only).
  .jsonl      one document per line, from its "text" field (a built corpus can be fed back in).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import decode_bytes, html_to_paragraphs, text_to_paragraphs
from electra_lab.data.download import SourceUnavailable
from electra_lab.data.sources.base import Document
from electra_lab.errors import ElectraLabError

SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
_DOCUMENT_BREAK = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)


def _markdown_paragraphs(text: str) -> list[str]:
    text = _FENCE.sub("", text)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return text_to_paragraphs(text)


class LocalTextError(ElectraLabError, ValueError):
    """A file of a local: source that cannot be read as the format its suffix names."""


def _jsonl_text(path: Path, number: int, line: str) -> str | None:
    """The "text" of one .jsonl line (None when it has none)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LocalTextError(f"local source file {path} line {number + 1} is not JSON ({exc.msg}): a .jsonl file "
                             'holds one {"text": ...} object per line') from None
    text = record.get("text") if isinstance(record, dict) else None
    if text is not None and not isinstance(text, str):
        raise LocalTextError(f"local source file {path} line {number + 1}: \"text\" is a {type(text).__name__}, "
                             "not a string")
    if not isinstance(record, dict):
        raise LocalTextError(f"local source file {path} line {number + 1} is a JSON {type(record).__name__}, not "
                             'an object with a "text" field')
    return text


def _file_documents(path: Path, source: str, doc_prefix: str) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        for number, line in enumerate(decode_bytes(path.read_bytes()).split("\n")):
            if line.strip() and (text := _jsonl_text(path, number, line)):
                yield Document.from_paragraphs(source, f"{doc_prefix}#{number}",
                                               text_to_paragraphs(text.replace("\n", "\n\n")))
        return
    text = decode_bytes(path.read_bytes())
    if suffix in (".html", ".htm"):
        chunks = [html_to_paragraphs(text)]
    elif suffix == ".md":
        chunks = [_markdown_paragraphs(text)]
    else:
        chunks = [text_to_paragraphs(chunk) for chunk in _DOCUMENT_BREAK.split(text.replace("\r\n", "\n"))]
    chunks = [c for c in chunks if c]
    for number, paragraphs in enumerate(chunks):
        doc_id = doc_prefix if len(chunks) == 1 else f"{doc_prefix}#{number}"
        yield Document.from_paragraphs(source, doc_id, paragraphs)


def documents(cache_dir: Path, location: str) -> Iterator[Document]:
    del cache_dir  # local text needs no download
    root = Path(location).expanduser()
    source = f"local:{location}"
    if root.is_file():
        yield from _file_documents(root, source, root.name)
    elif root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
            yield from _file_documents(path, source, str(path.relative_to(root)))
    else:
        raise SourceUnavailable(f"local source {location!r}: no such file or folder")
