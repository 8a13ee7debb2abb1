"""GLUE: the paper's eight tasks (plus WNLI, excluded from the score), from the hub or from a
folder in the layout of the original GLUE download (glue_data/SST-2/train.tsv, ...).

Metrics as in the paper: MCC for CoLA, Spearman for STS-B, accuracy for the rest (F1 also
reported for MRPC and QQP); MNLI is scored on the matched dev set. Test labels are private,
so GLUE results are dev results. The GLUE score is the plain mean of the eight.

The TSV column positions are those of the original files (the same ones transformers'
deprecated GLUE processors read); the files are read without quote handling, because QQP and
MNLI contain unbalanced quote characters.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.tasks.base import NO_CAPS, Example, LoadOptions, Splits, Task
from electra_lab.tasks.splits import apply_caps

log = logging.getLogger(__name__)

HUB_DATASET = "nyu-mll/glue"
OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


class GlueUnavailableError(ElectraLabError, RuntimeError):
    """GLUE could not be loaded (offline, missing folder, malformed file)."""


@dataclass(frozen=True)
class TsvLayout:
    """Where a task's fields sit in the original GLUE TSV files (0-based; -1 = last column)."""

    folder: str
    text_a: int
    text_b: int | None
    label: int
    header: bool = True
    dev_file: str = "dev.tsv"


@dataclass(frozen=True)
class HubLayout:
    """Column names and dev split name of the task in the hub's nyu-mll/glue configs."""

    text_a: str
    text_b: str | None
    dev_split: str = "validation"


TSV_LAYOUTS: dict[str, TsvLayout] = {
    # CoLA train/dev have no header: source, label, original annotation, sentence
    "cola": TsvLayout("CoLA", text_a=3, text_b=None, label=1, header=False),
    "sst2": TsvLayout("SST-2", text_a=0, text_b=None, label=1),  # sentence, label
    # Quality, #1 ID, #2 ID, #1 String, #2 String
    "mrpc": TsvLayout("MRPC", text_a=3, text_b=4, label=0),
    # index genre filename year old_index source1 source2 sentence1 sentence2 score
    "stsb": TsvLayout("STS-B", text_a=7, text_b=8, label=-1),
    # id qid1 qid2 question1 question2 is_duplicate
    "qqp": TsvLayout("QQP", text_a=3, text_b=4, label=5),
    # index promptID pairID genre 4 parse columns sentence1 sentence2 label1 [label2..5] gold_label
    "mnli": TsvLayout("MNLI", text_a=8, text_b=9, label=-1, dev_file="dev_matched.tsv"),
    "qnli": TsvLayout("QNLI", text_a=1, text_b=2, label=-1),  # index question sentence label
    "rte": TsvLayout("RTE", text_a=1, text_b=2, label=-1),  # index sentence1 sentence2 label
    "wnli": TsvLayout("WNLI", text_a=1, text_b=2, label=-1),
}

HUB_LAYOUTS: dict[str, HubLayout] = {
    "cola": HubLayout("sentence", None),
    "sst2": HubLayout("sentence", None),
    "mrpc": HubLayout("sentence1", "sentence2"),
    "stsb": HubLayout("sentence1", "sentence2"),
    "qqp": HubLayout("question1", "question2"),
    "mnli": HubLayout("premise", "hypothesis", dev_split="validation_matched"),
    "qnli": HubLayout("question", "sentence"),
    "rte": HubLayout("sentence1", "sentence2"),
    "wnli": HubLayout("sentence1", "sentence2"),
}

# The paper's eight; WNLI is loadable but never part of the score.
GLUE_SCORE_TASKS = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte")


# ---------------------------------------------------------------- labels


def parse_label(raw: str | int | float, task: Task) -> int | float:
    """A TSV string or hub value -> class index (label names in hub order) or float score."""
    if task.is_regression:
        return float(raw)
    if isinstance(raw, str) and raw.strip() in task.label_names:
        return task.label_names.index(raw.strip())
    index = int(raw)
    if not 0 <= index < task.num_labels:
        raise ValueError(f"{task.name}: label {raw!r} outside 0..{task.num_labels - 1}")
    return index


# ---------------------------------------------------------------- original TSV folders


def read_glue_tsv(path: Path, task: Task) -> list[Example]:
    layout = TSV_LAYOUTS[task.name]
    if not path.is_file():
        raise GlueUnavailableError(f"GLUE {task.name}: missing {path} (expected the original GLUE layout)")
    needed = max(i for i in (layout.text_a, layout.text_b, layout.label) if i is not None and i >= 0) + 1
    examples, skipped = [], 0
    csv.field_size_limit(sys.maxsize)
    try:
        text = path.read_bytes().decode("utf-8-sig")  # -sig: some MRPC copies carry a BOM
    except UnicodeDecodeError as exc:
        raise GlueUnavailableError(f"GLUE {task.name}: {path} is not UTF-8 text (byte {exc.start}: "
                                   f"{exc.reason}); expected the original GLUE TSV files") from None
    with io.StringIO(text, newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if layout.header:
            next(rows, None)
        for row in rows:
            if len(row) < needed or not row[layout.label].strip():
                skipped += 1  # QQP's train file has a few broken lines
                continue
            text_b = row[layout.text_b] if layout.text_b is not None else None
            try:
                label = parse_label(row[layout.label], task)
            except ValueError as error:  # the user's file, not our code: name it and the line
                raise GlueUnavailableError(f"GLUE {task.name}: {path} line {rows.line_num}: {error}") from None
            examples.append(Example(row[layout.text_a], text_b, label))
    if skipped:
        log.warning("GLUE %s: skipped %d malformed rows in %s", task.name, skipped, path)
    if not examples:
        raise GlueUnavailableError(f"GLUE {task.name}: no examples read from {path}")
    return examples


def load_glue_folder(task: Task, glue_dir: Path) -> Splits:
    layout = TSV_LAYOUTS[task.name]
    folder = Path(glue_dir) / layout.folder
    return {
        "train": read_glue_tsv(folder / "train.tsv", task),
        "dev": read_glue_tsv(folder / layout.dev_file, task),
    }


# ---------------------------------------------------------------- hub


def hub_is_offline() -> bool:
    return any(os.environ.get(flag, "").strip().lower() in ("1", "true", "yes", "on") for flag in OFFLINE_FLAGS)


def examples_from_hub(rows: Iterable[Mapping], task: Task) -> list[Example]:
    """Rows with the hub's column names (a datasets.Dataset iterates as dicts) -> Examples.
    Rows labelled -1 (the hub's unlabelled test rows) are skipped."""
    layout = HUB_LAYOUTS[task.name]
    examples = []
    for row in rows:
        if not task.is_regression and int(row["label"]) < 0:
            continue
        text_b = row[layout.text_b] if layout.text_b else None
        examples.append(Example(row[layout.text_a], text_b, parse_label(row["label"], task)))
    return examples


def load_glue_hub(task: Task) -> Splits:
    """datasets.load_dataset("nyu-mll/glue", task). With HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set
    only the local cache is tried, so an uncached task fails in about a second, not ~24 s."""
    import datasets  # heavy; only the hub path needs it

    offline = hub_is_offline()
    try:
        data = datasets.load_dataset(HUB_DATASET, task.name)
    except Exception as error:  # datasets raises several types for "not reachable"
        why = (
            f"{'/'.join(OFFLINE_FLAGS)} is set and it is not in the local datasets cache"
            if offline
            else f"the hub could not be reached ({type(error).__name__}: {error})"
        )
        raise GlueUnavailableError(
            f"cannot load GLUE task {task.name!r} from the hub ({HUB_DATASET}): {why}. "
            f"Pass glue_dir=<folder of the original GLUE download, e.g. glue_data/ holding "
            f"{TSV_LAYOUTS[task.name].folder}/train.tsv> instead."
        ) from error
    return {
        "train": examples_from_hub(data["train"], task),
        "dev": examples_from_hub(data[HUB_LAYOUTS[task.name].dev_split], task),
    }


def load_glue(task_name: str, options: LoadOptions) -> Splits:
    task = GLUE_TASKS[task_name]
    splits = load_glue_folder(task, options.glue_dir) if options.glue_dir else load_glue_hub(task)
    caps = options.caps or NO_CAPS
    return splits if caps == NO_CAPS else apply_caps(splits, caps, salt=f"glue:{task.name}")


# ---------------------------------------------------------------- tasks and score


def _glue_task(name: str, metric: str, num_labels: int, is_pair: bool, label_names: tuple[str, ...] = (), **kw) -> Task:
    return Task(
        name=name,
        metric=metric,
        num_labels=num_labels,
        is_pair=is_pair,
        loader=partial(load_glue, name),
        label_names=label_names,
        report_split="dev",
        suite="glue",
        **kw,
    )


GLUE_TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _glue_task("cola", "matthews_corr", 2, False, ("unacceptable", "acceptable"), extra_metrics=("accuracy",)),
        _glue_task("sst2", "accuracy", 2, False, ("negative", "positive")),
        _glue_task("mrpc", "accuracy", 2, True, ("not_equivalent", "equivalent"), symmetric=True,
                   extra_metrics=("f1",)),
        _glue_task("stsb", "spearman", 1, True, symmetric=True, epochs=10, regression_divisor=5.0,
                   extra_metrics=("pearson",)),
        _glue_task("qqp", "accuracy", 2, True, ("not_duplicate", "duplicate"), extra_metrics=("f1",)),
        _glue_task("mnli", "accuracy", 3, True, ("entailment", "neutral", "contradiction")),
        _glue_task("qnli", "accuracy", 2, True, ("entailment", "not_entailment")),
        _glue_task("rte", "accuracy", 2, True, ("entailment", "not_entailment"), epochs=10),
        _glue_task("wnli", "accuracy", 2, True, ("not_entailment", "entailment")),
    )
}


def glue_score(task_scores: Mapping[str, float]) -> float:
    """Plain mean of the eight tasks' headline metrics (WNLI never counts)."""
    missing = [t for t in GLUE_SCORE_TASKS if t not in task_scores]
    if missing:
        raise ValueError(f"GLUE score needs all of {list(GLUE_SCORE_TASKS)}; missing {missing}")
    return sum(task_scores[t] for t in GLUE_SCORE_TASKS) / len(GLUE_SCORE_TASKS)
