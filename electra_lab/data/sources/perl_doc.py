"""`perl-doc`: the Perl 5 manual (perlintro, perlsyn, perlfaq*, perldelta ...), one document per .pod.

Licence: GPL-1+ or Artistic (Perl's own terms). Packaging: Debian `perl-doc`. POD is converted
with clean.pod_to_paragraphs (verbatim code blocks and commands dropped); the table of contents
(perltoc) is skipped because it is a list of headings, not prose.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import pod_to_paragraphs
from electra_lab.data.download import extracted_apt_package
from electra_lab.data.sources.base import Document

SOURCE = "perl-doc"
_SKIP = {"perltoc.pod"}


def documents(cache_dir: Path) -> Iterator[Document]:
    root = extracted_apt_package("perl-doc", cache_dir)
    for pod in sorted(root.rglob("*.pod")):
        if pod.name in _SKIP or pod.is_symlink():
            continue
        if paragraphs := pod_to_paragraphs(pod.read_text(encoding="utf-8", errors="replace")):
            yield Document.from_paragraphs(SOURCE, pod.stem, paragraphs)
