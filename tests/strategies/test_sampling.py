"""The generator's sampler (strategies/_common.sample_from_softmax) draws from softmax(logits / T):
frequencies pass a chi-square test across full blocks and the ragged last block, masked tokens
are never drawn, and shapes and seeding behave."""
import pytest
import torch

from electra_lab.strategies._common import sample_from_softmax

VOCAB = 600  # two full 256-entry blocks and a ragged block of 88
DRAWS = 40_000


def bound(df: int) -> float:
    """~ the p = 1e-4 point of chi-square(df), normal approximation: fixed seeds stay far below it."""
    return df + 4 * (2 * df) ** 0.5


def chi_square(samples: torch.Tensor, probs: torch.Tensor) -> tuple[float, int]:
    observed = torch.bincount(samples.flatten(), minlength=probs.numel()).double()
    expected = probs.double() * samples.numel()
    enough = expected > 5
    stat = ((observed[enough] - expected[enough]) ** 2 / expected[enough]).sum().item()
    return stat, int(enough.sum()) - 1


@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("log_normalized", [False, True])
def test_frequencies_follow_the_softmax(temperature, log_normalized):
    torch.manual_seed(0)
    logits = torch.randn(VOCAB)
    logits[[3, 300, 599]] = float("-inf")  # masked entries in a full block and in the ragged block
    given = torch.log_softmax(logits, -1) if log_normalized else logits  # the joint step passes log-probabilities
    torch.manual_seed(1)
    samples = sample_from_softmax(given.expand(DRAWS // 4, 4, VOCAB), temperature, log_normalized)
    assert samples.shape == (DRAWS // 4, 4)
    assert not torch.isin(samples, torch.tensor([3, 300, 599])).any()
    probs = torch.softmax(logits.double() / temperature, -1)
    stat, df = chi_square(samples, probs)
    assert df > 400
    assert stat < bound(df), (stat, df)


def test_chi_square_rejects_a_slightly_wrong_distribution():
    # the test above has the power to see 25% too much mass on a sixth of the vocabulary
    torch.manual_seed(0)
    logits = torch.randn(VOCAB)
    torch.manual_seed(1)
    samples = sample_from_softmax(logits.expand(DRAWS, VOCAB))
    wrong = torch.softmax(logits.double(), -1)
    wrong[:100] *= 1.25
    stat, df = chi_square(samples, wrong / wrong.sum())
    assert stat > bound(df), (stat, df)


def test_certain_and_seeded():
    logits = torch.full((5, VOCAB), -50.0)
    logits[torch.arange(5), torch.tensor([0, 255, 256, 511, 599])] = 50.0  # block edges and the last entry
    assert sample_from_softmax(logits).tolist() == [0, 255, 256, 511, 599]
    noisy = torch.randn(8, 3, VOCAB, dtype=torch.bfloat16)
    torch.manual_seed(4)
    a = sample_from_softmax(noisy)
    torch.manual_seed(4)
    assert torch.equal(a, sample_from_softmax(noisy))
