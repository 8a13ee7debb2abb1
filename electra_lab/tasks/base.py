"""What every downstream task is made of: examples, splits, and one Task description.

A Task is pure description plus a loader. GLUE tasks and the offline suite share it, so the
fine-tuning recipe never asks where a task came from.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Example:
    """One labelled input. `label` is a class index, or a float for regression tasks.

    `group` keeps related examples (the two orderings of one hyperbaton item, the claims about
    one Wikipedia page) in the same split; it is used only when splitting.
    """

    text_a: str
    text_b: str | None
    label: int | float
    group: str | None = None


Splits = dict[str, list[Example]]  # "train", "dev", and for the offline suite "test"


@dataclass(frozen=True)
class SplitCaps:
    """Most examples kept per split; None keeps them all."""

    train: int | None = None
    dev: int | None = None
    test: int | None = None

    def cap(self, split: str) -> int | None:
        return getattr(self, split, None)


NO_CAPS = SplitCaps()


@dataclass(frozen=True)
class LoadOptions:
    """How to load a task. glue_dir: the original GLUE download (None = the hub).
    caps: None = the task's default caps; NO_CAPS = everything (e.g. for overlap checks)."""

    glue_dir: Path | None = None
    caps: SplitCaps | None = None


@dataclass(frozen=True)
class Task:
    """A downstream task: what to predict, how to score it, how long to fine-tune.

    metric: the headline metric (names as in metrics.METRICS); extra_metrics are reported too.
    num_labels: 1 means regression (MSE on label / regression_divisor).
    symmetric: a pair task whose training pairs are doubled with the sentences swapped.
    report_split: the split whose metric is reported ("test" offline; "dev" for GLUE, whose test
    labels are private); when it is "test", the epoch is chosen on "dev".
    """

    name: str
    metric: str
    num_labels: int
    is_pair: bool
    loader: Callable[[LoadOptions], Splits] = field(repr=False, compare=False)
    symmetric: bool = False
    epochs: int = 3
    regression_divisor: float = 1.0
    extra_metrics: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    report_split: str = "test"
    default_caps: SplitCaps = NO_CAPS
    suite: str = "offline"

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric, *self.extra_metrics)

    def load(self, options: LoadOptions | None = None) -> Splits:
        """Load the splits; caps left as None become this task's default caps."""
        options = options or LoadOptions()
        return self.loader(replace(options, caps=options.caps or self.default_caps))
