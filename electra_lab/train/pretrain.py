"""One pretraining run from a config: corpus -> tokenizer -> packed blocks -> strategy -> trainer,
tracked as one MLflow run, ending with a Hugging Face export."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from electra_lab import strategies
from electra_lab.config import Config, ConfigError, to_dict
from electra_lab.data.corpus import build_corpus
from electra_lab.data.masking import SpecialIds
from electra_lab.data.packing import PackingOptions, pack_corpus
from electra_lab.data.tokenizer import load_or_build_tokenizer
from electra_lab.data.unigram import unigram_counter
from electra_lab.tracking import Tracker
from electra_lab.train.checkpoint import previous_path
from electra_lab.train.distributed import DistContext, process_group, step_plan
from electra_lab.train.preflight import check_free_space, check_output_dir, check_tracking_uri
from electra_lab.train.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    train: np.ndarray
    valid: np.ndarray
    tokenizer: object
    meta: dict


def config_corpus(cfg: Config):
    """The config's corpus (built once, then read from its cache)."""
    d = cfg.data
    return build_corpus(d.sources, valid_fraction=d.valid_fraction, seed=cfg.run.seed,
                        max_docs_per_source=d.max_docs_per_source, max_chars_per_source=d.max_chars_per_source,
                        skip_unavailable=d.skip_unavailable)


def prepare_data(cfg: Config) -> PreparedData:
    """Build (or reuse from cache) the corpus, tokenizer and packed blocks the config asks for."""
    d = cfg.data
    corpus = config_corpus(cfg)
    tokenizer, tok_key = load_or_build_tokenizer(d.tokenizer, d.vocab_size, corpus.train_path)
    options = PackingOptions(seq_len=d.seq_len, single_segment_prob=d.single_segment_prob,
                             short_seq_prob=d.short_seq_prob, seed=cfg.run.seed)
    packed = pack_corpus(corpus.train_path, corpus.valid_path, tokenizer, tok_key, options)
    meta = {"corpus_key": corpus.key, "corpus": corpus.manifest, "tokenizer_key": tok_key,
            "blocks_key": packed.key, "blocks": packed.meta}
    return PreparedData(packed.train, packed.valid, tokenizer, meta)


def _previous_wall(run_dir: Path, resumed: bool) -> float:
    """Wall time of earlier invocations of a resumed run, so the summary reports the total."""
    summary = run_dir / "summary.json"
    if resumed and summary.exists():
        return float(json.loads(summary.read_text()).get("wall_seconds", 0.0))
    return 0.0


def prepare_data_in_turn(cfg: Config, dist: DistContext) -> PreparedData:
    """prepare_data on every rank: each machine's first process builds the caches while the others
    wait, then they read them; all ranks must end with the same blocks (a ConfigError if not)."""
    if dist.local_rank == 0:
        data = prepare_data(cfg)
    dist.barrier()
    if dist.local_rank != 0:
        data = prepare_data(cfg)
    keys = dist.gather(data.meta["blocks_key"])
    if len(set(keys)) > 1:
        raise ConfigError(f"the ranks built different training blocks ({sorted(set(keys))}): every machine must see "
                          "the same data.sources (same files, same versions)")
    return data


def run_pretraining(cfg: Config, data: PreparedData | None = None, tracking: bool = True,
                    on_snapshot=None) -> dict:
    """Train, evaluate, checkpoint and export one run; returns a summary (run id, folders, metrics).
    on_snapshot(trainer, fraction, folder): called after each snapshot (train.snapshot_fractions).

    Under torchrun (WORLD_SIZE > 1) every process calls this with the same config: data parallel
    training (train.distributed), rank 0 alone tracking and writing.

    Process-wide tuning (threads, allocator) is the caller's: the CLI and electra_lab.pretrain do it."""
    with process_group(cfg.train.device, cfg.train.dist_backend) as dist:
        step_plan(cfg.train.batch_size, cfg.train.grad_accum, dist.world, dist.rank)  # fail before the data work
        return _run(cfg, data, tracking and dist.is_main, on_snapshot, dist)


def _run(cfg: Config, data: PreparedData | None, tracking: bool, on_snapshot, dist: DistContext) -> dict:
    run_dir = Path(cfg.run.output_dir) / cfg.run.name
    check_output_dir(run_dir)
    if tracking:
        check_tracking_uri(cfg.run.tracking_uri)
    started = time.time()
    data = data or prepare_data_in_turn(cfg, dist)
    ids = SpecialIds.of(data.tokenizer)
    strategy = strategies.from_config(cfg, ids, unigram_counter(data.train, ids.vocab_size))

    trainer = Trainer(cfg, strategy, ids, data.train, data.valid, run_dir, data.tokenizer, dist=dist)
    if dist.is_main:  # before the MLflow run starts: a run that cannot be written leaves no trace there
        kept = sum(p.is_file() for p in (trainer.checkpoint_path, previous_path(trainer.checkpoint_path)))
        check_free_space(run_dir, trainer.models, kept if cfg.run.resume else 0)

    tracker = None
    if tracking:
        tracker = Tracker(cfg.run.tracking_uri, cfg.run.experiment)
        id_file = run_dir / "mlflow_run_id"
        previous = id_file.read_text().strip() if id_file.exists() and cfg.run.resume else None
        tags = {"strategy": cfg.strategy.name, "kind": "pretrain", **cfg.run.tags}
        if previous and not tracker.has_run(previous):
            log.warning("%s names MLflow run %s, which %s does not hold (the run folder was copied, or "
                        "run.tracking_uri changed): the training resumes from its checkpoint under a new MLflow "
                        "run tagged resumed_from_run_id=%s; the metrics logged before stay with the old run",
                        id_file, previous, cfg.run.tracking_uri, previous)
            tags["resumed_from_run_id"], previous = previous, None
        run_id = tracker.start(cfg.run.name, run_id=previous, tags=tags)
        id_file.write_text(run_id)
    trainer.tracker = tracker
    trainer.on_snapshot = on_snapshot
    resumed = trainer.resume_if_possible()
    status = "FAILED"
    try:
        if tracker:
            tracker.log_params(to_dict(cfg))
            tracker.set_tags({"total_steps": trainer.budget.total_steps,
                              "pretrain_flops_budget": f"{trainer.budget.total_flops:.6g}",
                              "flops_lookup": cfg.train.flops_lookup,
                              **{f"pretrain_flops_budget_{k}_lookup": f"{v:.6g}"
                                 for k, v in trainer.budget.flops_by_lookup.items()},
                              "processes": dist.world, "device": str(trainer.device),
                              "precision": str(trainer.dtype).replace("torch.", ""),
                              "corpus_key": data.meta["corpus_key"], "blocks_key": data.meta["blocks_key"]})
        trainer.fit()
        export_dir = run_dir / "export"
        summary = {
            "run_name": cfg.run.name, "run_id": tracker.run_id if tracker else None, "run_dir": str(run_dir),
            "export_dir": str(export_dir), "steps": trainer.step, "pretrain_flops": trainer.flops,
            "pretrain_flops_by_lookup": trainer.budget.flops_at(trainer.step),
            "tokens": trainer.tokens, "resumed": resumed,
            "wall_seconds": _previous_wall(run_dir, resumed) + time.time() - started,
            "final": trainer.history[-1] if trainer.history else {},
            "heldout": final_heldout(trainer.history),
            "processes": dist.world,
            "precision": str(trainer.dtype).replace("torch.", ""),  # auto resolves per machine
            "phases": trainer.budget.phases(),
        }
        if not dist.is_main:
            status = "FINISHED"
            return summary
        trainer.export(export_dir)
        trainer.write_history_csv(run_dir / "metrics.csv")
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        if tracker:
            tracker.log_metrics({"pretrain_flops": trainer.flops}, step=trainer.step)
            tracker.set_tags({"export_dir": str(export_dir.resolve())})
            tracker.log_artifacts(export_dir, "export")
            tracker.log_artifact(run_dir / "metrics.csv")
            tracker.log_artifact(run_dir / "summary.json")
            (run_dir / "data_meta.json").write_text(json.dumps(data.meta, indent=2, default=str))
            tracker.log_artifact(run_dir / "data_meta.json")
        status = "FINISHED"
        return summary
    finally:
        if tracker:
            tracker.end(status)


def final_heldout(history: list[dict]) -> dict[str, float]:
    """The last held-out evaluation of a run's history (its "eval/..." keys, prefix dropped, with
    its step): what a study's cell keeps of pretraining once runs/ and MLflow are gone."""
    for row in reversed(history):
        metrics = {k.removeprefix("eval/"): v for k, v in row.items() if k.startswith("eval/")}
        if metrics:
            return {"step": row["step"], **metrics}
    return {}
