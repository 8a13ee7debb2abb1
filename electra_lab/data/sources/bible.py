"""`bible`: the King James Bible, one document per chapter (1,189), one verse per paragraph.

Text: the Authorized (King James) Version, public domain in most of the world (Crown copyright
in the UK). Packaging: Debian `bible-kjv-text` (compressed text + concordance) and `bible-kjv`
(the `bible` reader), GPL-2+. The text is only stored compressed, so we ask the packaged reader
to print every verse (`-f` turns pretty-printing off: one "Ge1:1 text" line per verse).
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from electra_lab.data.clean import normalize_whitespace
from electra_lab.data.download import SourceUnavailable, extracted_apt_package
from electra_lab.data.sources.base import Document

SOURCE = "bible"
_VERSE = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+)\s+(.*)$")


# Shared libraries the reader links against; fetched from Debian only if the host lacks them.
_RUNTIME_LIBRARIES = ("libreadline8", "libtinfo6")


def _library_dirs(roots: list[Path]) -> list[str]:
    candidates = ("lib", "lib/x86_64-linux-gnu", "usr/lib", "usr/lib/x86_64-linux-gnu")
    return [str(root / c) for root in roots for c in candidates if (root / c).is_dir()]


def _run_reader(reader: Path, data_dir: Path, library_dirs: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if library_dirs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join([*library_dirs, env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
    cmd = [str(reader), "-f", "-p", str(data_dir), "-d", "bible.data", "gen1:1-rev22:21"]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
    except OSError as err:
        raise SourceUnavailable(f"the packaged `bible` reader cannot run here: {err}") from err


def _print_whole_bible(reader: Path, data_dir: Path, cache_dir: Path) -> str:
    result = _run_reader(reader, data_dir, [])
    if "error while loading shared libraries" in result.stderr:
        roots = [extracted_apt_package(lib, cache_dir) for lib in _RUNTIME_LIBRARIES]
        result = _run_reader(reader, data_dir, _library_dirs(roots))
    if result.returncode != 0 or not result.stdout:
        raise SourceUnavailable(f"`bible` reader failed (exit {result.returncode}): {result.stderr.strip()[-400:]}")
    return result.stdout


def chapters_from_listing(listing: str) -> Iterator[tuple[str, list[str]]]:
    """("Ge1", [verse, ...]) per chapter from the reader's one-verse-per-line output."""
    current, verses = None, []
    for line in listing.splitlines():
        match = _VERSE.match(line)
        if match is None:
            continue
        chapter = f"{match.group(1)}{match.group(2)}"
        if chapter != current:
            if verses:
                yield current, verses
            current, verses = chapter, []
        verses.append(normalize_whitespace(match.group(4)))
    if verses:
        yield current, verses


def documents(cache_dir: Path) -> Iterator[Document]:
    text_root = extracted_apt_package("bible-kjv-text", cache_dir)
    reader_root = extracted_apt_package("bible-kjv", cache_dir)
    data = next(text_root.rglob("bible.data"), None)
    reader = reader_root / "usr" / "bin" / "bible"
    if data is None or not reader.exists():
        raise SourceUnavailable("bible-kjv packages no longer ship usr/bin/bible and bible.data; update the loader")
    for chapter, verses in chapters_from_listing(_print_whole_bible(reader, data.parent, cache_dir)):
        yield Document.from_paragraphs(SOURCE, chapter, verses)
