"""The public Python API: drive a run from a notebook or a script without the CLI.

    import electra_lab as el
    cfg = el.load_config("experiments/pretrain/tiny_electra.yaml", ["train.steps=50"])
    print(el.count_flops(cfg)["pretrain_flops"])
    run = el.pretrain(cfg)
    scores = el.finetune(run["run_dir"], tasks=["movie_polarity"], seeds=1)

Each function is a CLI command (count_flops is `electra-lab flops`); ConfigError (and the other
electra_lab.errors.ElectraLabError types) name the problem.
"""
from __future__ import annotations

from pathlib import Path

from electra_lab.config import DEFAULT_TRACKING_URI, Config
from electra_lab.experiment import load_config
from electra_lab.studies.evaluate import finetune_and_log
from electra_lab.tasks.finetune import finetune_options
from electra_lab.tasks.results import SuiteResult
from electra_lab.train.config_flops import config_flops
from electra_lab.train.device import resolve_device, tune_process
from electra_lab.train.pretrain import run_pretraining

__all__ = ["count_flops", "finetune", "load_config", "pretrain"]


def count_flops(cfg: Config) -> dict:
    """The run's analytic pretraining FLOPs (official counting), shapes and step count; no data is built.
    (Named count_flops because electra_lab.flops is the module of formulas.)"""
    return config_flops(cfg)


def pretrain(cfg: Config, tracking: bool = True, tune: bool = True) -> dict:
    """Pretrain one model (resuming from its checkpoint when there is one) and export it.

    Returns the run's summary: run_name, run_id (MLflow), run_dir, export_dir, steps,
    pretrain_flops, tokens, wall_seconds, final metrics. tune=True applies the process-wide settings
    a training run wants (torch threads from train.threads, the CPU allocator tuning) to this
    process, as the CLI does; pass False to leave the process as it is."""
    if tune:
        tune_process(cfg.train.threads, resolve_device(cfg.train.device))
    return run_pretraining(cfg, tracking=tracking)


def finetune(source: str | Path, suite: str = "offline", tasks: list[str] | None = None, seeds: int = 3,
             options: list[str] | None = None, glue_dir: str | Path | None = None, random_init: bool = False,
             tracking_uri: str | None = DEFAULT_TRACKING_URI) -> SuiteResult:
    """Fine-tune an encoder on a suite ("offline" or "glue") and return its scores.

    source: an MLflow run id, a runs/<name> folder, a snapshot or a Hugging Face folder.
    options: fine-tuning `key=value` settings as on the CLI's --set (e.g. ["lr=1e-4"]).
    tracking_uri=None logs nothing; otherwise a child run of the pretraining run is logged."""
    parsed = finetune_options(options)
    result, _ = finetune_and_log(str(source), suite, tasks, seeds, options=parsed,
                                 glue_dir=Path(glue_dir) if glue_dir else None, random_init=random_init,
                                 tracking_uri=tracking_uri)
    return result
