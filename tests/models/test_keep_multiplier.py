"""multiplied_dropout (models/packed_dropout.py): packed_dropout's decisions from the same draws,
applied as a float multiplier, with gradients masked and scaled alike."""
import pytest
import torch

from electra_lab.models.packed_dropout import keep_mask, keep_multiplier, multiplied_dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_multiplier_keeps_exactly_what_keep_mask_keeps(p):
    shape = torch.Size([37, 129])  # not a multiple of four lanes
    torch.manual_seed(3)
    keep, scale = keep_mask(shape, p, torch.device("cpu"))
    torch.manual_seed(3)
    multiplier = keep_multiplier(shape, p, torch.device("cpu"))
    assert multiplier.dtype == torch.float32
    assert torch.equal(multiplier != 0, keep)
    assert torch.allclose(multiplier[keep], torch.tensor(scale, dtype=torch.float32))


def test_dropout_output_and_gradient_use_one_mask():
    x = torch.randn(64, 200, requires_grad=True)
    torch.manual_seed(5)
    y = multiplied_dropout(x, 0.1)
    y.sum().backward()
    kept = y != 0
    assert torch.equal(kept, x.grad != 0)
    assert torch.allclose(y[kept] / x.detach()[kept], x.grad[kept])
    assert 0.05 < 1 - kept.float().mean().item() < 0.15
    assert multiplied_dropout(x, 0.1, training=False) is x and multiplied_dropout(x, 0.0) is x


def test_bf16_input_keeps_its_dtype():
    x = torch.randn(8, 16).to(torch.bfloat16)
    assert multiplied_dropout(x, 0.1).dtype == torch.bfloat16
