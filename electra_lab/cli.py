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
import traceback

from electra_lab.config import DEFAULT_TRACKING_URI, ConfigError
from electra_lab.errors import ElectraLabError


def _config(args):
    from electra_lab.experiment import load_config

    return load_config(args.config, args.overrides)


def cmd_pretrain(args) -> int:
    from electra_lab.train.device import resolve_device, tune_process
    from electra_lab.train.pretrain import run_pretraining

    cfg = _config(args)
    tune_process(cfg.train.threads, resolve_device(cfg.train.device))  # this process only trains this run
    summary = run_pretraining(cfg, tracking=not args.no_tracking)
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

    p = sub.add_parser("bench", help="time the training step against a plain Hugging Face reference")
    from electra_lab.bench.cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_bench)

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

    p = sub.add_parser("scale-search", help="pretrain variants, fine-tune on learning curves, compare with random init")
    p.add_argument("spec", help="study spec, e.g. experiments/studies/scale_search.yaml")
    p.add_argument("--out", default="results/downstream/scale_search")
    p.add_argument("--workers", type=int, default=2, help="single-threaded jobs run side by side")
    p.add_argument("--report-only", action="store_true", help="write the report from the points finished so far")
    p.set_defaults(func=cmd_scale_search)
    return parser


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


def cmd_scale_search(args) -> int:
    import time
    from pathlib import Path

    from electra_lab.studies.provenance import provenance
    from electra_lab.studies.scale_search import run_scale_search, summarise, write_report

    started = time.time()
    out = Path(args.out)
    seeds = run_scale_search(args.spec, out, workers=args.workers, report_only=args.report_only)
    info = {**provenance(), "wall_seconds_this_invocation": round(time.time() - started)}
    print(write_report(out, args.spec, summarise(seeds), info))
    return 0


# Library chatter off for a command-line run: transformers' and datasets' progress bars (pages of
# "Writing model shards" per export), transformers' warnings on loading and saving, MLflow's INFO
# lines on creating a store. main() does this once; the library never does, so a notebook or a test
# that imports electra_lab keeps the settings it has. The switches are process-wide. datasets and
# mlflow are imported late (they cost seconds), so they get their documented environment switches,
# which they read at import and the study's child processes inherit; a variable already set is kept.
BARS_OFF = {"HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
INFO_OFF = {"MLFLOW_LOGGING_LEVEL": "WARNING"}


def quiet_libraries(verbose: bool = False) -> None:
    """Progress bars off; warnings and INFO chatter too unless `verbose` (-v: they may explain a
    failure)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # also huggingface_hub's download bars
    if not verbose:
        hf_logging.set_verbosity_error()
    for name, value in {**BARS_OFF, **({} if verbose else INFO_OFF)}.items():
        os.environ.setdefault(name, value)
    if "datasets" in sys.modules:  # already imported: the variable came too late
        sys.modules["datasets"].disable_progress_bars()
    if "mlflow" in sys.modules and "MLFLOW_LOGGING_LEVEL" in os.environ:
        logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    quiet_libraries(verbose=args.verbose)
    try:
        return args.func(args)
    except ElectraLabError as exc:
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        kind = "config error" if isinstance(exc, ConfigError) else "error"
        print(f"electra-lab: {kind}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())
