"""Examples -> token ids -> padded batches.

Sequences are padded per batch, not to max_length: most offline texts are far shorter than
128 tokens, and padding to the batch's longest is the main saving on a CPU.
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
    width = max(len(data.input_ids[i]) for i in indices)
    input_ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((len(indices), width), dtype=torch.long)
    attention_mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(data.input_ids[i])
        input_ids[row, :n] = torch.tensor(data.input_ids[i])
        token_type_ids[row, :n] = torch.tensor(data.token_type_ids[i])
        attention_mask[row, :n] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "labels": data.labels[list(indices)],
    }


def training_batches(data: Encoded, batch_size: int, generator: torch.Generator,
                     pad_id: int) -> Iterator[dict[str, torch.Tensor]]:
    """One epoch in a seeded random order."""
    order = torch.randperm(len(data), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        yield collate(data, order[start : start + batch_size], pad_id)


def evaluation_batches(data: Encoded, batch_size: int,
                       pad_id: int) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Length-sorted batches (little padding) with the original positions of their rows."""
    order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        yield indices, collate(data, indices, pad_id)
