"""The scale search: at which cheap pretraining setting does pretraining clearly beat random init?

A spec (experiments/studies/*.yaml) names pretraining variants (a config plus overrides) and a
fine-tuning protocol (tasks, labelled-set sizes, seeds). The study pretrains every variant, fine-
tunes every export at every labelled-set size with every seed, fine-tunes a random-init encoder
of the same shape the same way (the floor), and reports mean and seed spread per task and for the
suite, with the gap to the floor in units of its standard error. Everything is resumable: a
finished pretraining run or fine-tuning point is not redone.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from electra_lab.config import DEFAULT_TRACKING_URI, ConfigError
from electra_lab.errors import ElectraLabError
from electra_lab.studies.jobs import Job, run_jobs
from electra_lab.studies.shipped_configs import experiment_path

FLOOR = "random-init"


class NoPoints(ElectraLabError, FileNotFoundError):
    """No fine-tuning point has finished yet (e.g. --report-only before any ran)."""


@dataclass
class Variant:
    name: str
    config: str  # a shipped config, relative to experiments/ (or an absolute path)
    overrides: list[str] = field(default_factory=list)
    note: str = ""
    train_sizes: list[int] | None = None  # a subset of the protocol's sizes (None: all of them)


@dataclass
class Protocol:
    tasks: list[str]
    train_sizes: list[int]
    seeds: int = 3
    dev: int = 500
    test: int = 1000
    options: list[str] = field(default_factory=list)  # fine-tuning key=value options


@dataclass
class Spec:
    variants: list[Variant]
    finetune: Protocol
    floor_from: str  # the variant whose architecture and tokenizer the random-init floor uses
    output_dir: str = "runs/scale_search"
    experiment: str = "scale-search"
    tracking_uri: str = DEFAULT_TRACKING_URI  # every child run logs here


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"study spec not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    known = {"variants", "finetune", "floor_from", "output_dir", "experiment", "tracking_uri"}
    if set(raw) - known:
        raise ConfigError(f"{path}: unknown keys {sorted(set(raw) - known)}; valid: {sorted(known)}")
    try:
        variants = [Variant(**v) for v in raw["variants"]]
        spec = Spec(variants=variants, finetune=Protocol(**raw["finetune"]),
                    **{k: raw[k] for k in ("floor_from", "output_dir", "experiment", "tracking_uri") if k in raw})
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    names = [v.name for v in spec.variants]
    if len(set(names)) != len(names) or FLOOR in names:
        raise ConfigError(f"{path}: variant names must be unique and not {FLOOR!r}")
    for v in spec.variants:
        if v.train_sizes and set(v.train_sizes) - set(spec.finetune.train_sizes):
            raise ConfigError(f"{path}: variant {v.name!r} asks for train_sizes {v.train_sizes} outside the "
                              f"protocol's {spec.finetune.train_sizes} (the floor is fine-tuned only at those)")
    if spec.floor_from not in names:
        raise ConfigError(f"{path}: floor_from {spec.floor_from!r} is not a variant ({', '.join(names)})")
    return spec


def plan_jobs(spec: Spec, out: Path) -> list[Job]:
    """Every pretraining first, then each variant's fine-tuning points (the floor's after
    floor_from's). The runner starts ready jobs in this order: a pretraining run (long, one core)
    overlaps the fine-tuning of variants already pretrained."""
    cli = [sys.executable, "-m", "electra_lab.cli"]
    runs = Path(spec.output_dir)
    p = spec.finetune

    def finetune(name: str, source: str, size: int) -> Job:
        point = out / "points" / f"{name}__n{size}.json"
        progress = out / "logs" / f"finetune-{name}-n{size}.progress.json"
        # --no-tracking: the points are gathered from their JSON; the URI still travels, so a source
        # given as a run id would be looked up in the study's store
        return Job(f"finetune:{name}:n{size}",
                   [*cli, "finetune", str(runs / source / "export"), "--tasks", *p.tasks,
                    "--seeds", str(p.seeds), "--no-tracking", "--tracking-uri", spec.tracking_uri,
                    "--out", str(point), "--progress", str(progress),
                    *(["--random-init"] if name == FLOOR else []),
                    "--set", f"caps={{train: {size}, dev: {p.dev}, test: {p.test}}}", "cpu_threads=1", *p.options],
                   done_when=point, after=[f"pretrain:{source}"], log=out / "logs" / f"finetune-{name}-n{size}.log",
                   progress=progress)

    jobs = [Job(f"pretrain:{v.name}",
                [*cli, "pretrain", str(experiment_path(v.config)), *v.overrides, f"run.name={v.name}",
                 f"run.output_dir={spec.output_dir}", f"run.experiment={spec.experiment}",
                 f"run.tracking_uri={spec.tracking_uri}", "train.threads=1", "train.progress=false"],
                done_when=runs / v.name / "summary.json", log=out / "logs" / f"pretrain-{v.name}.log",
                progress=runs / v.name / "progress.json")
            for v in spec.variants]
    for v in spec.variants:
        jobs += [finetune(v.name, v.name, size) for size in (v.train_sizes or p.train_sizes)]
        if v.name == spec.floor_from:
            jobs += [finetune(FLOOR, v.name, size) for size in p.train_sizes]
    return jobs


def run_scale_search(spec_path: str | Path, out: Path, workers: int = 2, report_only: bool = False) -> pd.DataFrame:
    """Run what is unfinished (unless report_only), then gather every finished point."""
    spec = load_spec(spec_path)
    out.mkdir(parents=True, exist_ok=True)
    if not report_only:
        # one process creates the MLflow store before parallel runs race to create its tables
        from electra_lab.tracking import Tracker

        Tracker(spec.tracking_uri, spec.experiment)
        run_jobs(plan_jobs(spec, out), workers=workers)
    frame = collect_points(out / "points")
    frame.to_csv(out / "seeds.csv", index=False)
    return frame


def collect_points(points: Path) -> pd.DataFrame:
    """One row per (variant, labelled-set size, task, seed)."""
    rows = []
    for path in sorted(points.glob("*__n*.json")):
        variant, size = path.stem.rsplit("__n", 1)
        payload = json.loads(path.read_text())
        for task, result in payload["result"]["tasks"].items():
            for run in result["runs"]:
                rows.append({"variant": variant, "train_size": int(size), "task": task, "seed": run["seed"],
                             "metric": run["metric"], "score": run["score"], "best_epoch": run["best_epoch"],
                             "pretrain_flops": payload.get("pretrain_flops") or 0.0})
    if not rows:
        raise NoPoints(f"no fine-tuning points under {points}")
    return pd.DataFrame(rows)


def summarise(seeds: pd.DataFrame) -> pd.DataFrame:
    """Per variant, size and task (and the suite, the per-seed mean over tasks): mean, std over
    seeds, and the gap to the random-init floor in standard errors of the difference."""
    suite = seeds.groupby(["variant", "train_size", "seed"], as_index=False)["score"].mean().assign(task="suite")
    both = pd.concat([seeds[["variant", "train_size", "seed", "task", "score"]], suite])
    stats = both.groupby(["variant", "train_size", "task"])["score"].agg(["mean", "std", "count"]).reset_index()
    floor = stats[stats["variant"] == FLOOR].set_index(["train_size", "task"])
    gaps, zs = [], []
    for row in stats.itertuples():
        key = (row.train_size, row.task)
        if key not in floor.index:
            gaps.append(math.nan)
            zs.append(math.nan)
            continue
        f = floor.loc[key]
        se = math.sqrt((row.std ** 2) / row.count + (f["std"] ** 2) / f["count"]) if row.count > 1 else math.nan
        gaps.append(row.mean - f["mean"])
        zs.append((row.mean - f["mean"]) / se if se and se > 0 else math.nan)
    return stats.assign(gap_to_floor=gaps, gap_in_se=zs)


def plot_learning_curves(stats: pd.DataFrame, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suite = stats[stats["task"] == "suite"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for variant, rows in suite.groupby("variant"):
        rows = rows.sort_values("train_size")
        style = {"color": "grey", "linestyle": "--"} if variant == FLOOR else {}
        ax.errorbar(rows["train_size"], rows["mean"], yerr=rows["std"], marker="o", capsize=3, label=variant, **style)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples per task")
    ax.set_ylabel("suite score (mean over tasks; bars: seed std)")
    ax.set_title("scale search: pretrained variants vs random init")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def write_report(out: Path, spec_path: str | Path, stats: pd.DataFrame, info: dict) -> str:
    """README.md beside seeds.csv / summary.csv / learning_curves.png: suite and per-task tables."""
    from electra_lab.studies.provenance import frame_markdown, provenance_markdown

    spec = load_spec(spec_path)
    stats.to_csv(out / "summary.csv", index=False)
    plot_learning_curves(stats, out / "learning_curves.png")
    def cells(frame: pd.DataFrame) -> pd.DataFrame:
        gap = [f" ({z:+.1f} se)" if v != FLOOR and math.isfinite(z) else ""
               for v, z in zip(frame["variant"], frame["gap_in_se"], strict=True)]
        return frame.assign(cell=[f"{m:.3f} ± {s:.3f}{g}"
                                  for m, s, g in zip(frame["mean"], frame["std"], gap, strict=True)])

    order = [v.name for v in spec.variants] + [FLOOR]
    suite = cells(stats[stats["task"] == "suite"])
    table = suite.pivot(index="variant", columns="train_size", values="cell")
    table = table.reindex(order).dropna(how="all").fillna("")
    table.columns = [f"n={c}" for c in table.columns]
    per_task = cells(stats[stats["task"] != "suite"])
    per_task = per_task.pivot(index=["variant", "train_size"], columns="task", values="cell").fillna("").reset_index()
    per_task = per_task.sort_values(["train_size", "variant"],
                                    key=lambda c: c.map(order.index) if c.name == "variant" else c)
    notes = "\n".join(f"- `{v.name}`: `{v.config}` {' '.join(v.overrides)}" + (f" — {v.note}" if v.note else "")
                      for v in spec.variants)
    p = spec.finetune
    text = (
        "# Scale search: where does pretraining beat random init?\n\n"
        f"Fine-tuning protocol: tasks {', '.join(p.tasks)}; labelled training examples per task "
        f"{', '.join(map(str, p.train_sizes))}; {p.seeds} seeds; dev {p.dev}, test {p.test}; options "
        f"`{' '.join(p.options) or 'paper defaults'}`. Suite score = mean over tasks of the test metric, "
        "per seed; cells are mean ± std over seeds, and in brackets the gap to random init in standard "
        "errors of the difference (|gap| > 2 se: beyond seed noise).\n\n"
        + provenance_markdown(info) + "\n## Variants\n\n" + notes + "\n\n## Suite score\n\n"
        + frame_markdown(table.reset_index()) + "\n\n## Per task (mean ± std over seeds, gap to random init in se)\n\n"
        + frame_markdown(per_task)
        + "\n"
    )
    (out / "README.md").write_text(text)
    return text
