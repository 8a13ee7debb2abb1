"""A cheap PROXY for fine-tuning: a linear probe on a frozen encoder's features.

NOT the paper's fine-tuning recipe: the encoder is never trained. Each example is encoded once
(eval mode, no gradients), pooled to one vector (mean over its tokens, or the [CLS] state), and a
scikit-learn model is fitted on the train split: LogisticRegression for classification, Ridge
for regression, its regularisation chosen on dev from a small grid, on standardised features. The
reported split is the task's own (test offline, dev for GLUE) and the metric the task's own
(metrics.py). Seconds per task on the tiny encoder, against minutes for fine-tuning; it measures
how linearly the pretrained features carry the label, which tracks but is not fine-tuned quality.
The SuiteResult says so: options["proxy"] == "frozen-probe".
"""
from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra_lab.config import ConfigError
from electra_lab.tasks.base import SplitCaps, Task
from electra_lab.tasks.batching import Encoded, evaluation_batches
from electra_lab.tasks.finetune import FinetuneOptions, load_encoder, load_tokenizer, prepare_task
from electra_lab.tasks.metrics import compute_metrics
from electra_lab.tasks.registry import suite_tasks
from electra_lab.tasks.results import SeedResult, SuiteResult, TaskResult

PROXY = "frozen-probe"
POOLINGS = ("mean", "cls")
C_GRID = (0.01, 0.1, 1.0, 10.0)  # LogisticRegression inverse regularisation
ALPHA_GRID = (0.1, 1.0, 10.0, 100.0)  # Ridge regularisation
MAX_LENGTH = 128
BATCH_SIZE = 128


@torch.inference_mode()
def probe_features(encoder: nn.Module, data: Encoded, pooling: str = "mean",
                   batch_size: int = BATCH_SIZE, layer: int | None = None) -> np.ndarray:
    """[N, H] float64 features of the frozen encoder (put in eval mode): the mean of a hidden state
    over each example's tokens ([CLS] and [SEP] included), or its [CLS] state. layer: None = the
    last; 0 = the embeddings' output, i = after block i (layer-wise probes)."""
    if pooling not in POOLINGS:
        raise ConfigError(f"probe pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    layers = encoder.config.num_hidden_layers
    if layer is not None and not 0 <= layer <= layers:
        raise ConfigError(f"probe layer must be in 0..{layers} (0: embeddings) for this encoder, got {layer}")
    encoder.eval()
    out = np.zeros((len(data), encoder.config.hidden_size), dtype=np.float64)
    for indices, batch in evaluation_batches(data, batch_size, encoder.config.pad_token_id or 0):
        mask = batch["attention_mask"]
        output = encoder(input_ids=batch["input_ids"], attention_mask=mask, token_type_ids=batch["token_type_ids"],
                         output_hidden_states=layer is not None)
        hidden = (output.last_hidden_state if layer is None else output.hidden_states[layer]).float()
        if pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1)
        out[indices] = pooled.double().numpy()
    return out


def _probe_model(task: Task, strength: float, seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task.is_regression:
        return make_pipeline(StandardScaler(), Ridge(alpha=strength))
    return make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=2000, random_state=seed))


def fit_probe(task: Task, train: tuple[np.ndarray, np.ndarray], dev: tuple[np.ndarray, np.ndarray],
              seed: int = 0) -> tuple[object, float, dict[float, float]]:
    """(fitted model, chosen regularisation, dev headline metric per grid value): the grid value
    with the best dev score wins (the first of equals)."""
    grid = ALPHA_GRID if task.is_regression else C_GRID
    dev_scores, best = {}, None
    for strength in grid:
        model = _probe_model(task, strength, seed).fit(*train)
        dev_scores[strength] = compute_metrics([task.metric], model.predict(dev[0]), dev[1])[task.metric]
        if best is None or dev_scores[strength] > dev_scores[best[1]]:
            best = (model, strength)
    return best[0], best[1], dev_scores


def probe_suite(model_dir: str | Path, suite: str = "offline", tasks: list[str] | None = None,
                caps: SplitCaps | None = None, random_init: bool = False, seed: int = 0, *,
                pooling: str = "mean", cpu_threads: int | None = None, progress: bool = False,
                glue_dir: Path | None = None, layer: int | None = None) -> SuiteResult:
    """Frozen-encoder probe of the encoder in `model_dir` on each task (a proxy, not fine-tuning:
    see the module docstring). caps: None = each task's default caps; random_init: the same
    architecture with fresh weights drawn from `seed` (the floor). Each TaskResult holds one run
    whose dev_by_epoch is [best dev score] and best_epoch 1. cpu_threads: torch's intra-op threads
    for this call only (process-wide; put back on return), as in finetune_suite. glue_dir: GLUE's
    original TSV layout (else the hub), as in finetune_suite. layer: which hidden state to probe
    (probe_features; None = the last)."""
    threads_before = torch.get_num_threads()
    if cpu_threads:
        torch.set_num_threads(cpu_threads)
    try:
        return _probe_suite(model_dir, suite, tasks, caps, random_init, seed, pooling, progress, glue_dir, layer)
    finally:
        torch.set_num_threads(threads_before)


def _probe_suite(model_dir, suite, tasks, caps, random_init, seed, pooling, progress, glue_dir,
                 layer) -> SuiteResult:
    started = time.time()
    selected = suite_tasks(suite, tasks)
    if pooling not in POOLINGS:
        raise ConfigError(f"probe pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        encoder = load_encoder(model_dir, random_init=random_init)
    tokenizer = load_tokenizer(model_dir)
    options = FinetuneOptions(caps=caps, max_length=MAX_LENGTH)  # tokenisation (and its cache) as fine-tuning's
    results, chosen = {}, {}
    for task in selected:
        task_started = time.time()
        prepared = prepare_task(task, tokenizer, options, glue_dir, tokenizer_dir=model_dir)
        reported = prepared.test if prepared.test is not None else prepared.dev
        feats = {name: probe_features(encoder, data, pooling, layer=layer) for name, data in
                 (("train", prepared.train), ("dev", prepared.dev), ("reported", reported))}
        labels = {"train": prepared.train.labels.numpy(), "dev": prepared.dev.labels.numpy(),
                  "reported": reported.labels.numpy()}
        model, strength, dev_scores = fit_probe(task, (feats["train"], labels["train"]),
                                                (feats["dev"], labels["dev"]), seed)
        metrics = compute_metrics(task.metrics, model.predict(feats["reported"]), labels["reported"])
        chosen[task.name] = {"regularisation": strength, "dev_by_value": dev_scores}
        run = SeedResult(task=task.name, seed=seed, metric=task.metric, score=metrics[task.metric], metrics=metrics,
                         report_split=task.report_split, dev_by_epoch=[dev_scores[strength]], best_epoch=1,
                         train_examples=len(prepared.train), seconds=time.time() - task_started)
        results[task.name] = TaskResult(task.name, task.metric, task.report_split, runs=[run])
        if progress:
            print(f"[probe] {task.name}: {task.report_split} {task.metric} {run.score:.4f} "
                  f"({run.seconds:.1f} s)", file=sys.stderr, flush=True)
    return SuiteResult(
        suite=suite, model_dir=str(model_dir), random_init=random_init, tasks=results,
        options={"proxy": PROXY, "note": "frozen encoder + linear probe; NOT fine-tuning", "pooling": pooling,
                 "layer": "last" if layer is None else layer,
                 "probe": {"classification": "StandardScaler + LogisticRegression(C)", "regression":
                           "StandardScaler + Ridge(alpha)", "C_grid": list(C_GRID), "alpha_grid": list(ALPHA_GRID),
                           "selected_on": "dev"},
                 "chosen": chosen, "caps": None if caps is None else asdict(caps), "max_length": MAX_LENGTH,
                 "seed": seed},
        seconds=time.time() - started)


def layerwise_probe(model_dir: str | Path, suite: str = "offline", tasks: list[str] | None = None,
                    layers: list[int] | None = None, random_init: bool = False, seed: int = 0,
                    caps: SplitCaps | None = None, cpu_threads: int | None = None, glue_dir: Path | None = None):
    """A frozen probe at each hidden state (None: 0 = embeddings .. L = last): a pandas frame with one
    row per layer, one column per task and the suite mean. Where the features a task uses sit, and
    whether pretraining put anything there at all (compare random_init=True)."""
    import pandas as pd
    from transformers import ElectraConfig

    depth = ElectraConfig.from_pretrained(str(model_dir)).num_hidden_layers
    rows = []
    for layer in layers if layers is not None else range(depth + 1):
        result = probe_suite(model_dir, suite, tasks, caps=caps, random_init=random_init, seed=seed,
                             cpu_threads=cpu_threads, glue_dir=glue_dir, layer=layer)
        rows.append({"layer": layer, **{name: t.median for name, t in result.tasks.items()}, "suite": result.score})
    return pd.DataFrame(rows)
