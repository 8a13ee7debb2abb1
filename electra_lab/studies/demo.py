"""The README's quick study: tiny ELECTRA and BERT-MLM with equal pretraining FLOPs on real
offline text, both tracked in MLflow, with their curves written to results/foundation/."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from electra_lab.experiment import load_config
from electra_lab.studies.curves import write_curves
from electra_lab.studies.jobs import Job, run_jobs
from electra_lab.studies.provenance import frame_markdown, provenance, provenance_markdown
from electra_lab.studies.shipped_configs import experiment_path
from electra_lab.train.pretrain import prepare_data, run_pretraining
from electra_lab.train.trainer import snapshot_folder

DEMO_RUNS = {"ELECTRA": "pretrain/tiny_electra.yaml", "BERT-MLM": "pretrain/tiny_mlm.yaml"}  # shipped configs
# The demo is one seed of the studies' protocol (experiments/studies/*.yaml): half the configs' 7.5e13-FLOP
# budget, as every study runs them, so that it fits 15 minutes on an AVX2-only 2-core laptop (fp32 there:
# BERT-MLM's 2,106 steps at the full budget took 20 min alone). Its own run names keep it apart from an
# `electra-lab pretrain` of the same config at the full budget, which it would otherwise try to resume.
DEMO_BUDGET = "train.flops=3.75e13"
DEMO_RUN_NAMES = {"ELECTRA": "demo-electra", "BERT-MLM": "demo-mlm"}
SUMMARY_KEYS = ["eval/disc_acc", "eval/disc_precision", "eval/disc_recall", "eval/replaced_frac", "eval/gen_acc",
                "eval/gen_loss", "eval/mlm_acc", "eval/mlm_loss"]


# The demo fine-tunes each point once on two task types of the offline suite (sentiment, adjective-order
# acceptability) with 1,000 labelled examples and at least 200 updates: the studies' protocol, one seed
# instead of three. BBC topic (128-token articles) is left out as the studies leave it out: it was 2/3 of
# a point's fine-tuning cost (results/bench/finetune-cost-cpu.md). An earlier slice (400 examples,
# 3 epochs = 39 updates) left every encoder, random init included, at chance. `electra-lab finetune RUN
# --seeds 5` gives the whole suite at full size.
DEMO_TASKS = ["movie_polarity", "hyperbaton"]
DEMO_FINETUNE = ["--seeds", "1", "--tasks", *DEMO_TASKS,
                 "--set", "caps={train: 1000, dev: 500, test: 1000}", "min_updates=200", "max_dev_evals=8",
                 "cpu_threads=1"]


def demo_configs(overrides: list[str] | None = None) -> dict:
    """The demo's two pretraining configs (label -> Config): its own budget and run name, then the
    overrides on both."""
    return {label: load_config(experiment_path(rel), run_overrides(label, overrides))
            for label, rel in DEMO_RUNS.items()}


def run_overrides(label: str, overrides: list[str] | None) -> list[str]:
    """The demo's overrides for one run, then the caller's (which win)."""
    return [DEMO_BUDGET, f"run.name={DEMO_RUN_NAMES[label]}", *(overrides or [])]


def pretrain_jobs(configs: dict, overrides: list[str]) -> list[Job]:
    """One single-threaded `electra-lab pretrain` child per run; the parent shows each one's line
    from <output_dir>/<run.name>/progress.json, its output goes to pretrain.log beside it."""
    jobs = []
    for label, cfg in configs.items():
        run_dir = Path(cfg.run.output_dir) / cfg.run.name
        config = str(experiment_path(DEMO_RUNS[label]))
        jobs.append(Job(label, [sys.executable, "-m", "electra_lab.cli", "pretrain", config,
                                *run_overrides(label, overrides), "train.threads=1", "train.progress=false"],
                        log=run_dir / "pretrain.log", progress=run_dir / "progress.json"))
    return jobs


def run_demo(results_dir: Path = Path("results"), overrides: list[str] | None = None, finetune: bool = True,
             finetune_args: list[str] | None = None) -> dict:
    started = time.time()
    info = provenance()  # before anything is written: the results folder is part of the checkout
    overrides = overrides or []
    configs = demo_configs(overrides)
    first = next(iter(configs.values()))
    if finetune and "--tasks" not in (finetune_args or []):  # a task that cannot be had fails before pretraining
        from electra_lab.tasks.registry import fetch_suite

        fetch_suite("offline", DEMO_TASKS)
    prepare_data(first)  # build the shared corpus cache once
    from electra_lab.tracking import Tracker

    Tracker(first.run.tracking_uri, first.run.experiment)  # create the store before two processes race to
    # One job graph, two at a time: two single-threaded processes use 2 cores better than one 2-thread
    # process after the other (tiny matmuls scale poorly across threads), and a run's points are
    # fine-tuned as soon as that run is done, on the core the other run's longer pretraining leaves free.
    # Pretraining is always launched: a finished run resumes, sees its budget spent and exits in seconds.
    args = [*DEMO_FINETUNE, *(finetune_args or [])]
    points = finetune_points(configs, args) if finetune else []
    run_jobs([*pretrain_jobs(configs, overrides), *(point.job for point in points)], workers=2)
    summaries = {}
    for label, cfg in configs.items():
        cfg.train.threads = 1  # the config the child ran and logged (MLflow refuses a changed param)
        summaries[label] = run_pretraining(cfg)  # resumes the finished run: its summary, nothing trained
    out = results_dir / "foundation"
    write_curves({label: Path(s["run_dir"]) for label, s in summaries.items()}, out)
    info["wall_seconds"] = round(time.time() - started)
    table = foundation_table(summaries)
    (out / "summary.json").write_text(json.dumps({"provenance": info, "runs": summaries}, indent=2, default=str))
    (out / "README.md").write_text(
        "# Foundation demo: tiny ELECTRA vs BERT-MLM at equal pretraining FLOPs\n\n"
        "Made by the command below on a clean checkout; curves in `pretraining_curves.png` / `.csv` "
        "(every logged metric against step and FLOPs), per-run details in `summary.json`.\n\n"
        + provenance_markdown(info) + "\n" + table + "\n"
    )
    print(table)
    if finetune:
        write_efficiency(points, results_dir / "downstream", info, args)
    return summaries


@dataclass
class FinetunePoint:
    """One checkpoint to fine-tune: its label for the table, and the job that writes `target`."""

    label: str
    checkpoint: str
    target: Path
    job: Job


def finetune_points(configs: dict, args: list[str]) -> list[FinetunePoint]:
    """Every snapshot and final export of each run, after that run's pretraining job, plus a
    random-init encoder of the first run's shape after the first run."""
    run_dirs = {label: Path(cfg.run.output_dir) / cfg.run.name for label, cfg in configs.items()}
    first_label, first = next(iter(run_dirs.items()))
    # (table label, the pretraining job it waits for, checkpoint folder, extra flags)
    wanted = [(label, label, folder, [])
              for label, cfg in configs.items()
              for folder in [*(snapshot_folder(run_dirs[label], f) for f in sorted(cfg.train.snapshot_fractions)),
                             run_dirs[label] / "export"]]
    wanted.append(("random init", first_label, first / "export", ["--random-init"]))
    # finished points live beside the runs (not in results/, which a clone carries), keyed by the
    # fine-tuning arguments: a rerun resumes, a changed protocol starts afresh
    key = hashlib.sha256(json.dumps([str(first.resolve()), args]).encode()).hexdigest()[:12]
    point_dir = first.parent / "demo_finetune" / key
    points = []
    for i, (label, after, folder, flags) in enumerate(wanted):
        target = point_dir / f"{i:02d}.json"  # resumable: a finished point is not fine-tuned again
        progress = point_dir / f"{i:02d}.progress.json"
        job = Job(f"{label}:{folder.name}",
                  [sys.executable, "-m", "electra_lab.cli", "finetune", str(folder), *args, *flags,
                   "--out", str(target), "--progress", str(progress)],
                  done_when=target, after=[after], log=point_dir / f"{i:02d}.log", progress=progress)
        points.append(FinetunePoint(label, folder.name, target, job))
    return points


def write_efficiency(points: list[FinetunePoint], out: Path, info: dict, args: list[str]) -> None:
    """The score-vs-FLOPs table and plot of the fine-tuned points."""
    import pandas as pd

    from electra_lab.studies.efficiency import plot_efficiency

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for point in points:
        payload = json.loads(point.target.read_text())
        row = {"model": point.label, "checkpoint": "untrained" if payload["random_init"] else point.checkpoint,
               "pretrain_flops": payload["pretrain_flops"], "suite_score": payload["result"]["score"]}
        row.update({name: task["median"] for name, task in payload["result"]["tasks"].items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "efficiency.csv", index=False)
    plot_efficiency(frame, out / "efficiency.png")
    info = {**info, "finetune": " ".join(args)}
    (out / "README.md").write_text(
        "# Compute efficiency: offline-suite score against pretraining FLOPs\n\n"
        "Each point fine-tunes one checkpoint (snapshots at fractions of the budget, and the final export) on "
        "the offline suite; `random init` is the same architecture untrained, the floor pretraining must beat.\n\n"
        + provenance_markdown(info) + "\n" + frame_markdown(frame) + "\n"
    )
    print(frame.to_string(index=False))


def foundation_table(summaries: dict) -> str:
    lines = ["| run | steps | pretraining FLOPs | wall s | " + " | ".join(k.split("/")[1] for k in SUMMARY_KEYS) + " |",
             "|---|---|---|---|" + "---|" * len(SUMMARY_KEYS)]
    for label, s in summaries.items():
        final = _last_eval(Path(s["run_dir"]) / "metrics.csv")
        cells = [f"{final[k]:.3f}" if k in final else "" for k in SUMMARY_KEYS]
        lines.append(f"| {label} | {s['steps']} | {s['pretrain_flops']:.3g} | {s['wall_seconds']:.0f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def _last_eval(csv_path: Path) -> dict:
    import pandas as pd

    frame = pd.read_csv(csv_path)
    evals = frame.dropna(subset=[c for c in frame.columns if c.startswith("eval/")], how="all")
    row = evals.iloc[-1]
    return {k: float(row[k]) for k in SUMMARY_KEYS if k in row and row[k] == row[k]}
