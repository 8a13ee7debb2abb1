"""Batches from packed blocks: a seeded epoch-wise shuffle whose position is checkpointed,
and a background thread that prepares the next batch while the current one trains."""
from __future__ import annotations

import queue
import threading

import numpy as np
import torch

from electra_lab.data.packing import as_input_ids, attention_mask, token_type_ids
from electra_lab.strategies._base import Batch


class BlockSampler:
    """Yields index arrays of `batch_size` blocks; epoch e uses permutation(seed + e).

    Data parallel: a step draws `micro_per_step` micro-batches in order and this process keeps
    `keep` of them starting at `first` (its share; see train.distributed), so every rank walks the
    same permutation and reads only its own blocks. The state is checkpointed between steps, when
    every rank has drawn the same whole steps."""

    def __init__(self, n_blocks: int, batch_size: int, seed: int, micro_per_step: int = 1, first: int = 0,
                 keep: int = 1):
        if n_blocks < batch_size:
            raise ValueError(f"only {n_blocks} training blocks for a batch of {batch_size}: "
                             "add data or shrink the batch")
        self.n_blocks, self.batch_size, self.seed = n_blocks, batch_size, seed
        self.micro_per_step, self.first, self.keep = micro_per_step, first, keep
        self.epoch, self.position = 0, 0
        self._pending: list[np.ndarray] = []
        self._perm = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng(self.seed + self.epoch).permutation(self.n_blocks)

    def _draw(self) -> np.ndarray:
        if self.position + self.batch_size > self.n_blocks:  # drop the ragged tail of an epoch
            self.epoch, self.position = self.epoch + 1, 0
            self._perm = self._permutation()
        idx = self._perm[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return np.sort(idx)  # sorted reads are kinder to a memory map

    def next_indices(self) -> np.ndarray:
        if not self._pending:
            step = [self._draw() for _ in range(self.micro_per_step)]
            self._pending = step[self.first : self.first + self.keep]
        return self._pending.pop(0)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._pending = []
        self._perm = self._permutation()


def make_batch(blocks: np.ndarray, pad_id: int, sep_id: int, device: torch.device) -> Batch:
    ids = as_input_ids(blocks)
    attention = attention_mask(ids, pad_id)
    token_types = token_type_ids(ids, sep_id, pad_id)
    non_blocking = device.type == "cuda"
    if non_blocking:
        ids, attention, token_types = ids.pin_memory(), attention.pin_memory(), token_types.pin_memory()
    return Batch(ids.to(device, non_blocking=non_blocking), attention.to(device, non_blocking=non_blocking),
                 token_types.to(device, non_blocking=non_blocking))


class Prefetcher:
    """Reads and transfers the next batch in a thread so data loading overlaps compute."""

    def __init__(self, blocks: np.ndarray, sampler: BlockSampler, pad_id: int, sep_id: int, device: torch.device,
                 depth: int = 2):
        self.blocks, self.sampler, self.pad_id, self.sep_id, self.device = blocks, sampler, pad_id, sep_id, device
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._states: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            idx = self.sampler.next_indices()
            state = self.sampler.state_dict()  # position AFTER this batch
            item = (make_batch(self.blocks[idx], self.pad_id, self.sep_id, self.device), state)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def next(self) -> tuple[Batch, dict]:
        """The next batch and the sampler state to checkpoint once it has been consumed."""
        return self._queue.get()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
