"""Data-parallel training through torch.distributed (launched by torchrun or accelerate launch).

The process group comes from the launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT); nothing here starts processes. The split of a step's work is chosen so
a run does not depend on how many processes run it:

- `train.batch_size` is the global batch and `train.grad_accum` the number of micro-batches one
  process would split it into. A step is max(grad_accum, world) micro-batches; rank r computes the
  consecutive run of them that is its share, with gradient accumulation over its own, and DDP
  averages gradients over ranks. Whenever the world size divides grad_accum, the micro-batches
  (and, with the seeding below, their masks, samples and dropout) are the ones a single process
  computes: N processes reproduce the one-process run to float tolerance.
- Each micro-batch draws its randomness from a seed of (run seed, step, micro-batch index), not
  from a per-process stream, so the rank computing it does not matter.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed

from electra_lab.config import ConfigError

BACKENDS = ("auto", "gloo", "nccl")


@dataclass(frozen=True)
class StepPlan:
    """How one optimiser step's global batch is cut up.

    micro_per_step: micro-batches per step over all ranks; micro_batch: sequences in each;
    accum: micro-batches each rank computes (its gradient accumulation); first: index of this
    rank's first micro-batch within the step."""

    micro_per_step: int
    micro_batch: int
    accum: int
    first: int


def step_plan(batch_size: int, grad_accum: int, world: int, rank: int) -> StepPlan:
    """The split of a global batch of `batch_size` for `rank` of `world` (see the module docstring);
    a ConfigError names the numbers that do not divide."""
    if batch_size % world:
        raise ConfigError(f"train.batch_size={batch_size} is the global batch and must be divisible by the "
                          f"{world} processes (per-process batch = batch_size / processes)")
    micro_per_step = max(grad_accum, world)
    if micro_per_step % world:
        raise ConfigError(f"train.grad_accum={grad_accum} must be a multiple of the {world} processes (or at most "
                          f"{world}): each process computes an equal share of a step's micro-batches")
    if batch_size % micro_per_step:
        raise ConfigError(f"train.batch_size={batch_size} cannot be cut into {micro_per_step} equal micro-batches "
                          f"(grad_accum={grad_accum} on {world} processes)")
    accum = micro_per_step // world
    return StepPlan(micro_per_step, batch_size // micro_per_step, accum, rank * accum)


def micro_batch_seed(run_seed: int, step: int, micro_index: int) -> int:
    """The seed of one micro-batch's randomness: the same on whichever rank computes it."""
    return int(np.random.SeedSequence([run_seed, step, micro_index]).generate_state(1, np.uint64)[0] >> 1)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job. The single-process default needs no process group."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, in place (a no-op in one process)."""
        if self.active:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor

    def broadcast_from_main(self, obj):
        """Rank 0's `obj` on every rank (pickled; for checkpoints and small metadata)."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out


def launched_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_environment(device_name: str, backend: str = "auto") -> DistContext:
    """Join the process group the launcher describes (torchrun: RANK, WORLD_SIZE, LOCAL_RANK), or
    return the single-process context when there is none. Idempotent: a group already initialised
    (e.g. by accelerate) is used as it is."""
    world = launched_world()
    if world <= 1:
        return DistContext()
    if backend not in BACKENDS:
        raise ConfigError(f"train.dist_backend must be {'|'.join(BACKENDS)}, got {backend!r}")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    uses_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if backend == "auto":
        backend = "nccl" if uses_cuda else "gloo"
    if not torch.distributed.is_initialized():
        if uses_cuda:
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend=backend)
    return DistContext(rank=rank, world=world, local_rank=local_rank)


def rank_device(device: torch.device, ctx: DistContext) -> torch.device:
    """One GPU per local rank; a CPU run keeps the CPU."""
    if ctx.active and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


@contextlib.contextmanager
def process_group(device_name: str, backend: str = "auto"):
    """The DistContext for the duration; a group this call created is destroyed on leaving."""
    created = launched_world() > 1 and not torch.distributed.is_initialized()
    ctx = init_from_environment(device_name, backend)
    try:
        yield ctx
    finally:
        if created and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
