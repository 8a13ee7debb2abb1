"""`debian:<package>`: HTML manuals from Debian doc packages, one document per HTML page.

Licences (from each package's /usr/share/doc/<pkg>/copyright; keep with any derived corpus):
  linux-doc-6.1           GPL-2 (kernel documentation)
  python3.11-doc          PSF License (Python documentation)
  postgresql-doc-15       PostgreSQL Licence (BSD-like)
  qtbase5-doc-html        GFDL-1.3 (Qt documentation)
  sqlite3-doc             public domain
  python-django-doc       BSD-3-Clause
  libreoffice-help-en-us  MPL-2.0
  gimp-help-en            GFDL-NIV-1.3
Only <p> text is kept (see clean.html_to_paragraphs), so the register is technical prose.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import decode_bytes, html_to_paragraphs
from electra_lab.data.download import extracted_apt_package
from electra_lab.data.sources.base import Document

KNOWN_PACKAGES = (
    "linux-doc-6.1", "python3.11-doc", "postgresql-doc-15", "qtbase5-doc-html", "sqlite3-doc",
    "python-django-doc", "libreoffice-help-en-us", "gimp-help-en",
)
# Generated index/search pages: lists of names, not prose.
_SKIP_NAMES = {"genindex.html", "search.html", "py-modindex.html", "modindex.html", "bookindex.html",
               "objects.html", "classes.html", "functions.html", "annotated.html", "hierarchy.html"}


def _html_pages(root: Path) -> Iterator[Path]:
    """Real (non-symlink) HTML files in sorted order, so documents come out deterministically."""
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".html", ".htm") or path.is_symlink() or not path.is_file():
            continue
        if path.name in _SKIP_NAMES or path.name.startswith("genindex-") or path.name.endswith("-members.html"):
            continue
        if "translations" in path.parts:  # the kernel's Chinese/Italian/Japanese/... translations
            continue
        yield path


def documents(cache_dir: Path, package: str) -> Iterator[Document]:
    root = extracted_apt_package(package, cache_dir)
    source = f"debian:{package}"
    for page in _html_pages(root / "usr"):
        paragraphs = html_to_paragraphs(decode_bytes(page.read_bytes()))
        if paragraphs:
            yield Document.from_paragraphs(source, str(page.relative_to(root)), paragraphs)
