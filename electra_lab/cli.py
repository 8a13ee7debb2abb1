"""electra-lab command line: parse, load the config, call one function.

The project's own errors (electra_lab.errors.ElectraLabError: a bad config, a missing file, an
unknown task, an unavailable source, a failed study job) are reported in one line, with their
traceback under -v; anything else is a bug and propagates with its traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from electra_lab.config import DEFAULT_TRACKING_URI, ConfigError
from electra_lab.errors import report_errors
from electra_lab.quiet import BARS_OFF, INFO_OFF, quiet_libraries  # noqa: F401 (tests reach them here)


def _config(args):
    from electra_lab.experiment import load_config

    return load_config(args.config, args.overrides)


def cmd_pretrain(args) -> int:
    from electra_lab.train.device import resolve_device, tune_process
    from electra_lab.train.pretrain import run_pretraining

    cfg = _config(args)
    tune_process(cfg.train.threads, resolve_device(cfg.train.device))  # this process only trains this run
    summary = run_pretraining(cfg, tracking=not args.no_tracking)
    if summary["processes"] > 1 and os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun the summary is rank 0's to print
    print(json.dumps({k: summary[k] for k in ("run_name", "run_id", "export_dir", "steps", "pretrain_flops",
                                              "wall_seconds")}, indent=2))
    return 0


def cmd_flops(args) -> int:
    from electra_lab import flops

    if args.paper:
        rows = flops.paper_table()
        width = max(len(r["name"]) for r in rows)
        print(f"{'model':<{width}}  {'train FLOPs':>12}  {'steps':>9}  {'batch':>6}  seq")
        for r in rows:
            print(f"{r['name']:<{width}}  {flops.format_flops(r['train_flops']):>12}  {int(r['steps']):>9}  "
                  f"{r['batch']:>6}  {r['seq_len']}")
        return 0
    if not args.config:
        raise ConfigError("flops needs a CONFIG file or --paper")
    from electra_lab.train.config_flops import config_flops

    print(json.dumps(config_flops(_config(args)), indent=2))
    return 0


def cmd_demo(args) -> int:
    from pathlib import Path

    from electra_lab.studies.demo import run_demo

    run_demo(Path(args.results), args.overrides, finetune=not args.no_finetune,
             finetune_args=["--set", *args.finetune_set] if args.finetune_set else None)
    return 0


def cmd_finetune(args) -> int:
    from pathlib import Path

    from electra_lab.studies.evaluate import finetune_and_log
    from electra_lab.tasks.finetune import finetune_options

    options = finetune_options(args.set)
    result, resolved = finetune_and_log(
        args.source, args.suite, args.tasks, args.seeds, options=options,
        glue_dir=Path(args.glue_dir) if args.glue_dir else None, random_init=args.random_init,
        tracking_uri=None if args.no_tracking else args.tracking_uri,
        progress_file=Path(args.progress) if args.progress else None)
    print(result.table())
    if args.out:
        payload = {"source": args.source, "pretrain_flops": 0.0 if args.random_init else resolved.pretrain_flops,
                   "random_init": args.random_init, "result": result.to_dict()}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(payload, indent=2, default=str))
    if resolved.pretrain_flops is not None:
        print(f"pretraining FLOPs of this encoder: {resolved.pretrain_flops:.3g}")
    return 0


def cmd_probe(args) -> int:
    from pathlib import Path

    from electra_lab.studies.evaluate import resolve_model
    from electra_lab.tasks.probe import layerwise_probe

    resolved = resolve_model(args.source, args.tracking_uri)
    frame = layerwise_probe(resolved.model_dir, args.suite, args.tasks, args.layers, random_init=args.random_init,
                            seed=args.seed, cpu_threads=args.threads,
                            glue_dir=Path(args.glue_dir) if args.glue_dir else None)
    print(f"frozen-encoder linear probe (a proxy, NOT fine-tuning) of {resolved.model_dir}"
          f"{' with random weights' if args.random_init else ''}; layer 0 = the embeddings' output")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        frame.assign(model=str(resolved.model_dir), random_init=args.random_init).to_csv(args.out, index=False)
    return 0


def cmd_bench(args) -> int:
    from electra_lab.bench.cli import run_from_args

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="electra-lab", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("pretrain", help="pretrain one model from a YAML config")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. model.gen_fraction=0.5")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("flops", help="pretraining FLOPs of a config (JSON), or the paper's table")
    p.add_argument("config", nargs="?")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--paper", action="store_true", help="print the paper's comparison table")
    p.set_defaults(func=cmd_flops)

    p = sub.add_parser("finetune", help="fine-tune a pretrained encoder on the offline suite or GLUE")
    p.add_argument("source", help="MLflow run id, runs/<name> folder, snapshot folder or Hugging Face folder")
    p.add_argument("--suite", choices=["offline", "glue"], default="offline")
    p.add_argument("--tasks", nargs="+", help="a subset of the suite's tasks")
    p.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per task; the median is reported")
    p.add_argument("--glue-dir", help="folder in the original GLUE layout (SST-2/train.tsv ...); else the hub")
    p.add_argument("--random-init", action="store_true", help="same architecture, untrained (the floor)")
    p.add_argument("--set", nargs="*", default=[], action="extend", metavar="KEY=VALUE",
                   help="fine-tuning options, e.g. lr=1e-4 (repeatable: later values win)")
    p.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
    p.add_argument("--no-tracking", action="store_true")
    p.add_argument("--out", help="also write the result (with the encoder's pretraining FLOPs) to this JSON file")
    p.add_argument("--progress", metavar="FILE",
                   help="keep the live task / seed / updates here (JSON) for a parent process to show")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("probe", help="layer-wise frozen-encoder linear probes of an encoder (a proxy, not fine-tuning)")
    p.add_argument("source", help="MLflow run id, runs/<name> folder, snapshot folder or Hugging Face folder")
    p.add_argument("--suite", choices=["offline", "glue"], default="offline")
    p.add_argument("--tasks", nargs="+", help="a subset of the suite's tasks")
    p.add_argument("--layers", nargs="+", type=int, help="hidden states to probe (0 = embeddings); default: all")
    p.add_argument("--random-init", action="store_true", help="the same architecture with random weights (the floor)")
    p.add_argument("--seed", type=int, default=0, help="the random weights' seed, and the probe's")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--glue-dir", help="folder in the original GLUE layout; else the hub")
    p.add_argument("--tracking-uri", default=DEFAULT_TRACKING_URI)
    p.add_argument("--out", help="also write the table to this CSV file")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("bench", help="time the training step against a plain Hugging Face reference")
    from electra_lab.bench.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-finetune", help="seconds per fine-tuning evaluation point, old code path vs new defaults")
    from electra_lab.bench.finetune_cost import add_arguments as add_finetune_cost_arguments
    from electra_lab.bench.finetune_cost import run_from_args as run_finetune_cost

    add_finetune_cost_arguments(p)
    p.set_defaults(func=run_finetune_cost)

    p = sub.add_parser("demo", help="the quick study: tiny ELECTRA vs BERT-MLM at equal FLOPs on offline text")
    p.add_argument("overrides", nargs="*", help="applied to both runs, e.g. train.flops=1e13")
    p.add_argument("--results", default="results")
    p.add_argument("--no-finetune", action="store_true", help="stop after pretraining and its curves")
    p.add_argument("--finetune-set", nargs="*", metavar="KEY=VALUE", help="fine-tuning options for the demo's points")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-overlap",
                       help="fail if evaluation text (dev/test) appears in a config's pretraining corpus")
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--tasks", nargs="+", help="tasks to check (default: the offline suite)")
    p.set_defaults(func=cmd_check_overlap)

    p = sub.add_parser("grid", help="run a study file: every cell x seed pretrained and fine-tuned, tracked in MLflow")
    p.add_argument("study", help="study file, e.g. experiments/studies/generator_size.yaml")
    p.add_argument("--scale", default="default", help="a scale the file defines (e.g. paper); default: its tiny one")
    p.add_argument("--workers", type=int, help="worker processes side by side (default: the file's)")
    p.add_argument("--dry-run", action="store_true", help="print the cells, their FLOPs and an estimated wall time")
    p.add_argument("--only", nargs="+", metavar="CELL", help="run only these cells (names, or unit ids CELL_sSEED)")
    p.add_argument("--hours", type=float, metavar="H",
                   help="start no unit not expected to finish within H hours (its expected time as --dry-run gives "
                        "it); running units finish, the rest wait for a rerun (a session's or a job's time limit)")
    p.add_argument("--storage", help="Optuna storage holding the claims: a journal file (default optuna.journal "
                                     "here) or an RDB URL such as postgresql://... shared by several machines")
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow (cell files only)")
    p.add_argument("--set", nargs="+", default=[], action="extend", metavar="KEY=VALUE",
                   help="change the file's keys: budget.flops=1e14, seeds=[0,1], overrides+=[train.eval_every=50]")
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("sweep", help="an Optuna search (e.g. over the generator size) at a fixed pretraining budget")
    p.add_argument("sweep", help="sweep file, e.g. experiments/studies/generator_size_sweep.yaml")
    p.add_argument("--scale", default="default")
    p.add_argument("--trials", type=int, help="trials to add (default: up to the file's `trials`)")
    p.add_argument("--workers", type=int, help="worker processes (default: the file's)")
    p.add_argument("--storage", help="Optuna storage: a journal file (default optuna.journal here) or an RDB URL "
                                     "(postgresql://...) shared by several machines")
    p.add_argument("--join", action="store_true",
                   help="only run workers on trials another machine has offered in the shared --storage (no new "
                        "trials, no failing of dead ones: that stays with the machine that started the sweep)")
    p.add_argument("--no-tracking", action="store_true")
    p.add_argument("--set", nargs="+", default=[], action="extend", metavar="KEY=VALUE",
                   help="change the file's keys: budget.flops=1e14, seeds=[0,1], overrides+=[train.eval_every=50]")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="a study's or sweep's tables and plots into results/<study>/")
    p.add_argument("study", help="the study (or sweep) file")
    p.add_argument("--scale", default="default")
    p.add_argument("--source", choices=["auto", "mlflow", "cells"], default="auto",
                   help="where the evaluations are read from (auto: MLflow when it holds them all, else the "
                        "committed cell files)")
    p.add_argument("--import-cells", action="store_true",
                   help="first log the committed cell files missing from MLflow (runs made elsewhere)")
    p.add_argument("--storage", help="a sweep's Optuna storage (default: optuna.journal here)")
    p.add_argument("--set", nargs="+", default=[], action="extend", metavar="KEY=VALUE",
                   help="change the file's keys: budget.flops=1e14, seeds=[0,1], overrides+=[train.eval_every=50]")
    p.set_defaults(func=cmd_report)

    return parser


def cmd_grid(args) -> int:
    from electra_lab.studies.grid import dry_run, run_grid

    if args.dry_run:
        print(dry_run(args.study, args.scale, args.only, args.workers, args.set))
        return 0
    states = run_grid(args.study, args.scale, args.workers, args.only, args.storage, tracking=not args.no_tracking,
                      sets=args.set, hours=args.hours)
    print(f"{sum(s.state == 'done' for s in states)}/{len(states)} units done")
    return 0


def cmd_sweep(args) -> int:
    from electra_lab.studies.sweep import run_sweep

    study = run_sweep(args.sweep, args.scale, args.trials, args.workers, args.storage, tracking=not args.no_tracking,
                      sets=args.set, join=args.join)
    states = [t.state.name.lower() for t in study.trials]
    print(f"{len(states)} trials: " + ", ".join(f"{s} {states.count(s)}" for s in sorted(set(states))))
    return 0


def cmd_report(args) -> int:
    from electra_lab.studies.report import write_report
    from electra_lab.studies.spec import load_study
    from electra_lab.studies.sweep_spec import is_sweep_file

    if is_sweep_file(args.study):
        from electra_lab.studies.sweep import optuna_study
        from electra_lab.studies.sweep_report import write_sweep_report
        from electra_lab.studies.sweep_spec import load_sweep

        sweep = load_sweep(args.study, args.scale, args.set)
        print(write_sweep_report(sweep, optuna_study(sweep, args.storage)))
        return 0
    study = load_study(args.study, args.scale, args.set)
    if args.import_cells:
        from electra_lab.studies.import_cells import import_cells

        print(f"imported {import_cells(study)} evaluations into {study.tracking_uri}", file=sys.stderr)
    print(write_report(study, args.source))
    return 0


def cmd_check_overlap(args) -> int:
    from electra_lab.tasks.overlap import check_no_overlap
    from electra_lab.tasks.registry import SUITES
    from electra_lab.train.pretrain import config_corpus

    cfg = _config(args)
    corpus = config_corpus(cfg)
    tasks = args.tasks or list(SUITES["offline"])
    overlaps = check_no_overlap([corpus.train_path, corpus.valid_path], tasks, raise_on_overlap=False)
    print(json.dumps({"corpus_key": corpus.key, "sources": cfg.data.sources, "tasks": tasks, "overlaps": len(overlaps),
                      "examples": [str(o) for o in overlaps[:10]]}, indent=2))
    return 1 if overlaps else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    quiet_libraries(verbose=args.verbose)
    return report_errors(lambda: args.func(args), verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
