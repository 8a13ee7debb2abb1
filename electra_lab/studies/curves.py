"""Pretraining curves of several runs against FLOPs: one CSV and one PNG."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

# (panel title, [(column, label suffix)]) -- columns absent from a run are skipped
PANELS = [
    ("MLM loss (generator / BERT)", [("eval/gen_loss", "generator"), ("eval/mlm_loss", "MLM")]),
    ("discriminator loss", [("eval/disc_loss", "")]),
    ("discriminator on replaced tokens", [("eval/disc_acc", "accuracy"), ("eval/disc_precision", "precision"),
                                          ("eval/disc_recall", "recall")]),
    ("MLM accuracy", [("eval/gen_acc", "generator"), ("eval/mlm_acc", "MLM")]),
]


def load_runs(run_dirs: dict[str, Path]) -> pd.DataFrame:
    frames = []
    for label, folder in run_dirs.items():
        frame = pd.read_csv(Path(folder) / "metrics.csv")
        frame.insert(0, "run", label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_curves(frame: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (title, columns) in zip(axes.flat, PANELS, strict=True):
        for run, rows in frame.groupby("run"):
            for column, suffix in columns:
                if column not in rows or rows[column].isna().all():
                    continue
                data = rows.dropna(subset=[column])
                ax.plot(data["flops"], data[column], marker=".", label=f"{run} {suffix}".strip())
        ax.set_title(title)
        ax.set_xlabel("pretraining FLOPs")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if "eval/replaced_frac" in frame:  # the all-original prior a discriminator must beat
        prior = 1 - frame["eval/replaced_frac"].dropna().mean()
        axes.flat[2].axhline(prior, color="grey", linestyle="--", linewidth=1)
        axes.flat[2].text(axes.flat[2].get_xlim()[0], prior, " all-original prior", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_curves(run_dirs: dict[str, Path], out_dir: Path, stem: str = "pretraining_curves") -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = load_runs(run_dirs)
    csv_path, png_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.png"
    frame.to_csv(csv_path, index=False)
    plot_curves(frame, png_path)
    return csv_path, png_path
