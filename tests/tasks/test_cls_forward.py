"""The lean [CLS] forward (tasks/cls_forward.py) computes what transformers' ElectraModel computes."""
import pytest
import torch
from transformers import ElectraConfig, ElectraModel

from electra_lab.tasks.cls_forward import _attention, _Dropout, cls_states, supports
from electra_lab.tasks.finetune import load_encoder


def batch(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (4, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padded rows
    mask[3, 4:] = 0
    ids[mask == 0] = 0
    segments = torch.zeros_like(ids)
    segments[:, 6:] = 1  # a pair's second segment
    ids[:, 0] = 2  # [CLS]
    return ids, mask, segments


def reference(encoder, ids, mask, segments):
    return encoder(input_ids=ids, attention_mask=mask, token_type_ids=segments).last_hidden_state[:, :1]


def test_eval_output_equals_transformers(tiny_model_dir):
    encoder = load_encoder(tiny_model_dir).eval()  # embedding 16 -> hidden 32: embeddings_project too
    assert hasattr(encoder, "embeddings_project") and supports(encoder)
    inputs = batch(encoder.config.vocab_size)
    with torch.no_grad():
        assert torch.allclose(cls_states(encoder, *inputs), reference(encoder, *inputs), atol=1e-5)


def test_gradients_equal_transformers_without_dropout():
    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=50, embedding_size=24, hidden_size=24, num_hidden_layers=3,
                           num_attention_heads=2, intermediate_size=48, max_position_embeddings=32,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    encoder = ElectraModel(config).train()
    inputs = batch(50, seed=1)
    weights = torch.randn(4, 1, 24)

    def grads(forward):
        encoder.zero_grad()
        (forward(encoder, *inputs) * weights).sum().backward()
        return {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}

    lean, stock = grads(cls_states), grads(reference)
    assert set(lean) == set(stock)
    for name in stock:
        assert torch.allclose(lean[name], stock[name], atol=1e-5), name


class _NoDrop(_Dropout):
    def __call__(self, x, p):
        return x


def test_written_out_training_attention_equals_sdpa():
    """The training branch (scores + bias, softmax, dropout, values) with dropout stubbed out."""
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(3, 2, n, 8, generator=g) for n in (5, 9, 9))
    keep = torch.ones(3, 1, 1, 9, dtype=torch.bool)
    keep[0, ..., 6:] = False
    bias = torch.zeros(keep.shape).masked_fill_(~keep, torch.finfo(torch.float32).min)
    written = _attention(q, k, v, bias, keep, 0.1, _NoDrop(training=True, packed=False))
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    assert torch.allclose(written, fused, atol=1e-5)


@pytest.mark.parametrize("packed", [False, True])
def test_training_mode_applies_dropout_and_is_seeded(tiny_model_dir, packed):
    encoder = load_encoder(tiny_model_dir).train()
    inputs = batch(encoder.config.vocab_size)
    outs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        outs.append(cls_states(encoder, *inputs, packed=packed))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    with torch.no_grad():
        assert not torch.allclose(outs[0], reference(encoder.eval(), *inputs), atol=1e-4)


def test_unsupported_encoders_fall_back_to_transformers(tiny_model_dir):
    from electra_lab.tasks.heads import ClsLinearHead, SequenceClassifier

    decoder = ElectraModel(ElectraConfig(vocab_size=30, embedding_size=16, hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32, is_decoder=True))
    assert not supports(decoder)
    assert not SequenceClassifier(decoder, ClsLinearHead(16, 2), lean=True).lean
    assert SequenceClassifier(load_encoder(tiny_model_dir), ClsLinearHead(32, 2), lean=True).lean
