"""`hub:<dataset>[:<config>]`: any Hugging Face hub corpus with a "text" column (train split).

Licence: that of the dataset (see its card), e.g. wikitext is CC BY-SA 3.0.
Rows become documents one per row, except WikiText-style datasets (one line per row, articles
headed by " = Title = ") whose rows are regrouped into one document per article.
Without network this fails fast with SourceUnavailable naming the dataset: with HF_HUB_OFFLINE /
HF_DATASETS_OFFLINE set only the local hub cache is tried; otherwise the hub endpoint is probed
for a few seconds first, instead of letting `datasets` retry for tens of seconds.
"""
from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from electra_lab.config import ConfigError
from electra_lab.data.clean import normalize_whitespace
from electra_lab.data.download import SourceUnavailable
from electra_lab.data.sources.base import Document

_TRUE = {"1", "true", "yes", "on"}
_ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")  # wikitext top-level heading; " = = x = = " is a section


def offline_requested() -> bool:
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'wikitext:wikitext-103-raw-v1' -> ('wikitext', 'wikitext-103-raw-v1')."""
    name, _, config = spec.partition(":")
    if not name:
        raise ConfigError(f"hub source needs a dataset name, got 'hub:{spec}'")
    return name, config or None


def _load_train_split(name: str, config: str | None):
    label = f"{name}" + (f" ({config})" if config else "")
    import datasets

    # `datasets` reads the offline switches once, at import; probe the network ourselves unless
    # the library is already offline (it then only looks in the local hub cache, which is fast).
    if not datasets.config.HF_HUB_OFFLINE and not hub_reachable():
        raise SourceUnavailable(
            f"hub dataset {label}: the Hugging Face hub is unreachable from this machine. "
            "Set HF_DATASETS_OFFLINE=1 (before starting Python) to use a copy in the local hub cache."
        )
    try:
        return datasets.load_dataset(name, config, split="train")
    except Exception as err:  # ConnectionError, DatasetNotFoundError, FileNotFoundError ...
        hint = " (offline mode: only the local hub cache was searched)" if offline_requested() else ""
        raise SourceUnavailable(f"hub dataset {label} could not be loaded{hint}: {err}") from err


def group_wikitext(lines: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """(title, paragraphs) per article from WikiText's one-line-per-row layout."""
    title, paragraphs = None, []
    for line in lines:
        if _ARTICLE_TITLE.match(line.rstrip("\n")):
            if paragraphs:
                yield title or "untitled", paragraphs
            title, paragraphs = line.strip(" =\n"), []
        elif line.strip() and not line.strip().startswith("="):
            paragraphs.append(normalize_whitespace(line))
    if paragraphs:
        yield title or "untitled", paragraphs


def documents(cache_dir: Path, spec: str) -> Iterator[Document]:
    del cache_dir  # the hub keeps its own cache (HF_HOME)
    name, config = parse_spec(spec)
    source = f"hub:{spec}"
    table = _load_train_split(name, config)
    if "text" not in table.column_names:
        raise SourceUnavailable(f"hub dataset {name}: no 'text' column (columns: {table.column_names})")
    rows = (row["text"] for row in table)
    if "wikitext" in name.lower():
        for number, (title, paragraphs) in enumerate(group_wikitext(rows)):
            yield Document.from_paragraphs(source, f"{number:07d}:{title}", paragraphs)
        return
    for number, text in enumerate(rows):
        paragraphs = [normalize_whitespace(p) for p in (text or "").split("\n") if p.strip()]
        if paragraphs:
            yield Document.from_paragraphs(source, f"{number:07d}", paragraphs)
