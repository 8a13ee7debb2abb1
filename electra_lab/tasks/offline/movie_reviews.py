"""Rotten Tomatoes movie-review snippets with human sentiment ratings (the sentences SST was built
from), from the VADER paper's ground-truth data.

Source: PyPI sdist vaderSentiment 3.3.2 -> additional_resources/hutto_ICWSM_2014.tar.gz ->
hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt: 10,605 lines "id<TAB>mean rating<TAB>text"
(CRLF), the rating the mean of human judgements on -4..+4.
Licence: vaderSentiment is MIT-licensed (C.J. Hutto, 2016); cite Hutto & Gilbert, ICWSM 2014.
Pang & Lee's polarity data (in other packages) overlaps these sentences ~97%: never train on
one and test on the other.

Two tasks from one file, split identically (same salt), so a sentence is in the same split in both:
  movie_polarity  (SST-2 analogue): sign of the rating, zeros dropped; accuracy.
  movie_intensity (STS-B analogue): the rating itself, regression; Spearman.
"""
from __future__ import annotations

from pathlib import Path

from electra_lab.tasks.base import Example, LoadOptions, SplitCaps, Splits, Task
from electra_lab.tasks.offline.sources import Member, TaskDataError, package_files
from electra_lab.tasks.splits import split_and_cap

PACKAGE = ("vaderSentiment", "3.3.2")
GROUND_TRUTH = Member(
    path="additional_resources/hutto_ICWSM_2014.tar.gz",
    inner="hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
    sha256="c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
)
SALT = "movie_reviews:v1"
DEFAULT_CAPS = SplitCaps(train=2000, dev=500, test=1000)
RATING_RANGE = 4.0  # ratings lie in -4..+4; regression targets are rating / 4


def ground_truth_file() -> Path:
    return package_files("vader", *PACKAGE, {"movieReviewSnippets_GroundTruth.txt": GROUND_TRUTH}, sdist=True)[
        "movieReviewSnippets_GroundTruth.txt"
    ]


def read_ratings(path: Path) -> list[tuple[str, float]]:
    """(text, mean rating) per line of a VADER ground-truth file."""
    rows = []
    # universal newlines turn the CRLF into "\n"; split on it alone (splitlines would also split
    # on rare separators such as U+2028 inside a snippet)
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise TaskDataError(f"{path.name}:{number}: expected id<TAB>rating<TAB>text, got {len(fields)} fields")
        rows.append((fields[2].strip(), float(fields[1])))
    return rows


def polarity_examples(rows: list[tuple[str, float]]) -> list[Example]:
    """1 = positive, 0 = negative; a rating of exactly 0 has no polarity and is dropped."""
    return [Example(text, None, int(rating > 0)) for text, rating in rows if rating != 0]


def intensity_examples(rows: list[tuple[str, float]]) -> list[Example]:
    return [Example(text, None, rating) for text, rating in rows]


def load_movie_polarity(options: LoadOptions, path: Path | None = None) -> Splits:
    examples = polarity_examples(read_ratings(path or ground_truth_file()))
    return split_and_cap(examples, salt=SALT, caps=options.caps or DEFAULT_CAPS)


def load_movie_intensity(options: LoadOptions, path: Path | None = None) -> Splits:
    examples = intensity_examples(read_ratings(path or ground_truth_file()))
    return split_and_cap(examples, salt=SALT, caps=options.caps or DEFAULT_CAPS, regression=True)


TASKS = (
    Task(
        name="movie_polarity",
        metric="accuracy",
        num_labels=2,
        is_pair=False,
        loader=load_movie_polarity,
        label_names=("negative", "positive"),
        default_caps=DEFAULT_CAPS,
    ),
    Task(
        name="movie_intensity",
        metric="spearman",
        num_labels=1,
        is_pair=False,
        loader=load_movie_intensity,
        regression_divisor=RATING_RANGE,
        extra_metrics=("pearson",),
        default_caps=DEFAULT_CAPS,
    ),
)
