"""Examples -> token ids -> padded batches.

Sequences are padded per batch, not to max_length: most offline texts are far shorter than
128 tokens, and padding to the batch's longest is the main saving on a CPU. Training batches can
also be bucketed by length (epoch_batches), which halves the padded tokens of a random batch of
short, varied texts.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from electra_lab.tasks.base import Example, Task


def with_swapped_pairs(task: Task, examples: Sequence[Example]) -> list[Example]:
    """Symmetric pair tasks (MRPC, STS-B) train on every pair in both orders; others unchanged."""
    if not (task.symmetric and task.is_pair):
        return list(examples)
    swapped = [Example(e.text_b, e.text_a, e.label, e.group) for e in examples if e.text_b is not None]
    return [*examples, *swapped]


@dataclass
class Encoded:
    """Token ids of a list of examples, unpadded, with float or int labels."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.input_ids)


def encode(tokenizer, examples: Sequence[Example], max_length: int, regression: bool) -> Encoded:
    text_a = [e.text_a for e in examples]
    text_b = [e.text_b or "" for e in examples] if any(e.text_b is not None for e in examples) else None
    enc = tokenizer(text_a, text_b, truncation=True, max_length=max_length, return_token_type_ids=True)
    labels = torch.tensor([e.label for e in examples], dtype=torch.float32 if regression else torch.long)
    return Encoded(enc["input_ids"], enc["token_type_ids"], labels)


def collate(data: Encoded, indices: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """[B, width] ids, segment ids and mask (1 = token), padded to the batch's longest."""
    rows = [data.input_ids[i] for i in indices]
    segments = [data.token_type_ids[i] for i in indices]
    lengths = [len(row) for row in rows]
    width = max(lengths)
    # one conversion per tensor, not a small tensor and a copy per row
    input_ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows], dtype=torch.long)
    token_type_ids = torch.tensor([seg + [0] * (width - len(seg)) for seg in segments], dtype=torch.long)
    attention_mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "labels": data.labels[list(indices)],
    }


def epoch_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                  bucket_batches: int = 0) -> list[list[int]]:
    """One epoch's batches of example indices, every index exactly once, in a seeded random order.

    bucket_batches=0: consecutive slices of one random permutation (every batch pads to the
    longest of a random sample). bucket_batches=k: the permutation is cut into chunks of k batches'
    worth of examples, each chunk sorted by length (ties stay in random order) and sliced into
    batches, and the batches are then shuffled, so a batch holds examples of similar length and
    pads little while the order across batches stays random. Either way every batch is full but
    one, so an epoch has ceil(n / batch_size) updates."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if bucket_batches <= 0:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    chunk = bucket_batches * batch_size
    batches = []
    for first in range(0, len(order), chunk):
        ranked = sorted(order[first : first + chunk], key=lambda i: lengths[i])  # stable: ties keep random order
        batches += [ranked[start : start + batch_size] for start in range(0, len(ranked), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def training_batches(data: Encoded, batch_size: int, generator: torch.Generator, pad_id: int,
                     bucket_batches: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """One epoch of padded batches in a seeded random order (epoch_batches)."""
    lengths = [len(ids) for ids in data.input_ids]
    for indices in epoch_batches(lengths, batch_size, generator, bucket_batches):
        yield collate(data, indices, pad_id)


def evaluation_batches(data: Encoded, batch_size: int,
                       pad_id: int) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Length-sorted batches (little padding) with the original positions of their rows."""
    order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, collate(data, indices, pad_id)
