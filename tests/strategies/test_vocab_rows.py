"""Row-blocked vocabulary ops (strategies/_vocab_rows) give the same bits as the full-size ops
they replace: the token NLL and its gradient against autograd over F.log_softmax + F.nll_loss,
and the sampler's draws whatever the block size."""
import pytest
import torch
import torch.nn.functional as F

from electra_lab.strategies import _vocab_rows as vocab_rows
from electra_lab.strategies._vocab_rows import sample_from_softmax, token_nll


def reference_nll(logits, targets, temperature):
    x = logits.float()
    if temperature != 1.0:
        x = x / temperature
    log_probs = F.log_softmax(x, dim=-1)
    return F.nll_loss(log_probs.flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
@pytest.mark.parametrize("vocab", [600, 8192])
def test_nll_and_gradient_are_bit_equal_to_autograd(monkeypatch, dtype, temperature, vocab):
    monkeypatch.setattr(vocab_rows, "_BLOCK_BYTES", 4 * vocab * 16)  # 16-row blocks at either vocabulary
    torch.manual_seed(0)
    logits = (torch.randn(5, 19, vocab) * 4).to(dtype)
    targets = torch.randint(0, vocab, (5, 19))
    upstream = torch.rand(5, 19)  # per-slot weights, as the masked mean gives
    assert vocab_rows.rows_per_block(95, vocab, logits.device) == 16  # six blocks, a ragged last one

    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    nll = token_nll(ours, targets, temperature)
    expected = reference_nll(theirs, targets, temperature)
    assert nll.dtype == torch.float32
    assert torch.equal(nll, expected)
    (nll * upstream).sum().backward()
    (expected * upstream).sum().backward()
    assert ours.grad.dtype == dtype
    assert torch.equal(ours.grad, theirs.grad)


def test_gradient_matches_the_softmax_formula():
    # independent of autograd: d/dx of -log softmax(x / T)[t] is (softmax(x / T) - onehot(t)) / T
    torch.manual_seed(1)
    logits = torch.randn(40, 300, dtype=torch.float64).float().requires_grad_()
    targets = torch.randint(0, 300, (40,))
    token_nll(logits, targets, 2.0).sum().backward()
    expected = (torch.softmax(logits.detach().double() / 2.0, -1) - F.one_hot(targets, 300)) / 2.0
    torch.testing.assert_close(logits.grad.double(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("log_normalized", [False, True])
def test_draws_do_not_depend_on_the_block_size(monkeypatch, log_normalized):
    torch.manual_seed(2)
    logits = torch.randn(7, 13, 600, dtype=torch.bfloat16)
    if log_normalized:
        logits = torch.log_softmax(logits.float(), -1)
    draws = {}
    for block_bytes in (4 * 600, 4 * 600 * 10, 1 << 30):  # one row, ten rows, every row per block
        monkeypatch.setattr(vocab_rows, "_BLOCK_BYTES", block_bytes)
        torch.manual_seed(3)
        draws[block_bytes] = sample_from_softmax(logits, 2.0, log_normalized)
    first, *rest = draws.values()
    assert first.shape == (7, 13)
    assert all(torch.equal(first, other) for other in rest)
    assert first.unique().numel() > 30  # real draws, not a constant
