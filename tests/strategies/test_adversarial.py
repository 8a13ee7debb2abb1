"""Adversarial ELECTRA: REINFORCE on the discriminator's loss with a learned baseline."""
import math

import torch
import torch.nn.functional as F

from electra_lab.data.masking import gather_positions
from electra_lab.models.heads import encode, mlm_logits_at
from electra_lab.strategies import _common as common

from .helpers import setup

NO_NOISE = {"strategy.name": "adversarial", "model.dropout": 0.0, "model.sharing": "none"}


def one_example(tiny_cfg, tiny_tokenizer, **extra):
    cfg, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, batch_size=8, **NO_NOISE, **extra)
    batch = type(batch)(batch.input_ids[:1], batch.attention_mask[:1], batch.token_type_ids[:1])
    with torch.no_grad():  # a non-trivial baseline, so the test also covers b
        models["baseline"].weight.normal_(0.0, 0.5)
    return strategy, models, batch


def test_generator_gradient_is_the_reinforce_estimate(tiny_cfg, tiny_tokenizer):
    strategy, models, batch = one_example(tiny_cfg, tiny_tokenizer)
    gen = models["generator"]
    torch.manual_seed(7)
    strategy.step(models, batch, step=0).loss.backward()
    got = {n: p.grad.clone() for n, p in gen.named_parameters()}
    models.zero_grad(set_to_none=True)

    # the same masks and samples by hand (same seed, same sampling calls in the same order)
    torch.manual_seed(7)
    masked = common.mask_batch(batch, strategy.ctx)
    hidden = encode(gen, masked.input_ids, batch.attention_mask, batch.token_type_ids)
    logits = mlm_logits_at(hidden, gen, masked.positions)  # [1, P, V]
    samples = common.sample_from_softmax(logits)
    corrupted, is_replaced = common.replace_with_samples(batch, masked, samples)
    with torch.no_grad():
        d = torch.sigmoid(common.discriminate(models, corrupted, batch))  # P(replaced)
        replaced = is_replaced.gather(1, masked.positions)
        d_at = d.gather(1, masked.positions)
        reward = -torch.log(torch.where(replaced > 0, d_at, 1 - d_at))  # the discriminator's loss at the slot
        w_h = gather_positions(hidden, masked.positions) @ models["baseline"].weight[0]
        baseline = -torch.log(torch.sigmoid(w_h))
        # d/dlogits of  -1/N * sum_t (R_t - b_t) * log softmax(logits_t)[s_t]
        weights = masked.weights
        one_hot = F.one_hot(samples, logits.size(-1)).float()
        hand = -((weights * (reward - baseline)) / weights.sum()).unsqueeze(-1) * (one_hot - logits.softmax(-1))

    torch.testing.assert_close(got["generator_lm_head.bias"], hand.sum((0, 1)), rtol=1e-4, atol=1e-7)
    # and through the whole generator: backpropagating the hand-made dL/dlogits gives the same gradients
    expected = torch.autograd.grad(logits, list(gen.parameters()), grad_outputs=hand, allow_unused=True)
    for (name, _), want in zip(gen.named_parameters(), expected, strict=True):
        torch.testing.assert_close(got[name], torch.zeros_like(got[name]) if want is None else want,
                                   rtol=1e-4, atol=1e-7, msg=name)
    assert hand.abs().sum() > 0 and (reward - baseline).abs().max() > 1e-3


def test_baseline_is_fitted_to_the_reward_by_cross_entropy(tiny_cfg, tiny_tokenizer):
    strategy, models, batch = one_example(tiny_cfg, tiny_tokenizer)
    torch.manual_seed(3)
    out = strategy.step(models, batch, step=0)
    out.loss.backward()
    torch.manual_seed(3)
    masked = common.mask_batch(batch, strategy.ctx)
    gen = models["generator"]
    hidden = encode(gen, masked.input_ids, batch.attention_mask, batch.token_type_ids).detach()
    samples = common.sample_from_softmax(mlm_logits_at(hidden, gen, masked.positions))
    corrupted, is_replaced = common.replace_with_samples(batch, masked, samples)
    with torch.no_grad():
        reward = common.rtd_loss_per_token(common.discriminate(models, corrupted, batch), is_replaced)
        reward = reward.gather(1, masked.positions)
    h = gather_positions(hidden, masked.positions)
    w = models["baseline"].weight.detach().clone().requires_grad_()
    target = torch.exp(-reward)  # the probability the discriminator gave the true label
    loss = (F.binary_cross_entropy_with_logits(h @ w[0], target, reduction="none") * masked.weights).sum()
    (loss / masked.weights.sum()).backward()
    torch.testing.assert_close(models["baseline"].weight.grad, w.grad, rtol=1e-4, atol=1e-7)


def test_baseline_starts_at_chance_loss(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **NO_NOISE)
    out = strategy.step(models, batch, step=0)
    # b = -log sigmoid(0) = log 2, the BCE of a discriminator at chance; the advantage metric is R - b
    reward, advantage = (float(s / c) for s, c in (out.metrics["reward"], out.metrics["advantage"]))
    assert math.isclose(reward - advantage, math.log(2), rel_tol=1e-5)


def test_mlm_warmup_trains_the_generator_by_maximum_likelihood(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **NO_NOISE, **{"strategy.mlm_warmup_steps": 5})
    assert (strategy.phase(4), strategy.phase(5)) == ("mlm_warmup", "adversarial")
    torch.manual_seed(1)
    strategy.step(models, batch, step=4).loss.backward()
    got = models["generator"].generator_lm_head.bias.grad.clone()
    models.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    masked = common.mask_batch(batch, strategy.ctx)
    logits = common.generator_predictions(models, "generator", batch, masked)
    common.mlm_loss(logits, masked.labels, masked.weights).backward()
    torch.testing.assert_close(got, models["generator"].generator_lm_head.bias.grad, rtol=1e-5, atol=1e-7)
