"""The one registry of downstream tasks, and the suites built from it."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from electra_lab.errors import ElectraLabError
from electra_lab.tasks.base import LoadOptions, Splits, Task
from electra_lab.tasks.glue import GLUE_SCORE_TASKS, GLUE_TASKS
from electra_lab.tasks.offline import OFFLINE_TASKS

TASKS: dict[str, Task] = {**GLUE_TASKS, **OFFLINE_TASKS}

SUITES: dict[str, tuple[str, ...]] = {
    "glue": GLUE_SCORE_TASKS,
    "offline": ("movie_polarity", "movie_intensity", "vitaminc", "hyperbaton", "winowhy", "bbc_topic"),
}

# spellings people use for GLUE tasks (folder names of the original download)
_ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "mnli_matched": "mnli"}


class UnknownTaskError(ElectraLabError, KeyError, ValueError):  # KeyError, ValueError: what callers caught before
    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def get_task(name: str | Task) -> Task:
    if isinstance(name, Task):
        return name
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    return TASKS[key]


def suite_tasks(suite: str, tasks: Iterable[str | Task] | None = None) -> list[Task]:
    """The suite's tasks, or the named subset (any registered task may be named)."""
    if suite not in SUITES:
        raise UnknownTaskError(f"unknown suite {suite!r}; valid suites: {', '.join(sorted(SUITES))}")
    return [get_task(t) for t in (tasks if tasks is not None else SUITES[suite])]


def load_task(name: str | Task, options: LoadOptions | None = None) -> Splits:
    return get_task(name).load(options)


def fetch_suite(suite: str, tasks: Iterable[str | Task] | None = None, glue_dir: Path | None = None) -> None:
    """Load each task of the suite (or the named ones) once, so its files are fetched and checked:
    what a long run calls before it pretrains, so a task that cannot be had stops it in seconds."""
    for task in suite_tasks(suite, tasks):
        task.load(LoadOptions(glue_dir=glue_dir))
