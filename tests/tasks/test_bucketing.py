"""Length-bucketed training batches (batching.epoch_batches): every example once per epoch, seeded,
random across batches, and far less padding than plain random batches."""
import random

import pytest
import torch

from electra_lab.tasks.batching import Encoded, epoch_batches, training_batches

_RNG = random.Random(0)
LENGTHS = [_RNG.randint(4, 80) for _ in range(1000)]


def padded_tokens(batches, lengths) -> int:
    return sum(max(lengths[i] for i in b) * len(b) for b in batches)


@pytest.mark.parametrize("bucket_batches", [0, 4, 16])
def test_every_example_once_per_epoch_in_full_batches(bucket_batches):
    g = torch.Generator().manual_seed(0)
    for _ in range(3):  # epochs
        batches = epoch_batches(LENGTHS, 32, g, bucket_batches)
        assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
        sizes = sorted(len(b) for b in batches)
        assert len(batches) == 32 and sizes[1:] == [32] * 31 and sizes[0] == 1000 - 31 * 32


def test_bucketed_batches_pad_less():
    plain = epoch_batches(LENGTHS, 32, torch.Generator().manual_seed(0), 0)
    bucketed = epoch_batches(LENGTHS, 32, torch.Generator().manual_seed(0), 16)
    real = sum(LENGTHS)
    assert padded_tokens(bucketed, LENGTHS) < 1.15 * real < 1.5 * real < padded_tokens(plain, LENGTHS)


def test_order_is_seeded_and_random_across_batches():
    def first_batches(seed):
        return epoch_batches(LENGTHS, 32, torch.Generator().manual_seed(seed), 16)

    assert first_batches(0) == first_batches(0) and first_batches(0) != first_batches(1)
    longest = [max(LENGTHS[i] for i in b) for b in first_batches(0)]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)  # not a length sweep


def test_no_bucketing_is_the_plain_permutation():
    g, h = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    order = torch.randperm(len(LENGTHS), generator=h).tolist()
    assert epoch_batches(LENGTHS, 32, g, 0) == [order[s:s + 32] for s in range(0, len(order), 32)]


def test_training_batches_pad_to_the_batch_longest():
    data = Encoded([[2] + [7] * (n - 2) + [3] for n in LENGTHS[:100]], [[0] * n for n in LENGTHS[:100]],
                   torch.zeros(100, dtype=torch.long))
    seen = 0
    for batch in training_batches(data, 16, torch.Generator().manual_seed(0), pad_id=0, bucket_batches=4):
        lengths = batch["attention_mask"].sum(1)
        assert batch["input_ids"].shape[1] == lengths.max()
        assert torch.equal(batch["input_ids"] != 0, batch["attention_mask"].bool())
        seen += len(lengths)
    assert seen == 100
