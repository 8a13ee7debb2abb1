"""`austen`: Jane Austen's six published novels, one document per chapter.

Text: public domain (Project Gutenberg transcriptions). Packaging: Debian `r-cran-janeaustenr`
(MIT, Julia Silge). The novels are character vectors (one element per printed line) stored in the
package's R lazy-load database data/Rdata.rdb, indexed by data/Rdata.rdx; each .rdb record is a
4-byte length followed by a zlib stream of R's serialisation format, which the `rdata` package reads.
"""
from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import normalize_whitespace
from electra_lab.data.download import SourceUnavailable, extracted_apt_package
from electra_lab.data.sources.base import Document

SOURCE = "austen"
_CHAPTER = re.compile(r"^\s*chapter\s+([0-9]+|[ivxlc]+)\.?\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(volume\s+[ivx0-9]+|the end|finis)\.?\s*$", re.IGNORECASE)


def _import_rdata():
    try:
        import rdata
    except ImportError as err:
        raise SourceUnavailable("the austen source needs the `rdata` package (pip install rdata)") from err
    return rdata


def read_lazyload_db(rdx: Path, rdb: Path) -> dict[str, object]:
    """Every object of an R lazy-load database (.rdx index + .rdb records) as Python values."""
    rdata = _import_rdata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns that the index has no RDS magic header
        index = rdata.read_rds(rdx)
    blob = rdb.read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        record = blob[int(offset) : int(offset) + int(length)]
        serialised = zlib.decompress(record[4:])  # first 4 bytes: uncompressed length
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = rdata.parser.parse_data(serialised)
        objects[str(name)] = rdata.conversion.convert(parsed)
    return objects


def chapters(lines: list[str]) -> list[list[str]]:
    """Split a novel's lines at chapter headings; the front matter before chapter 1 is dropped."""
    found: list[list[str]] = []
    for line in lines:
        if _CHAPTER.match(line):
            found.append([])
        elif found:
            found[-1].append(line)
    return found


def paragraphs(lines: list[str]) -> list[str]:
    """Blank-line-separated blocks joined onto one line; volume headings and 'THE END' dropped."""
    out, block = [], []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line)
            continue
        text = normalize_whitespace(" ".join(block))
        block = []
        if text and not _HEADING.match(text):
            out.append(text)
    return out


def documents(cache_dir: Path) -> Iterator[Document]:
    root = extracted_apt_package("r-cran-janeaustenr", cache_dir)
    data = next(root.rglob("janeaustenr/data"), None)
    if data is None or not (data / "Rdata.rdb").exists():
        raise SourceUnavailable("r-cran-janeaustenr no longer ships data/Rdata.rdb; the austen loader needs updating")
    novels = read_lazyload_db(data / "Rdata.rdx", data / "Rdata.rdb")
    for novel in sorted(novels):
        lines = ["" if line is None or line != line else str(line) for line in novels[novel]]  # NA -> ""
        for number, chapter in enumerate(chapters(lines), start=1):
            if text := paragraphs(chapter):
                yield Document.from_paragraphs(SOURCE, f"{novel}/chapter-{number:02d}", text)
