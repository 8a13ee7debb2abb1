"""Packed-bit dropout (models/packed_dropout.py): the right drop rate, unbiased, the same mask in
forward and backward, seeded, and inside a transformers Electra model equal to stock SDPA
whenever no dropout is applied."""
import pytest
import torch
from torch import nn
from transformers import ElectraConfig, ElectraForPreTraining

from electra_lab.models.packed_dropout import (
    ATTENTION_NAME,
    PackedDropout,
    drop_threshold,
    install_packed_dropout,
    keep_factor,
    keep_mask,
    packed_attention,
    packed_dropout,
    remove_packed_dropout,
)
from electra_lab.train.trainer import Trainer


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    keep, scale = keep_mask(torch.Size([512, 1023]), p, torch.device("cpu"))  # an odd count: a partial last word
    n = keep.numel()
    exact = drop_threshold(p) / 2**16
    assert abs(exact - p) <= 2**-17
    dropped = 1.0 - keep.float().mean().item()
    assert abs(dropped - exact) < 4 * (exact * (1 - exact) / n) ** 0.5  # within 4 binomial standard errors
    assert scale == pytest.approx(1.0 / (1.0 - exact), rel=1e-12)


def test_each_16_bit_lane_is_uniform():
    # random_ over the full int64 range: the top lane must not be stuck at non-negative values
    torch.manual_seed(1)
    keep, _ = keep_mask(torch.Size([4 * 50_000]), 0.5, torch.device("cpu"))
    per_lane = 1.0 - keep.view(-1, 4).float().mean(0)
    assert torch.all((per_lane - 0.5).abs() < 0.01), per_lane


def test_expectation_and_gradient_use_the_forward_mask():
    torch.manual_seed(2)
    x = torch.full((256, 257), 3.0, requires_grad=True)
    y = packed_dropout(x, 0.1)
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(3.0 / (1 - drop_threshold(0.1) / 2**16)))
    assert y.mean().item() == pytest.approx(3.0, rel=0.01)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # the backward zeroes exactly the dropped elements
    assert torch.allclose(x.grad[kept], y[kept] / 3.0)


def test_seeded_and_identity_when_off():
    x = torch.randn(64, 64)
    torch.manual_seed(3)
    a = packed_dropout(x, 0.1)
    torch.manual_seed(3)
    assert torch.equal(a, packed_dropout(x, 0.1))
    assert packed_dropout(x, 0.1, training=False) is x
    assert packed_dropout(x, 0.0) is x


def tiny_electra(dropout=0.1):
    config = ElectraConfig(vocab_size=97, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                           hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                           attn_implementation="sdpa")
    torch.manual_seed(0)
    return ElectraForPreTraining(config)


def inputs():
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(5, 97, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 12:] = 0  # padding: the attention mask must be honoured
    return ids, mask


def test_model_outputs_equal_stock_sdpa_without_dropout():
    ids, mask = inputs()
    model = tiny_electra()
    model.eval()
    stock = model(ids, attention_mask=mask).logits
    install_packed_dropout(model)
    assert model.config._attn_implementation == ATTENTION_NAME
    assert all(type(m) is PackedDropout for m in model.modules() if isinstance(m, nn.Dropout))
    assert torch.equal(model(ids, attention_mask=mask).logits, stock)
    remove_packed_dropout(model)
    assert not any(isinstance(m, PackedDropout) for m in model.modules())
    assert model.config._attn_implementation == "sdpa"


def training_attention_module() -> nn.Module:
    """What transformers' attention functions read off the calling module."""
    module = nn.Module()
    module.is_causal, module.training = False, True
    return module


def test_attention_math_path_equals_sdpa_when_nothing_is_dropped():
    # dropout p is tiny but non-zero, so the math path runs; with threshold 0 no lane is dropped
    torch.manual_seed(5)
    q, k, v = (torch.randn(2, 2, 7, 8) for _ in range(3))
    attend = torch.ones(2, 1, 7, 7, dtype=torch.bool)
    attend[0, :, :, 5:] = False
    module = training_attention_module()
    ours, _ = packed_attention(module, q, k, v, attend, dropout=1e-7, scaling=0.3)
    stock = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=0.3).transpose(1, 2)
    assert drop_threshold(1e-7) == 0
    assert torch.allclose(ours, stock, atol=1e-6)


def test_attention_dropout_matches_dropping_the_probabilities_by_hand():
    # the math path rescales after the product with V: outputs and gradients must equal
    # softmax(q k^T * s, masked) -> keep * 1/(1-p) -> @ v, with the mask it drew from the same seed
    torch.manual_seed(6)
    q, k, v = (torch.randn(2, 3, 9, 4, requires_grad=True) for _ in range(3))
    attend = torch.ones(2, 1, 9, 9, dtype=torch.bool)
    attend[1, :, :, 6:] = False
    module = training_attention_module()
    torch.manual_seed(11)
    ours, _ = packed_attention(module, q, k, v, attend, dropout=0.5, scaling=0.4)
    ours_grads = torch.autograd.grad((ours * torch.arange(4.0)).sum(), (q, k, v))
    torch.manual_seed(11)
    keep, scale = keep_mask(torch.Size([2, 3, 9, 9]), 0.5, torch.device("cpu"))
    assert 0.3 < keep.float().mean() < 0.7
    probs = torch.softmax((q @ k.transpose(-1, -2) * 0.4).masked_fill(~attend, float("-inf")), dim=-1)
    by_hand = ((probs * keep * scale) @ v).transpose(1, 2)
    hand_grads = torch.autograd.grad((by_hand * torch.arange(4.0)).sum(), (q, k, v))
    assert torch.allclose(ours, by_hand, atol=1e-6)
    for a, b in zip(ours_grads, hand_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_bf16_attention_probabilities_are_the_fp32_softmax_rounded():
    # the math path takes the softmax in bf16 (fp32 inside the kernel): the output must be the bits
    # of an fp32 softmax cast to bf16, the probabilities the stock eager attention uses
    torch.manual_seed(7)
    q, k, v = (torch.randn(2, 2, 33, 16).bfloat16() for _ in range(3))
    attend = torch.ones(2, 1, 33, 33, dtype=torch.bool)
    attend[0, :, :, 20:] = False
    module = training_attention_module()
    torch.manual_seed(12)
    ours, _ = packed_attention(module, q, k, v, attend, dropout=0.1, scaling=0.25)
    torch.manual_seed(12)
    keep, scale = keep_factor(torch.Size([2, 2, 33, 33]), 0.1, torch.device("cpu"), torch.bfloat16)
    scores = torch.matmul(q * 0.25, k.transpose(-1, -2)).masked_fill(~attend, torch.finfo(torch.bfloat16).min)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(torch.bfloat16)
    by_hand = torch.matmul(probs * keep, v).mul_(scale).transpose(1, 2)
    assert ours.dtype == torch.bfloat16
    assert torch.equal(ours, by_hand)


def test_training_with_padding_is_seeded_and_finite():
    ids, mask = inputs()
    model = install_packed_dropout(tiny_electra())
    model.train()
    torch.manual_seed(6)
    a = model(ids, attention_mask=mask).logits
    torch.manual_seed(6)
    b = model(ids, attention_mask=mask).logits
    assert torch.equal(a, b) and torch.isfinite(a).all()
    a.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("on", [True, False])
def test_trainer_installs_it_when_configured(tiny_cfg, tiny_tokenizer, tmp_path, on):
    from electra_lab.data.masking import SpecialIds
    from electra_lab.strategies import from_config

    from .conftest import make_blocks

    cfg = tiny_cfg(**{"train.packed_dropout": on})
    ids = SpecialIds.of(tiny_tokenizer)
    blocks = make_blocks(16, cfg.data.seq_len, ids.vocab_size, seed=0)
    trainer = Trainer(cfg, from_config(cfg, ids), ids, blocks, blocks[:4], tmp_path, tokenizer=None)
    packed = [isinstance(m, PackedDropout) for m in trainer.models.modules() if isinstance(m, nn.Dropout)]
    assert packed and all(x == on for x in packed)
