"""Three BIG-bench JSON tasks turned into fine-tuning examples.

Source: PyPI sdist bigbench 1.0.0 (358 MB) -> bigbench/benchmark_tasks/<task>/task.json, each
{"examples": [{"input": ..., "target_scores": {choice: 0/1}}]}. PyPI stopped serving that sdist in
December 2026 (only 0.0.1, without the tasks, is listed); the same paths in the google/BIG-bench
repository (a checkout named in ELECTRA_LAB_BIGBENCH_SOURCE, or its raw files) are the other homes,
held to the same sha256 pins.
Licence: the BIG-bench repository is Apache-2.0; the sdist's metadata states none, and these task
files state no separate licence. Every file carries a canary asking that it never appear in
training corpora: never pretrain on it (tasks.overlap.check_no_overlap enforces that).

  vitaminc   (MNLI analogue, 3-way, accuracy): "<page>: <evidence>\\nClaim: <claim>" with
             True / False / Neither -> pair (evidence, claim); split by Wikipedia page, so the
             contrastive claims about one page never straddle train and test.
  hyperbaton (CoLA analogue, MCC): "which is the correct adjective order: a "X" b "Y"?" -> both
             X and Y as single sentences, acceptable or not; an item's two orderings share a split.
  winowhy    (WNLI/RTE analogue, binary, accuracy): "<Winograd sentence> The 'it' refers to X
             because <reason>." correct / incorrect -> pair (sentence, explanation); split by
             the Winograd sentence.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from electra_lab.tasks.base import Example, LoadOptions, SplitCaps, Splits, Task
from electra_lab.tasks.offline.sources import Member, TaskDataError, package_files
from electra_lab.tasks.splits import split_and_cap

PACKAGE = ("bigbench", "1.0.0")
REPOSITORY_RAW = "https://raw.githubusercontent.com/google/BIG-bench/main/"


def _member(path: str, sha256: str) -> Member:
    return Member(path, sha256, url=REPOSITORY_RAW + path)


MEMBERS = {
    "vitaminc_fact_verification.json": _member(
        "bigbench/benchmark_tasks/vitaminc_fact_verification/task.json",
        "10f83da50374701fc7ce69162a7a167b14e1a86351201aa8bf14b56fa0a3214f",
    ),
    "hyperbaton.json": _member(
        "bigbench/benchmark_tasks/hyperbaton/task.json",
        "8cd85fac8281210a1276a82fddd493a27b0484b84ddf65f0b4f9b4476d6233e2",
    ),
    "winowhy.json": _member(
        "bigbench/benchmark_tasks/winowhy/task.json",
        "c36fa38ab146fd7cc60e9f4b7a34c979c5ffbcb4a6870302bf8d785fbe64d1f6",
    ),
}
DEFAULT_CAPS = SplitCaps(train=2000, dev=500, test=1000)

VITAMINC_LABELS = ("True", "False", "Neither")
WINOWHY_LABELS = ("incorrect", "correct")
_CLAIM = re.compile(r"^(?P<evidence>.*)\nClaim: (?P<claim>.*)$", re.S)
_HYPERBATON = re.compile(r'^Which sentence has the correct adjective order: a " (?P<a>.*) " b " (?P<b>.*) " \?$')
_WINOWHY = re.compile(r"^(?P<sentence>.*?)\s*(?P<reason>The '[^']+' refers to .*)$", re.S)


def task_file(key: str) -> Path:
    return package_files("bigbench", *PACKAGE, MEMBERS, sdist=True)[key]


def read_bigbench(path: Path) -> list[dict]:
    examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    for example in examples:
        scores = example["target_scores"]
        if sorted(scores.values()) != [0] * (len(scores) - 1) + [1]:
            raise TaskDataError(f"{path}: expected exactly one correct choice, got {scores}")
    return examples


def correct_choice(example: dict) -> str:
    return max(example["target_scores"], key=example["target_scores"].get)


def _match(pattern: re.Pattern, text: str, task: str) -> re.Match:
    match = pattern.match(text)
    if match is None:
        raise TaskDataError(f"{task}: input not in the expected format: {text[:120]!r}")
    return match


def vitaminc_examples(raw: list[dict]) -> list[Example]:
    out = []
    for example in raw:
        m = _match(_CLAIM, example["input"], "vitaminc")
        evidence, claim = m["evidence"].strip(), m["claim"].strip()
        page = evidence.split(": ", 1)[0]
        out.append(Example(evidence, claim, VITAMINC_LABELS.index(correct_choice(example)), group=page))
    return out


def hyperbaton_examples(raw: list[dict]) -> list[Example]:
    out = []
    for example in raw:
        m = _match(_HYPERBATON, example["input"], "hyperbaton")
        right = correct_choice(example)
        item = " ".join(sorted(m["a"].split()))  # both orderings of one item share this key
        for choice in ("a", "b"):
            out.append(Example(m[choice], None, int(choice == right), group=item))
    return out


def winowhy_examples(raw: list[dict]) -> list[Example]:
    out = []
    for example in raw:
        m = _match(_WINOWHY, example["input"], "winowhy")
        label = WINOWHY_LABELS.index(correct_choice(example))
        out.append(Example(m["sentence"], m["reason"], label, group=m["sentence"]))
    return out


def _loader(key: str, to_examples, salt: str):
    def load(options: LoadOptions, path: Path | None = None) -> Splits:
        examples = to_examples(read_bigbench(path or task_file(key)))
        return split_and_cap(examples, salt=salt, caps=options.caps or DEFAULT_CAPS)

    return load


load_vitaminc = _loader("vitaminc_fact_verification.json", vitaminc_examples, "vitaminc:v1")
load_hyperbaton = _loader("hyperbaton.json", hyperbaton_examples, "hyperbaton:v1")
load_winowhy = _loader("winowhy.json", winowhy_examples, "winowhy:v1")

TASKS = (
    Task(
        name="vitaminc",
        metric="accuracy",
        num_labels=3,
        is_pair=True,
        loader=load_vitaminc,
        label_names=VITAMINC_LABELS,
        default_caps=DEFAULT_CAPS,
    ),
    Task(
        name="hyperbaton",
        metric="matthews_corr",
        num_labels=2,
        is_pair=False,
        loader=load_hyperbaton,
        label_names=("unacceptable", "acceptable"),
        extra_metrics=("accuracy",),
        default_caps=DEFAULT_CAPS,
    ),
    Task(
        name="winowhy",
        metric="accuracy",
        num_labels=2,
        is_pair=True,
        loader=load_winowhy,
        label_names=WINOWHY_LABELS,
        extra_metrics=("matthews_corr",),
        default_caps=DEFAULT_CAPS,
    ),
)
