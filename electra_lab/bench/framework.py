"""The framework's joint ELECTRA step, timed exactly as the Trainer runs it.

A real Trainer is built on synthetic blocks and its own `train_step` is called: prefetch thread,
strategy.step under the trainer's autocast, backward, global-norm clip, the project's optimiser
(AdamW: fused where the recipe corrects the bias, foreach where it does not) and the LR schedule.
Nothing is re-implemented.
"""
from __future__ import annotations

import tempfile
import time

import numpy as np
import torch

from electra_lab.config import Config
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import from_config
from electra_lab.train.batches import Prefetcher
from electra_lab.train.device import resolve_device, tune_process
from electra_lab.train.trainer import MetricWindow, Trainer


class FrameworkRun:
    """A Trainer plus its prefetcher; `step()` is one trainer optimiser step."""

    def __init__(self, cfg: Config, ids: SpecialIds, blocks: np.ndarray):
        self.cfg, self.ids = cfg, ids
        # the framework as `electra-lab pretrain` runs it: the entry point tunes the process first
        tune_process(cfg.train.threads, resolve_device(cfg.train.device))
        strategy = from_config(cfg, ids)
        valid = blocks[: cfg.train.batch_size]
        self.trainer = Trainer(cfg, strategy, ids, blocks, valid, tempfile.gettempdir(), tokenizer=None)
        self.window = MetricWindow()
        self.prefetch = Prefetcher(blocks, self.trainer.sampler, ids.pad, ids.sep, self.trainer.device)
        self.data_wait_s, self.steps_run = 0.0, 0
        fetch = self.prefetch.next

        def timed_next():  # how long the step waits for its batch: ~0 when the prefetch thread keeps up
            t0 = time.perf_counter()
            item = fetch()
            self.data_wait_s += time.perf_counter() - t0
            return item

        self.prefetch.next = timed_next

    @property
    def device(self) -> torch.device:
        return self.trainer.device

    @property
    def dtype(self) -> torch.dtype:
        return self.trainer.dtype

    def step(self) -> None:
        self.trainer.train_step(self.prefetch, self.window)
        self.trainer.step += 1
        self.steps_run += 1

    def flops_per_sequence(self) -> float:
        return self.trainer.strategy.flops_per_sequence(0)

    def metrics(self) -> dict[str, float]:
        """Mean training metrics since the last call (one host sync), and the mean wait for data."""
        out = self.window.read()
        out["data_wait_ms_per_step"] = 1e3 * self.data_wait_s / max(1, self.steps_run)
        return out

    def parameters(self) -> int:
        return sum(p.numel() for p in self.trainer.models.parameters())

    def close(self) -> None:
        self.prefetch.close()
