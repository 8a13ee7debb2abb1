"""`electra-lab report STUDY.yaml`: a study's tables (CSV, Markdown) and plots (PNG) in results/<study>/.

Seed spread everywhere: a cell's score at a point is the mean over pretraining seeds (each seed's
score is the mean over tasks of the median over fine-tuning seeds), shown with its standard
deviation (error bars) and, beside the random-init floor, the gap in standard errors of the
difference. What is drawn is the study file's `report:` list: `line` (score against an axis, one
line per value of another: Figure 3 left), `flops` (score against pretraining FLOPs on a log axis:
Figure 3 right, Figure 4), `table` (cells x tasks: Table 5, weight sharing, GDES), `versus` (two cells
at equal FLOPs: the headline's gaps in standard errors and the FLOPs one needs to reach the other),
`pretraining` (cells x held-out pretraining metrics: the adversarial generator's accuracy and entropy).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd

from electra_lab.studies.cost import study_cost
from electra_lab.studies.pretraining_table import phase_switches, pretraining_table
from electra_lab.studies.provenance import frame_markdown, provenance, provenance_markdown
from electra_lab.studies.recipe_selection import select_recipes
from electra_lab.studies.spec import FLOOR, ReportItem, Study
from electra_lab.studies.study_frame import study_frame, task_columns
from electra_lab.studies.versus import versus_markdown


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell, fraction, size and score column (suite_score and each task): mean, std, n, min,
    max over pretraining seeds, the mean pretraining FLOPs, and the gap to the floor in se."""
    scores = ["suite_score", *task_columns(frame)]
    axes = [c for c in frame.columns if c.startswith("axis.")]
    long = frame.melt(id_vars=["cell", "seed", "fraction", "train_size", "pretrain_flops",
                               "pretrain_flops_sparse_lookup", *axes],
                      value_vars=scores, var_name="score", value_name="value").dropna(subset=["value"])
    group = ["cell", "fraction", "train_size", "score"]
    stats = long.groupby(group, dropna=False).agg(
        mean=("value", "mean"), std=("value", "std"), n=("value", "count"), min=("value", "min"),
        max=("value", "max"), pretrain_flops=("pretrain_flops", "mean"),
        pretrain_flops_sparse_lookup=("pretrain_flops_sparse_lookup", "mean")).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    coords = frame.groupby("cell")[axes].first().reset_index() if axes else frame[["cell"]].drop_duplicates()
    stats = stats.merge(coords, on="cell", how="left")
    floor = stats[stats["cell"] == FLOOR].set_index(["train_size", "score"])
    gaps = []
    for row in stats.itertuples():
        key = (row.train_size, row.score)
        if row.cell == FLOOR or key not in floor.index:
            gaps.append(math.nan)
            continue
        f = floor.loc[key]
        se = math.sqrt(row.std ** 2 / row.n + f["std"] ** 2 / f["n"])
        gaps.append((row.mean - f["mean"]) / se if se > 0 else math.nan)
    return stats.assign(gap_to_floor_se=gaps)


def cell_text(mean: float, std: float, n: int, gap: float | None = None) -> str:
    text = f"{mean:.3f} ± {std:.3f}" + (f" (n={n})" if n != 1 else " (n=1)")
    if gap is not None and math.isfinite(gap):
        text += f" [{gap:+.1f} se]"
    return text


def final_rows(stats: pd.DataFrame) -> pd.DataFrame:
    """Each cell's last budget point (the floor has only its one)."""
    last = stats.groupby("cell")["fraction"].transform("max")
    return stats[stats["fraction"] == last]


def table(stats: pd.DataFrame, item: ReportItem, order: list[str]) -> pd.DataFrame:
    """Cells (rows) x scores (suite first, then tasks) at the final budget, per labelled-set size."""
    rows = final_rows(stats)
    if item.cells:
        rows = rows[rows["cell"].isin(item.cells)]
        order = [c for c in item.cells]
    rows = rows.assign(text=[cell_text(m, s, n, g) for m, s, n, g in
                             zip(rows["mean"], rows["std"], rows["n"], rows["gap_to_floor_se"], strict=True)])
    wide = rows.pivot_table(index=["train_size", "cell"], columns="score", values="text", aggfunc="first")
    flops = rows.groupby(["train_size", "cell"])[["pretrain_flops", "pretrain_flops_sparse_lookup"]].first()
    wide.insert(0, "pretrain FLOPs", flops["pretrain_flops"].map(lambda f: f"{f:.3g}"))
    counts = ["pretrain FLOPs"]
    if flops["pretrain_flops_sparse_lookup"].notna().any():  # runs that recorded both counts
        wide.insert(1, "sparse-lookup FLOPs", flops["pretrain_flops_sparse_lookup"].map(lambda f: f"{f:.3g}"))
        counts.append("sparse-lookup FLOPs")
    columns = [*counts, "suite_score", *sorted(c for c in wide.columns if c not in (*counts, "suite_score"))]
    wide = wide[columns].reset_index()
    rank = {c: i for i, c in enumerate(order)}
    return wide.sort_values(["train_size", "cell"], key=lambda c: c.map(rank) if c.name == "cell" else c)


def _numeric(values: pd.Series) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce")
    return converted if converted.notna().all() else values


def plot(stats: pd.DataFrame, item: ReportItem, png: Path, study: Study,
         switches: dict[str, list[tuple[str, float]]] | None = None) -> None:
    """switches: per cell, phases that begin mid-run (phase_switches), marked on a flops plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(stats["train_size"].unique())
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.6), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        suite = stats[(stats["score"] == "suite_score") & (stats["train_size"] == size)]
        if item.cells:
            suite = suite[suite["cell"].isin([*item.cells, FLOOR])]
        floor = suite[suite["cell"] == FLOOR]
        cells = suite[suite["cell"] != FLOOR]
        if item.kind == "line":
            _line_plot(ax, final_rows(cells), item)
        else:
            _flops_plot(ax, cells, item, switches or {})
        if len(floor):
            f = floor.iloc[0]
            ax.axhline(f["mean"], color="grey", linestyle="--", linewidth=1, label="random init (floor)")
            ax.axhspan(f["mean"] - f["std"], f["mean"] + f["std"], color="grey", alpha=0.12)
        ax.set_ylabel(f"{study.finetune.suite} suite score ({size} labels; bars: std over seeds)")
        ax.set_title(item.title or f"{study.key}: {item.kind}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _line_plot(ax, rows: pd.DataFrame, item: ReportItem) -> None:
    x_col, line_col = f"axis.{item.x}", f"axis.{item.lines}" if item.lines else None
    on_axis = rows[rows[x_col].notna()] if x_col in rows else rows.iloc[0:0]
    groups = on_axis.groupby(line_col) if line_col else [("", on_axis)]
    colors = {}
    for label, group in groups:
        group = group.assign(_x=_numeric(group[x_col])).sort_values("_x")
        drawn = ax.errorbar(group["_x"], group["mean"], yerr=group["std"], marker="o", capsize=3,
                            label=f"{item.lines}={label}" if line_col else "cells")
        colors[label] = drawn[0].get_color()
    for row in rows[rows[x_col].isna()].itertuples() if x_col in rows else []:  # e.g. the unigram generator
        label = getattr(row, line_col.replace(".", "_"), None) if line_col else None
        color = colors.get(label, "black")
        ax.axhline(row.mean, color=color, linestyle=":", linewidth=1.5, label=f"{row.cell} ({row.mean:.3f})")
    ax.set_xlabel(item.x)
    if item.xlog:
        ax.set_xscale("log")


def _flops_plot(ax, rows: pd.DataFrame, item: ReportItem, switches: dict[str, list[tuple[str, float]]]) -> None:
    line_col = f"axis.{item.lines}" if item.lines else "cell"
    key = line_col if line_col in rows else "cell"
    for label, group in rows.groupby(key):
        curve = group.groupby("fraction").agg(flops=("pretrain_flops", "mean"), mean=("mean", "mean"),
                                              std=("std", "mean")).sort_index()
        drawn = ax.errorbar(curve["flops"], curve["mean"], yerr=curve["std"], marker="o", capsize=3, label=str(label))
        marked = {(phase, flops) for cell in group["cell"].unique() for phase, flops in switches.get(cell, [])}
        for phase, flops in sorted(marked, key=lambda m: m[1]):  # e.g. two-stage's switch to the discriminator
            ax.axvline(flops, color=drawn[0].get_color(), linestyle=":", linewidth=1.2,
                       label=f"{label}: {phase} phase from here")
    ax.set_xscale("log")
    ax.set_xlabel("pretraining FLOPs (official count, log scale)")


def cost_line(cost: dict[str, float]) -> str:
    return (f"Compute: {cost['core_hours']} core-hours over {cost['units']} units, {cost['wall_minutes_per_unit']} "
            "min of wall time per unit on average (each unit's finishing invocation x its threads).\n")


def write_report(study: Study, source: str = "auto", command: str | None = None) -> str:
    """Tables and plots into results/<study>/; returns the README text."""
    started = time.time()
    frame, where = study_frame(study, source)
    out = study.results
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "evaluations.csv", index=False)
    frame, choices = select_recipes(frame, list(study.finetune.recipes))
    if len(choices):
        choices.to_csv(out / "recipes_chosen_on_dev.csv", index=False)
    stats = summarise(frame)
    stats.to_csv(out / "summary.csv", index=False)
    order = [c.name for c in study.cells] + [FLOOR]
    expected = len(study.units())
    units = frame["unit"].nunique()
    parts = [f"# {study.key}: {study.description.strip() or study.name}\n",
             f"Paper: {study.paper.strip()}\n" if study.paper else "",
             f"Protocol: {study.protocol.strip()}\n" if study.protocol else "",
             f"Read from {where}; {units} of {expected} units finished. Each cell: mean ± std over pretraining "
             f"seeds (n), each seed's score the mean over tasks of the median over {study.finetune.seeds_text()} "
             "fine-tuning seeds; [gap to the random-init floor in standard errors of the difference].\n",
             provenance_markdown({**provenance(command), "report_seconds": round(time.time() - started, 1)}),
             cost_line(study_cost(study))]
    if len(choices):
        parts.append("## Fine-tuning recipe chosen on dev\n\nPer cell, budget point and size, the recipe with the best "
                     "mean dev score over pretraining seeds; every table and plot below reports its test scores.\n\n"
                     + frame_markdown(choices) + "\n")
    items = study.report or [ReportItem(kind="table", title="all cells")]
    switches = phase_switches(study)  # read from the cell files once, for every plot
    for i, item in enumerate(items):
        title = item.title or f"{item.kind} {i}"
        if item.kind == "table":
            wide = table(stats, item, order)
            stem = f"table_{i}"
            wide.to_csv(out / f"{stem}.csv", index=False)
            parts.append(f"## {title}\n\n{frame_markdown(wide)}\n")
        elif item.kind == "pretraining":
            held = pretraining_table(study, item.metrics, order)
            held.to_csv(out / f"pretraining_{i}.csv", index=False)
            parts.append(f"## {title}\n\nHeld-out pretraining metrics at the end of each run, mean ± std over "
                         f"pretraining seeds (n).\n\n{frame_markdown(held)}\n")
        elif item.kind == "versus":
            body, rows = versus_markdown(stats, *item.cells)
            rows.to_csv(out / f"versus_{i}.csv", index=False)
            parts.append(f"## {title}\n\n{body}")
        else:
            png = out / f"{item.kind}_{i}.png"
            plot(stats, item, png, study, switches)
            parts.append(f"## {title}\n\n![{title}]({png.name})\n")
    if not any(item.kind == "table" for item in items):
        parts.append("## All cells\n\n" + frame_markdown(table(stats, ReportItem(kind="table"), order)) + "\n")
    text = "\n".join(p for p in parts if p)
    (out / "README.md").write_text(text)
    return text
