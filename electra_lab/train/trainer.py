"""The one trainer every strategy runs on.

It owns device, precision, accumulation, schedule, budget, evaluation, checkpoints, resume,
progress and logging; the strategy owns the models and the loss. Nothing here knows which
strategy it is running.

Nothing here changes process-wide state: threads and the allocator are the entry point's
(train.device.tune_process), and the run's random stream (seeded by run.seed, saved in every
checkpoint) is swapped in only while the trainer builds models or trains, then the caller's
stream is put back.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from electra_lab.config import Config, to_dict
from electra_lab.data.masking import SpecialIds
from electra_lab.errors import ElectraLabError
from electra_lab.models.export import export_models
from electra_lab.models.packed_dropout import install_packed_dropout
from electra_lab.progress import write_progress
from electra_lab.strategies import Strategy
from electra_lab.strategies._base import scalar_metric
from electra_lab.train import checkpoint as ckpt
from electra_lab.train.batches import BlockSampler, Prefetcher, make_batch
from electra_lab.train.budget import resolve_budget
from electra_lab.train.device import autocast, resolve_device, resolve_precision
from electra_lab.train.distributed import DistContext, micro_batch_seed, rank_device, step_plan
from electra_lab.train.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)
# every evaluation masks and samples from this seed: the same corruption each time (diagnostics reuse it)
EVAL_MASKING_SEED = 12345


class TrainingDiverged(ElectraLabError, RuntimeError):
    """A non-finite loss: the run stops, naming the step; the last good checkpoint stays."""


class MetricWindow:
    """Accumulates (sum, count) tensors on device; read (one sync, summed over data-parallel ranks)
    only when logging."""

    def __init__(self, dist: DistContext | None = None):
        self.sums: dict[str, list[torch.Tensor]] = {}
        self.dist = dist or DistContext()

    def add(self, metrics) -> None:
        for name, (total, count) in metrics.items():
            if name in self.sums:
                self.sums[name][0] += total
                self.sums[name][1] += count
            else:
                self.sums[name] = [total.clone(), count.clone()]

    def read(self) -> dict[str, float]:
        if not self.sums:
            return {}
        names = list(self.sums)
        stacked = self.dist.all_reduce_sum(torch.stack([torch.stack(self.sums[n]) for n in names])).cpu().tolist()
        self.sums = {}
        return {n: (s / c if c else float("nan")) for n, (s, c) in zip(names, stacked, strict=True)}


class RankedWindow:
    """Concatenates Ranked scores over evaluation batches; read gives each one's ROC AUC (nan when
    the held-out tokens hold one class only)."""

    def __init__(self):
        self.parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def add(self, ranked) -> None:
        for name, r in ranked.items():
            keep = r.mask.bool()
            self.parts.setdefault(name, []).append((r.scores[keep].float(), r.labels[keep].float()))

    def read(self) -> dict[str, float]:
        from sklearn.metrics import roc_auc_score

        out = {}
        for name, parts in self.parts.items():
            scores = torch.cat([p[0] for p in parts]).cpu().numpy()
            labels = torch.cat([p[1] for p in parts]).cpu().numpy()
            out[name] = float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else float("nan")
        self.parts = {}
        return out


class StepModule(nn.Module):
    """The strategy's step as a module, so DistributedDataParallel sees the forward pass whose
    backward it reduces. forward(batch, step) -> (loss, StepOutput)."""

    def __init__(self, strategy: Strategy, models: nn.ModuleDict):
        super().__init__()
        self.strategy, self.models = strategy, models

    def forward(self, batch, step: int):
        out = self.strategy.step(self.models, batch, step)
        return out.loss, out


def snapshot_folder(run_dir: Path, fraction: float) -> Path:
    """Where the encoder exported at a fraction of the budget goes (train.snapshot_fractions)."""
    return run_dir / "snapshots" / f"frac_{fraction:.4f}"


class Trainer:
    """Data parallel when `dist` is active: every rank trains its share of each step (see
    train.distributed); rank 0 alone evaluates, logs, checkpoints and exports."""

    def __init__(self, cfg: Config, strategy: Strategy, ids: SpecialIds, train_blocks: np.ndarray,
                 valid_blocks: np.ndarray, run_dir: Path, tokenizer, tracker=None, dist: DistContext | None = None):
        self.cfg, self.strategy, self.ids = cfg, strategy, ids
        self.train_blocks, self.valid_blocks = train_blocks, valid_blocks
        self.run_dir, self.tokenizer, self.tracker = Path(run_dir), tokenizer, tracker
        self.dist = dist or DistContext()
        self.plan = step_plan(cfg.train.batch_size, cfg.train.grad_accum, self.dist.world, self.dist.rank)
        self.device = rank_device(resolve_device(cfg.train.device), self.dist)
        self.dtype = resolve_precision(cfg.train.precision, self.device)
        self.budget = resolve_budget(cfg, strategy)
        caller_rng = ckpt.rng_state()
        torch.manual_seed(cfg.run.seed)
        try:
            self.models: nn.ModuleDict = strategy.build().to(self.device)
            self._rng = ckpt.rng_state()  # the run's stream continues from here when training starts
        finally:
            ckpt.set_rng_state(caller_rng)
        self._rng_swapped_in = False
        if cfg.train.packed_dropout:
            install_packed_dropout(self.models)
        self.optimizer = build_optimizer(strategy.param_groups(self.models), cfg.optim, self.device)
        self.restarts = set(strategy.schedule_restarts())
        self.scheduler = build_scheduler(self.optimizer, cfg.optim, self.budget.total_steps, sorted(self.restarts))
        self.micro_batch = self.plan.micro_batch
        self.sampler = BlockSampler(len(train_blocks), self.micro_batch, cfg.run.seed, self.plan.micro_per_step,
                                    self.plan.first, self.plan.accum)
        self.step, self.flops, self.tokens = 0, 0.0, 0
        self._saved_step: int | None = None  # the step of the checkpoint on disk
        self.data_state = self.sampler.state_dict()
        self.snapshots_done: list[float] = []
        self.history: list[dict] = []
        # called as on_snapshot(trainer, fraction, folder) after each snapshot export (a sweep's
        # intermediate value; raising stops the run, e.g. optuna.TrialPruned)
        self.on_snapshot = None
        self._ddp = self._wrap_data_parallel()
        self._compiled_step = self._maybe_compile(self._ddp if self._ddp is not None else strategy.step)

    # ------------------------------------------------------------------ state

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def state_dict(self) -> dict:
        return {
            "models": self.models.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step, "flops": self.flops, "tokens": self.tokens,
            "data": self.data_state, "rng": ckpt.rng_state() if self._rng_swapped_in else self._rng,
            "snapshots_done": self.snapshots_done, "history": self.history,
            "config": to_dict(self.cfg),
            "world_size": self.dist.world, "micro_per_step": self.plan.micro_per_step,
        }

    def load_state_dict(self, state: dict) -> None:
        self._note_world_change(state)
        self.models.load_state_dict(state["models"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.flops, self.tokens = state["step"], state["flops"], state["tokens"]
        self.data_state = state["data"]
        self.sampler.load_state_dict(self.data_state)
        self.snapshots_done = list(state.get("snapshots_done", []))
        self.history = list(state.get("history", []))
        if self._rng_swapped_in:
            ckpt.set_rng_state(state["rng"])
        else:
            self._rng = state["rng"]

    def save(self) -> None:
        if self.dist.is_main:  # the ranks' states are identical after a step
            ckpt.save_checkpoint(self.checkpoint_path, self.state_dict())
        self._saved_step = self.step

    def resume_if_possible(self) -> bool:
        """Load the latest checkpoint if the run resumes; rank 0 reads it and sends it to the others,
        so several machines need no shared run folder."""
        found = self.cfg.run.resume and ckpt.checkpoint_exists(self.checkpoint_path)
        state = ckpt.load_latest_checkpoint(self.checkpoint_path) if found and self.dist.is_main else None
        state = self.dist.broadcast_from_main(state)
        if state is None:
            return False
        self.load_state_dict(state)
        self._saved_step = self.step
        return True

    def _note_world_change(self, state: dict) -> None:
        """Say what resuming on another number of processes does (the global batch is kept)."""
        was_world, was_micro = state.get("world_size", 1), state.get("micro_per_step", self.cfg.train.grad_accum)
        if was_world == self.dist.world or not self.dist.is_main:
            return
        if was_micro == self.plan.micro_per_step:
            consequence = (f"the step is still {was_micro} micro-batches of {self.micro_batch}, so the run continues "
                           "exactly as it would have")
        else:
            consequence = (f"a step is now {self.plan.micro_per_step} micro-batches instead of {was_micro}: the same "
                           "global batch and data order, but not the same numbers as an uninterrupted run "
                           f"(keep grad_accum a multiple of both process counts to resume exactly)")
        log.warning("%s was written by %d process(es) and resumes on %d: the global batch stays "
                    "train.batch_size=%d; %s", self.checkpoint_path, was_world, self.dist.world,
                    self.cfg.train.batch_size, consequence)

    # ------------------------------------------------------------------ loop

    @contextlib.contextmanager
    def run_rng(self):
        """Swap the run's random stream in for the duration (masking, sampling, dropout draw from
        it), then put the caller's back."""
        if self._rng_swapped_in:
            yield
            return
        caller = ckpt.rng_state()
        ckpt.set_rng_state(self._rng)
        self._rng_swapped_in = True
        try:
            yield
        finally:
            self._rng = ckpt.rng_state()
            self._rng_swapped_in = False
            ckpt.set_rng_state(caller)

    def _wrap_data_parallel(self):
        if not self.dist.active:
            return None
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        # some strategies leave parameters without gradients in some steps (two-stage's phases, a
        # frozen generator), so DDP looks for them every step
        return DistributedDataParallel(StepModule(self.strategy, self.models), device_ids=ids,
                                       find_unused_parameters=True)

    def _maybe_compile(self, fn):
        if not self.cfg.train.compile:
            return fn
        # On CPU, inductor's own per-element RNG (dropout masks, sampling noise) was slower than ATen's
        # random ops: tiny ELECTRA compiled ran 1.5x slower than eager, and ~10% faster than eager with
        # fallback_random (which also keeps the eager random streams). On CUDA inductor's RNG is fast.
        options = {"fallback_random": True} if self.device.type == "cpu" else None
        return torch.compile(fn, dynamic=False, options=options)

    def fit(self, max_steps: int | None = None) -> dict:
        """Train until the budget (or max_steps, for tests that stop early) is reached."""
        t = self.cfg.train
        stop_at = min(self.budget.total_steps, max_steps or self.budget.total_steps)
        window = MetricWindow(self.dist)
        self.sampler.load_state_dict(self.data_state)  # the prefetcher may have read ahead before
        prefetch = Prefetcher(self.train_blocks, self.sampler, self.ids.pad, self.ids.sep, self.device)
        bar = tqdm(total=self.budget.total_steps, initial=self.step, disable=not (t.progress and self.dist.is_main),
                   unit="step",
                   dynamic_ncols=True, desc=self.cfg.run.name)
        tokens_per_step = t.batch_size * self.cfg.data.seq_len
        last_time, last_step = time.perf_counter(), self.step
        with self.run_rng():
            try:
                while self.step < stop_at:
                    self.train_step(prefetch, window)
                    self.flops += self.budget.flops_per_step[self.step]
                    self.tokens += tokens_per_step
                    self.step += 1
                    bar.update(1)

                    last = self.step == self.budget.total_steps
                    if self.step % t.log_every == 0 or last:
                        now = time.perf_counter()
                        rate = (self.step - last_step) * tokens_per_step / max(now - last_time, 1e-9)
                        last_time, last_step = now, self.step
                        logged = self._log("train", window.read(), extra={"tokens_per_s": rate})
                        loss = logged.get("train/loss", float("nan"))
                        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:,.0f}")
                        if self.dist.is_main:
                            self._write_progress(rate, loss)
                    if (self.step % t.eval_every == 0 or last) and self.dist.is_main:
                        self._log("eval", self.evaluate())
                    self._take_snapshots()
                    if self.step % t.checkpoint_every == 0 or last:
                        self.save()
            except Exception as exc:
                if isinstance(exc, ckpt.DiskFull) or not ckpt.is_disk_full(exc):
                    raise
                raise ckpt.DiskFull(
                    f"no space left on the device of {self.run_dir} at step {self.step} ({exc}); the last checkpoint "
                    f"{self.checkpoint_path} (step {self._saved_step}) is intact: free some space and run again to "
                    "resume") from exc
            finally:
                prefetch.close()
                bar.close()
        return self.history[-1] if self.history else {}

    def _write_progress(self, tokens_per_s: float, loss: float) -> None:
        """<run_dir>/progress.json: what a parent process (demo, studies) shows as this job's line."""
        left = self.budget.total_steps - self.step
        steps_per_s = tokens_per_s / (self.cfg.train.batch_size * self.cfg.data.seq_len)
        write_progress(self.run_dir / "progress.json", kind="pretrain", step=self.step,
                       total_steps=self.budget.total_steps, tokens_per_s=tokens_per_s, loss=loss,
                       phase=self.strategy.phase(max(self.step - 1, 0)), eta_s=left / max(steps_per_s, 1e-9))

    def train_step(self, prefetch: Prefetcher, window: MetricWindow) -> None:
        """One optimiser step: this rank's micro-batches under autocast, backward (DDP averages the
        gradients over ranks on the last one), clip, step, schedule. Each micro-batch's masks,
        samples and dropout come from its own seed (train.distributed.micro_batch_seed). No host
        synchronisation; the speed benchmark times exactly this method."""
        self.models.train()
        if self.step in self.restarts:
            self.optimizer.state.clear()  # moments start again with the schedule (rebuilt lazily)
        self.optimizer.zero_grad(set_to_none=True)
        accum = self.plan.accum
        for i in range(accum):
            batch, self.data_state = prefetch.next()
            torch.manual_seed(micro_batch_seed(self.cfg.run.seed, self.step, self.plan.first + i))
            sync = self._ddp is None or i == accum - 1
            with contextlib.nullcontext() if sync else self._ddp.no_sync():
                with autocast(self.device, self.dtype):
                    if self._ddp is None:
                        out = self._compiled_step(self.models, batch, self.step)
                    else:
                        out = self._compiled_step(batch, self.step)[1]
                (out.loss / accum).backward()
            window.add(out.metrics)
        if self.cfg.optim.clip_norm:
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            grad_norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.clip_norm, foreach=True)
            window.add({"grad_norm": scalar_metric(grad_norm)})
        self.optimizer.step()
        self.scheduler.step()

    def _log(self, split: str, metrics: dict[str, float], extra: dict | None = None) -> dict:
        values = {f"{split}/{k}": v for k, v in metrics.items()}
        if split == "train":
            loss = metrics.get("loss")
            if loss is not None and not math.isfinite(loss):
                raise TrainingDiverged(
                    f"non-finite training loss ({loss}) at step {self.step} ({self.cfg.run.name}); the last good "
                    f"checkpoint is kept at {self.checkpoint_path}. Try a lower optim.lr or train.precision=fp32."
                )
            values["train/lr"] = self.scheduler.get_last_lr()[0]
            values.update(extra or {})
        values.update({"flops": self.flops, "tokens": float(self.tokens)})
        row = {"step": self.step, "phase": self.strategy.phase(max(self.step - 1, 0)), **values}
        self.history.append(row)
        if self.tracker:
            self.tracker.log_metrics(values, step=self.step)
        return values

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out metrics on fixed validation blocks with a fixed masking seed, so every
        evaluation sees the same corruption and the training RNG stream is untouched."""
        self.models.eval()
        window, ranked = MetricWindow(), RankedWindow()
        n = min(len(self.valid_blocks), self.cfg.train.eval_batches * self.micro_batch)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(EVAL_MASKING_SEED)
            for start in range(0, n, self.micro_batch):
                batch = make_batch(self.valid_blocks[start : start + self.micro_batch], self.ids.pad, self.ids.sep,
                                   self.device)
                with autocast(self.device, self.dtype):
                    out = self.strategy.step(self.models, batch, self.step)
                window.add(out.metrics)
                ranked.add(out.ranked)
        self.models.train()
        return {**window.read(), **ranked.read()}

    # ------------------------------------------------------------------ exports

    def export(self, folder: Path) -> dict[str, Path]:
        """Rank 0 writes (the models are the same on every rank); others return no paths."""
        if not self.dist.is_main:
            return {}
        return export_models(self.strategy.export_models(self.models), self.tokenizer, folder)

    def _take_snapshots(self) -> None:
        """Export an encoder each time the spent FLOPs pass one of train.snapshot_fractions."""
        for frac in sorted(self.cfg.train.snapshot_fractions):
            if frac in self.snapshots_done or self.flops < frac * self.budget.total_flops - 1e-6:
                continue
            self.snapshots_done.append(frac)
            if not self.dist.is_main:
                continue
            folder = snapshot_folder(self.run_dir, frac)
            self.export(folder)
            (folder / "pretrain_flops.txt").write_text(f"{self.flops}\n{self.step}\n")
            (folder / "pretrain_flops_by_lookup.json").write_text(json.dumps(self.budget.flops_at(self.step)))
            if self.on_snapshot is not None:
                self.on_snapshot(self, frac, folder)

    def write_history_csv(self, path: Path) -> None:
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
