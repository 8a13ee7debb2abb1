"""Table 5's efficiency variants: ELECTRA 15%, Replace MLM, All-Tokens MLM."""
import math

import pytest
import torch
import torch.nn.functional as F

from electra_lab.config import ConfigError
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import _common as common
from electra_lab.strategies import from_config
from electra_lab.strategies.all_tokens_mlm import copy_mixture_log_prob

from .helpers import setup

NO_DROPOUT = {"model.dropout": 0.0}


def test_electra_15_discriminator_loss_covers_only_masked_positions(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "electra_15", **NO_DROPOUT})
    torch.manual_seed(5)
    out = strategy.step(models, batch, 0)
    torch.manual_seed(5)
    c = common.corrupt_with_generator(models, batch, strategy.ctx)
    per_token = common.rtd_loss_per_token(common.discriminate(models, c.corrupted, batch), c.is_replaced)
    rows = torch.arange(batch.input_ids.size(0)).unsqueeze(1).expand_as(c.masked.positions)
    real = c.masked.weights > 0
    expected = per_token[rows[real], c.masked.positions[real]].mean()  # one term per masked slot
    disc_loss = out.metrics["disc_loss"][0]
    torch.testing.assert_close(disc_loss, expected)
    everywhere = ((per_token * batch.attention_mask).sum() / batch.attention_mask.sum()).detach()
    assert not math.isclose(disc_loss.item(), everywhere.item(), rel_tol=1e-4)


def test_replace_mlm_model_reads_samples_never_mask(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "replace_mlm"})
    seen = {}
    for key in ("generator", "mlm"):
        models[key].electra.register_forward_pre_hook(
            lambda mod, args, kwargs, key=key: seen.__setitem__(key, kwargs["input_ids"]), with_kwargs=True)
    torch.manual_seed(2)
    strategy.step(models, batch, 0)
    mask_id = strategy.ctx.ids.mask
    assert (seen["generator"] == mask_id).any()
    assert not (seen["mlm"] == mask_id).any()
    torch.manual_seed(2)
    c = common.corrupt_with_generator(models, batch, strategy.ctx)
    assert torch.equal(seen["mlm"], c.corrupted)
    assert strategy.export_models(models)["encoder"] is models["mlm"]


@pytest.mark.parametrize("name", ["replace_mlm", "all_tokens_mlm"])
def test_mlm_variants_refuse_gdes(tiny_cfg, tiny_tokenizer, name):
    strategy = from_config(tiny_cfg(**{"strategy.name": name, "model.sharing": "gdes"}), SpecialIds.of(tiny_tokenizer))
    with pytest.raises(ConfigError, match="gdes"):
        strategy.build()


def test_copy_mixture_by_hand():
    vocab_logits = torch.tensor([[[1.0, 0.0, -1.0, 2.0], [0.5, 0.5, 0.0, 0.0]]])  # [1, 2, 4]
    copy_logits = torch.tensor([[0.3, -1.2]])
    inputs = torch.tensor([[3, 1]])
    targets = torch.tensor([[3, 2]])  # position 0: the input is the original; position 1: it was replaced
    got = copy_mixture_log_prob(vocab_logits, copy_logits, inputs, targets).exp()
    d, soft = torch.sigmoid(copy_logits), vocab_logits.softmax(-1)
    expected = torch.stack([d[0, 0] + (1 - d[0, 0]) * soft[0, 0, 3], (1 - d[0, 1]) * soft[0, 1, 2]]).unsqueeze(0)
    torch.testing.assert_close(got, expected)


def test_copy_mixture_gradients_are_finite_when_copying_cannot_help():
    vocab_logits = torch.randn(2, 5, 7, requires_grad=True)
    copy_logits = torch.randn(2, 5, requires_grad=True)
    inputs = torch.randint(0, 7, (2, 5))
    log_p = copy_mixture_log_prob(vocab_logits, copy_logits, inputs, (inputs + 1) % 7)  # never equal
    log_p.sum().backward()
    assert torch.isfinite(vocab_logits.grad).all() and torch.isfinite(copy_logits.grad).all()
    # with nothing to copy, the copy layer is pushed towards "replaced": d/dc log(1 - sigmoid(c)) = -sigmoid(c)
    torch.testing.assert_close(copy_logits.grad, -torch.sigmoid(copy_logits.detach()))


def test_all_tokens_mlm_loss_is_over_every_non_pad_token(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "all_tokens_mlm", **NO_DROPOUT})
    torch.manual_seed(4)
    out = strategy.step(models, batch, 0)
    torch.manual_seed(4)
    c = common.corrupt_with_generator(models, batch, strategy.ctx)
    model = models["mlm"]
    hidden = model.electra(input_ids=c.corrupted, attention_mask=batch.attention_mask,
                           token_type_ids=batch.token_type_ids).last_hidden_state
    log_probs = F.log_softmax(model.generator_lm_head(model.generator_predictions(hidden)), -1)
    d = torch.sigmoid(models["copy_head"](hidden).squeeze(-1))
    p_original = (1 - d) * log_probs.exp().gather(-1, batch.input_ids.unsqueeze(-1)).squeeze(-1)
    p_original = p_original + d * (c.corrupted == batch.input_ids).float()
    real = batch.attention_mask.bool()
    torch.testing.assert_close(out.metrics["mlm_loss"][0], -p_original.log()[real].mean(), rtol=1e-5, atol=1e-6)
    assert strategy.export_models(models)["encoder"] is models["mlm"]
