"""The compute-efficiency plot: downstream suite score against pretraining FLOPs.

Every pretraining run contributes its snapshots (train.snapshot_fractions) and its final export;
a randomly initialised encoder of the same shape is the floor every pretrained point must beat.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from electra_lab.config import DEFAULT_TRACKING_URI
from electra_lab.studies.evaluate import finetune_and_log, resolve_model
from electra_lab.tasks.finetune import FinetuneOptions


def checkpoints_of(run_dir: Path) -> list[Path]:
    """Snapshot folders in FLOPs order, then the final export."""
    snaps = sorted((run_dir / "snapshots").glob("frac_*"), key=lambda p: float(p.name.split("_")[1]))
    return [*snaps, run_dir / "export"]


def score_runs(run_dirs: dict[str, Path], suite: str = "offline", tasks: list[str] | None = None, seeds: int = 1,
               options: FinetuneOptions | None = None, tracking_uri: str | None = DEFAULT_TRACKING_URI,
               random_init_from: str | None = None) -> pd.DataFrame:
    rows = []
    for label, run_dir in run_dirs.items():
        for folder in checkpoints_of(Path(run_dir)):
            result, resolved = finetune_and_log(str(folder), suite, tasks, seeds, options=options,
                                                tracking_uri=tracking_uri, label=f"finetune-{label}-{folder.name}")
            rows.append(_row(label, folder.name, resolved.pretrain_flops, result))
    floor_from = Path(random_init_from or next(iter(run_dirs.values())))
    result, _ = finetune_and_log(str(floor_from / "export"), suite, tasks, seeds, options=options, random_init=True,
                                 tracking_uri=tracking_uri, label="finetune-random-init")
    rows.append(_row("random init", "untrained", 0.0, result))
    return pd.DataFrame(rows)


def _row(label: str, point: str, flops: float | None, result) -> dict:
    row = {"model": label, "checkpoint": point, "pretrain_flops": flops, "suite_score": result.score,
           "finetune_seconds": result.seconds}
    for name, task in result.tasks.items():
        row[f"{name}"] = task.median
        row[f"{name}_std"] = task.std
        row[f"{name}_min"] = task.min
        row[f"{name}_max"] = task.max
    return row


def plot_efficiency(frame: pd.DataFrame, png: Path, title: str = "offline suite score vs pretraining FLOPs") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, rows in frame[frame["model"] != "random init"].groupby("model"):
        rows = rows.sort_values("pretrain_flops")
        ax.plot(rows["pretrain_flops"], rows["suite_score"], marker="o", label=label)
    floor = frame[frame["model"] == "random init"]
    if len(floor):
        ax.axhline(float(floor["suite_score"].iloc[0]), color="grey", linestyle="--",
                   label="random init (no pretraining)")
    ax.set_xlabel("pretraining FLOPs (official counting)")
    ax.set_ylabel("suite score (mean of task medians)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


__all__ = ["checkpoints_of", "score_runs", "plot_efficiency", "resolve_model"]
