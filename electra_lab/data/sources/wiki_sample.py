"""`wiki_sample`: 106 English Wikipedia articles (2016 dump excerpt), one document per article.

Licence: Wikipedia text is CC BY-SA 3.0 (and GFDL); attribution is to the article's Wikipedia
authors. Packaging: the test data of the PyPI wheel `gensim` 4.4.0 (LGPL-2.1), file
gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2.
Only this member is read (straight from the wheel); redirects and non-article pages are skipped.
"""
from __future__ import annotations

import bz2
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from electra_lab.data.clean import wiki_to_paragraphs
from electra_lab.data.download import SourceUnavailable, pypi_download
from electra_lab.data.sources.base import Document

SOURCE = "wiki_sample"
WHEEL = ("gensim", "4.4.0")
MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # drop the MediaWiki export namespace


def articles(dump: IO[bytes]) -> Iterator[tuple[str, str]]:
    """(title, wikitext) for each main-namespace, non-redirect page of a MediaWiki XML dump."""
    for _, element in ElementTree.iterparse(dump, events=("end",)):
        if _local(element.tag) != "page":
            continue
        fields = {_local(child.tag): child for child in element}
        text = element.find("./{*}revision/{*}text")
        is_article = fields.get("ns") is not None and fields["ns"].text == "0" and "redirect" not in fields
        if is_article and text is not None and text.text:
            yield fields["title"].text or "", text.text
        element.clear()  # keep memory flat while streaming


def documents(cache_dir: Path) -> Iterator[Document]:
    wheel = pypi_download(*WHEEL, cache_dir=cache_dir)
    with zipfile.ZipFile(wheel) as archive:
        if MEMBER not in archive.namelist():
            raise SourceUnavailable(f"{wheel.name} no longer contains {MEMBER}; update the wiki_sample loader")
        with archive.open(MEMBER) as packed, bz2.open(packed) as dump:
            for title, markup in articles(dump):
                if paragraphs := wiki_to_paragraphs(markup):
                    yield Document.from_paragraphs(SOURCE, title, paragraphs)
