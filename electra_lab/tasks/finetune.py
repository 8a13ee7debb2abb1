"""The paper's fine-tuning recipe, for one task and for a whole suite.

Per task and seed: encoder from a Hugging Face folder (or the same architecture freshly
initialised) + [CLS] head; layer-wise LR decay; Adam (eps 1e-6, no weight decay, the official
optimiser's missing bias correction as a switch); linear decay with 10% warmup; batch 32;
128 tokens; symmetric pairs doubled. Every epoch ends with a dev evaluation. Tasks with a
labelled test split report the test metric of the best-on-dev epoch; GLUE reports dev after the
last epoch, as the paper does. Results are medians over seeds with their spread.

What one call costs, and the options that cut it without changing what is measured (each one a
FinetuneOptions field; LEGACY_SPEED_OPTIONS turns them all off, the code path before them, which
electra-lab bench-finetune times against the defaults): length-bucketed training batches,
a [CLS]-only forward (tasks/cls_forward.py), packed-bit dropout masks, a floor under Adam's square
root, and tokenised tasks cached on disk (tasks/token_cache.py).
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from electra_lab.config import apply_overrides, build_dataclass
from electra_lab.models.packed_dropout import install_packed_dropout
from electra_lab.tasks import token_cache
from electra_lab.tasks.base import LoadOptions, SplitCaps, Task
from electra_lab.tasks.batching import Encoded, encode, evaluation_batches, training_batches, with_swapped_pairs
from electra_lab.tasks.finetune_progress import FinetuneProgress
from electra_lab.tasks.heads import SequenceClassifier, build_head
from electra_lab.tasks.layer_decay import layerwise_param_groups
from electra_lab.tasks.metrics import compute_metrics
from electra_lab.tasks.registry import suite_tasks
from electra_lab.tasks.results import SeedResult, SuiteResult, TaskResult
from electra_lab.train.device import autocast, resolve_device, resolve_precision
from electra_lab.train.optim import AdamWNoBiasCorrection, lr_multiplier


@dataclass
class FinetuneOptions:
    """Paper defaults for a Small model (lr 3e-4; Base 1e-4, Large 5e-5 with decay 0.9)."""

    lr: float = 3e-4
    layer_decay: float = 0.8
    official_extra_layer_decay: bool = False  # the official code's extra factor per layer
    batch_size: int = 32
    max_length: int = 128
    warmup_fraction: float = 0.1
    warmup_overlaps_decay: bool = True  # official: linear decay from step 0 times min(1, step/warmup)
    weight_decay: float = 0.0
    adam_eps: float = 1e-6
    adam_bias_correction: bool = False  # the official optimiser has none
    grad_clip: float | None = 1.0  # official: global norm 1.0
    head: str = "linear"  # "linear" (official) or "hf_mlp" (Hugging Face's ElectraClassificationHead)
    head_dropout: float = 0.1
    epochs: dict[str, int] = field(default_factory=dict)  # per-task overrides of Task.epochs
    # at least this many optimiser updates per task (more epochs on small training sets): 3 epochs
    # of 250 examples are 24 updates, too few for any encoder to move off chance; 0 = paper epochs
    min_updates: int = 0
    # evaluate on dev at most this many times, evenly spaced, always after the last epoch (0 = every
    # epoch): with min_updates a small task runs dozens of epochs and dev passes dominate the cost
    max_dev_evals: int = 0
    caps: SplitCaps | None = None  # None: each task's default caps
    base_seed: int = 0
    eval_batch_size: int = 128
    # the pretraining policy (train/device.py): "auto" = CUDA when available, else CPU; precision
    # "auto" = bf16 autocast where the hardware has it (CUDA with bf16, a CPU with AMX/AVX512-BF16
    # matrix instructions), else fp32; or "fp32" / "bf16"
    device: str = "auto"
    precision: str = "auto"
    # torch CPU threads while fine-tuning (None: torch's default). On a CPU shared with other jobs
    # 1 thread was ~8x faster per step than 2 here: spinning OpenMP threads fight for the cores.
    cpu_threads: int | None = None
    # ---- speed (results/bench/finetune-cost-cpu.md); LEGACY_SPEED_OPTIONS turns all of them off
    # training batches from chunks of this many batches' worth of examples sorted by length, the
    # batches then shuffled (batching.epoch_batches): a random batch of short texts pads to ~2x its
    # tokens, a bucketed one to ~1.07x; same updates per epoch. 0 = plain random batches
    bucket_batches: int = 16
    # the encoder's [CLS] state computed by tasks/cls_forward.py (the same function: the last layer
    # only at [CLS], fused QKV, one additive mask); False = transformers' full forward
    lean_forward: bool = True
    # CPU dropout masks from packed 16-bit random lanes (models/packed_dropout.py: the same keep
    # probability to 2^-17, a quarter of the random draws); False = ATen's dropout
    packed_dropout: bool = True
    # added to Adam's second moment under the square root (train/optim.py: this CPU's sqrt of 0 is
    # ~13x slower, and unseen tokens' embedding rows stay at 0); 1e-30 changes no float32 result
    # next to eps 1e-6 in practice. 0 = none. Used by the no-bias-correction optimiser only
    adam_sqrt_floor: float = 1e-30
    # keep each offline task's tokenised splits on disk (tasks/token_cache.py), keyed by the
    # tokenizer files, task, caps, max_length and code; False = load and tokenise on every call
    task_cache: bool = True


# The code path before the speed options above, for benchmarks and for reproducing old numbers.
LEGACY_SPEED_OPTIONS = ["bucket_batches=0", "lean_forward=false", "packed_dropout=false", "adam_sqrt_floor=0",
                        "task_cache=false"]


def finetune_options(items: list[str] | None = None) -> FinetuneOptions:
    """FinetuneOptions from `key=value` items (the CLI's --set), every key and type checked."""
    return build_dataclass(FinetuneOptions, apply_overrides({}, items or []), "finetune")

# ---------------------------------------------------------------- model


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' warnings off while loading, then back as they were (the setting is process-wide)."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were not used" is expected: heads are dropped
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))


def load_encoder(model_dir: str | Path, random_init: bool = False) -> nn.Module:
    """The ElectraModel inside a folder saved from ElectraForPreTraining / ElectraForMaskedLM /
    ElectraModel; random_init builds the same architecture with fresh weights (the floor)."""
    from transformers import ElectraConfig, ElectraModel

    with _quiet_transformers():
        if random_init:
            return ElectraModel(ElectraConfig.from_pretrained(str(model_dir)))
        return ElectraModel.from_pretrained(str(model_dir))


def build_classifier(encoder: nn.Module, task: Task, options: FinetuneOptions) -> SequenceClassifier:
    """Encoder + head. With packed_dropout and transformers' forward, the encoder's own dropout
    modules are swapped for packed ones (as pretraining does): pass a copy you may change."""
    config = encoder.config
    head = build_head(options.head, config.hidden_size, task.num_labels, options.head_dropout, config.initializer_range)
    model = SequenceClassifier(encoder, head, lean=options.lean_forward, packed_dropout=options.packed_dropout)
    if options.packed_dropout:
        install_packed_dropout(model)  # the head's dropout, and transformers' path when it runs
    return model


# ---------------------------------------------------------------- optimisation


def build_optimizer(model: SequenceClassifier, options: FinetuneOptions) -> torch.optim.Optimizer:
    groups = layerwise_param_groups(
        model,
        model.encoder.config.num_hidden_layers,
        options.lr,
        options.layer_decay,
        options.official_extra_layer_decay,
        options.weight_decay,
    )
    if options.adam_bias_correction:
        return torch.optim.AdamW(groups, lr=options.lr, eps=options.adam_eps, weight_decay=options.weight_decay)
    return AdamWNoBiasCorrection(groups, lr=options.lr, eps=options.adam_eps, weight_decay=options.weight_decay,
                                 sqrt_floor=options.adam_sqrt_floor)


# ---------------------------------------------------------------- one task, one seed


@dataclass
class PreparedTask:
    """A task's splits, tokenised once and shared by every seed."""

    task: Task
    train: Encoded
    dev: Encoded
    test: Encoded | None
    epochs: int


def encode_task(task: Task, tokenizer, options: FinetuneOptions, glue_dir: Path | None) -> dict[str, Encoded]:
    """{"train", "dev"[, "test"]} token ids: train with swapped pairs, test only when reported."""
    splits = task.load(LoadOptions(glue_dir=glue_dir, caps=options.caps))
    regression = task.is_regression
    encoded = {"train": encode(tokenizer, with_swapped_pairs(task, splits["train"]), options.max_length, regression),
               "dev": encode(tokenizer, splits["dev"], options.max_length, regression)}
    if task.report_split == "test":
        encoded["test"] = encode(tokenizer, splits["test"], options.max_length, regression)
    return encoded


def prepare_task(task: Task, tokenizer, options: FinetuneOptions, glue_dir: Path | None,
                 tokenizer_dir: str | Path | None = None) -> PreparedTask:
    """Load and tokenise a task; from the on-disk cache when options.task_cache, the task is an
    offline one and tokenizer_dir (the folder the tokenizer was loaded from) is given."""
    def build():
        return encode_task(task, tokenizer, options, glue_dir)

    if options.task_cache and tokenizer_dir is not None and token_cache.cacheable(task):
        caps = options.caps or task.default_caps
        encoded = token_cache.cached_encodings(task, tokenizer_dir, caps, options.max_length, build)
    else:
        encoded = build()
    train = encoded["train"]
    return PreparedTask(task, train, encoded["dev"], encoded.get("test"), task_epochs(task, len(train), options))


def task_epochs(task: Task, train_examples: int, options: FinetuneOptions) -> int:
    epochs = options.epochs.get(task.name, task.epochs)
    steps_per_epoch = max(1, math.ceil(train_examples / options.batch_size))
    return max(epochs, math.ceil(options.min_updates / steps_per_epoch))


def evaluates_dev(epoch: int, epochs: int, max_dev_evals: int) -> bool:
    if max_dev_evals <= 0 or epoch == epochs:
        return True
    return epoch % math.ceil(epochs / max_dev_evals) == 0


def loss_fn(task: Task, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if task.is_regression:  # MSE on the scaled score (STS-B: label / 5)
        return nn.functional.mse_loss(logits.squeeze(-1).float(), labels / task.regression_divisor)
    return nn.functional.cross_entropy(logits.float(), labels)


@torch.inference_mode()
def predict(model: SequenceClassifier, task: Task, data: Encoded, options: FinetuneOptions, device,
            dtype) -> np.ndarray:
    model.eval()
    out = np.zeros(len(data), dtype=np.float64)
    for indices, batch in evaluation_batches(data, options.eval_batch_size, model.encoder.config.pad_token_id or 0):
        with autocast(device, dtype):
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                           batch["token_type_ids"].to(device))
        logits = logits.float().cpu()
        values = logits.squeeze(-1) * task.regression_divisor if task.is_regression else logits.argmax(-1)
        out[indices] = values.numpy()
    return out


def evaluate(model, task: Task, data: Encoded, options, device, dtype) -> dict[str, float]:
    return compute_metrics(task.metrics, predict(model, task, data, options, device, dtype), data.labels.numpy())


def finetune_seed(
    prepared: PreparedTask,
    encoder: nn.Module,
    seed: int,
    options: FinetuneOptions,
    device: torch.device,
    log=None,
    on_update=None,
) -> SeedResult:
    """Fine-tune a copy of `encoder` on one task with one seed; on_update(step, total) after
    every optimiser update."""
    task, started = prepared.task, time.time()
    torch.manual_seed(seed)  # head init and dropout
    model = build_classifier(copy.deepcopy(encoder), task, options).to(device)
    dtype = resolve_precision(options.precision, device)
    optimizer = build_optimizer(model, options)
    steps_per_epoch = math.ceil(len(prepared.train) / options.batch_size)
    total = steps_per_epoch * prepared.epochs
    warmup = max(1, round(options.warmup_fraction * total)) if options.warmup_fraction > 0 else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, total, warmup, options.warmup_overlaps_decay)
    )
    order = torch.Generator().manual_seed(seed)
    pad_id = model.encoder.config.pad_token_id or 0
    select_on_dev = prepared.test is not None
    dev_by_epoch, best_score, best_epoch, best_state = [], -math.inf, 0, None
    step = 0

    for epoch in range(1, prepared.epochs + 1):
        model.train()
        for batch in training_batches(prepared.train, options.batch_size, order, pad_id, options.bucket_batches):
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device, dtype):
                logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            loss = loss_fn(task, logits, batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if options.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            if on_update:
                on_update(step, total)
        if not evaluates_dev(epoch, prepared.epochs, options.max_dev_evals):
            continue
        dev = evaluate(model, task, prepared.dev, options, device, dtype)
        dev_by_epoch.append(dev[task.metric])
        if log:
            log(f"{task.name} seed {seed} epoch {epoch}/{prepared.epochs}: "
                f"dev {task.metric} {dev[task.metric]:.4f} loss {loss.item():.4f}")
        if select_on_dev and dev[task.metric] > best_score:
            best_score, best_epoch = dev[task.metric], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    if select_on_dev:
        model.load_state_dict(best_state)
        reported = evaluate(model, task, prepared.test, options, device, dtype)
    else:
        reported, best_epoch = dev, prepared.epochs
    return SeedResult(
        task=task.name,
        seed=seed,
        metric=task.metric,
        score=reported[task.metric],
        metrics=reported,
        report_split=task.report_split,
        dev_by_epoch=dev_by_epoch,
        best_epoch=best_epoch,
        train_examples=len(prepared.train),
        seconds=time.time() - started,
    )


# ---------------------------------------------------------------- a suite


def finetune_suite(
    model_dir: str | Path,
    suite: str = "offline",
    tasks: list[str] | None = None,
    seeds: int = 3,
    *,
    options: FinetuneOptions | None = None,
    glue_dir: Path | None = None,
    random_init: bool = False,
    progress: bool = True,
    progress_file: Path | None = None,
) -> SuiteResult:
    """Fine-tune the encoder in `model_dir` on every task of `suite` (or the named `tasks`) with
    `seeds` seeds each; report per-task medians with spread and the suite score (mean of medians).
    The paper uses 10 seeds on GLUE.

    progress: log each task and seed to stderr; progress_file: keep the job's live progress there
    (tasks/finetune_progress.py). options.cpu_threads sets torch's intra-op threads, which are
    process-wide, for the duration of this call only: they are put back on return or error. The
    seeds drive a forked copy of torch's random state, so the caller's stream is left as it was."""
    options = options or FinetuneOptions()
    threads_before = torch.get_num_threads()
    if options.cpu_threads:
        torch.set_num_threads(options.cpu_threads)
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=cuda):
            return _finetune_suite(model_dir, suite, tasks, seeds, options, glue_dir, random_init, progress,
                                   progress_file)
    finally:
        torch.set_num_threads(threads_before)


def _finetune_suite(model_dir, suite, tasks, seeds, options: FinetuneOptions, glue_dir, random_init, progress,
                    progress_file) -> SuiteResult:
    started = time.time()
    device = resolve_device(options.device)
    resolve_precision(options.precision, device)  # a bad option fails before any loading
    log = (lambda msg: print(f"[finetune] {msg}", file=sys.stderr, flush=True)) if progress else None
    selected = suite_tasks(suite, tasks)
    live = FinetuneProgress(progress_file, total=len(selected) * seeds)
    tokenizer = load_tokenizer(model_dir)
    pretrained = None if random_init else load_encoder(model_dir)
    results: dict[str, TaskResult] = {}
    for task in selected:
        prepared = prepare_task(task, tokenizer, options, glue_dir, tokenizer_dir=model_dir)
        if log:
            log(f"{task.name}: {len(prepared.train)} train / {len(prepared.dev)} dev"
                f"{f' / {len(prepared.test)} test' if prepared.test is not None else ''}, {prepared.epochs} epochs")
        result = TaskResult(task.name, task.metric, task.report_split)
        for i in range(seeds):
            seed = options.base_seed + i
            if random_init:
                torch.manual_seed(seed)  # a fresh encoder per seed
                encoder = load_encoder(model_dir, random_init=True)
            else:
                encoder = pretrained
            live.start(task.name, seed)
            run = finetune_seed(prepared, encoder, seed, options, device, log, on_update=live.update)
            live.run_done()
            result.runs.append(run)
            if log:
                log(f"{task.name} seed {seed}: {task.report_split} {task.metric} {run.score:.4f} "
                    f"(epoch {run.best_epoch}, {run.seconds:.0f} s)")
        results[task.name] = result
    return SuiteResult(
        suite=suite,
        model_dir=str(model_dir),
        random_init=random_init,
        tasks=results,
        options=asdict(options),
        seconds=time.time() - started,
    )
