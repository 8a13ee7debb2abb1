"""What fine-tuning returns: per-seed runs, per-task median and spread, and the suite score.

Metrics are fractions (0.853), as sklearn returns them; table() prints them x100 like the paper.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

import pandas as pd


@dataclass
class SeedResult:
    task: str
    seed: int
    metric: str  # headline metric name
    score: float  # headline metric on the reported split
    metrics: dict[str, float]  # every metric of the task on the reported split
    report_split: str  # "test" (offline) or "dev" (GLUE)
    dev_by_epoch: list[float]  # headline metric on dev after each evaluated epoch (max_dev_evals)
    best_epoch: int  # 1-based epoch whose model was reported
    train_examples: int  # after swapped-pair doubling
    seconds: float


@dataclass
class TaskResult:
    task: str
    metric: str
    report_split: str
    runs: list[SeedResult] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.runs]

    @property
    def median(self) -> float:
        return float(statistics.median(self.scores))

    @property
    def min(self) -> float:
        return min(self.scores)

    @property
    def max(self) -> float:
        return max(self.scores)

    @property
    def std(self) -> float:
        return statistics.stdev(self.scores) if len(self.runs) > 1 else 0.0

    @property
    def dev_scores(self) -> list[float]:
        """Each seed's dev score at the epoch it reported (the best on dev; nan where none was kept)."""
        return [r.dev_by_epoch[r.best_epoch - 1] if r.dev_by_epoch else float("nan") for r in self.runs]

    @property
    def dev_median(self) -> float:
        return float(statistics.median(self.dev_scores))


@dataclass
class SuiteResult:
    suite: str
    model_dir: str
    random_init: bool
    tasks: dict[str, TaskResult]
    options: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        """Mean over tasks of the median-over-seeds headline metric (for GLUE: the GLUE score
        when all eight tasks ran)."""
        return sum(t.median for t in self.tasks.values()) / len(self.tasks)

    @property
    def dev_score(self) -> float:
        """score's counterpart on dev: the mean over tasks of the median over seeds of each seed's
        dev score at its chosen epoch. What a search may select on; `score` is reported, never chosen by."""
        return sum(t.dev_median for t in self.tasks.values()) / len(self.tasks)

    def to_frame(self) -> pd.DataFrame:
        """One row per (task, seed), one column per metric."""
        rows = []
        for t in self.tasks.values():
            for r in t.runs:
                rows.append(
                    {
                        "task": r.task,
                        "seed": r.seed,
                        "metric": r.metric,
                        "score": r.score,
                        "split": r.report_split,
                        "best_epoch": r.best_epoch,
                        "train_examples": r.train_examples,
                        "seconds": r.seconds,
                        **r.metrics,
                    }
                )
        return pd.DataFrame(rows)

    def summary_frame(self) -> pd.DataFrame:
        """One row per task: median and spread of the headline metric over seeds."""
        return pd.DataFrame(
            [
                {"task": t.task, "metric": t.metric, "split": t.report_split, "seeds": len(t.runs),
                 "median": t.median, "min": t.min, "max": t.max, "std": t.std}
                for t in self.tasks.values()
            ]
        )

    def table(self) -> str:
        lines = [f"{'task':<16} {'metric':<14} {'split':<5} {'seeds':>5} "
                 f"{'median':>7} {'min':>7} {'max':>7} {'std':>6}"]
        for t in self.tasks.values():
            lines.append(
                f"{t.task:<16} {t.metric:<14} {t.report_split:<5} {len(t.runs):>5} "
                f"{100 * t.median:>7.1f} {100 * t.min:>7.1f} {100 * t.max:>7.1f} {100 * t.std:>6.1f}"
            )
        kind = "random init" if self.random_init else "pretrained"
        lines.append(f"{self.suite} score ({kind}): {100 * self.score:.1f}   [{self.seconds:.0f} s]")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready), medians and the score included."""
        out = asdict(self)
        for name, t in self.tasks.items():
            out["tasks"][name].update(median=t.median, min=t.min, max=t.max, std=t.std)
        out["score"] = self.score
        return out

    def __str__(self) -> str:
        return self.table()
