import pytest
import torch

from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import _common as common
from electra_lab.strategies import from_config
from electra_lab.train.batches import make_batch
from electra_lab.train.budget import resolve_budget

from .conftest import make_blocks


def setup(tiny_cfg, tiny_tokenizer, **extra):
    cfg = tiny_cfg(**extra)
    ids = SpecialIds.of(tiny_tokenizer)
    strategy = from_config(cfg, ids)
    resolve_budget(cfg, strategy)
    torch.manual_seed(0)
    models = strategy.build()
    batch = make_batch(make_blocks(8, 32, ids.vocab_size), ids.pad, ids.sep, torch.device("cpu"))
    return cfg, ids, strategy, models, batch


def test_sample_equal_to_original_is_labelled_original(tiny_cfg, tiny_tokenizer):
    _, _, strategy, _, batch = setup(tiny_cfg, tiny_tokenizer)
    masked = common.mask_batch(batch, strategy.ctx)
    # the generator "samples" the original token everywhere except the first real slot of each row
    samples = masked.labels.clone()
    samples[:, 0] = torch.where(masked.labels[:, 0] == 10, 11, 10)
    corrupted, is_replaced = common.replace_with_samples(batch, masked, samples)
    assert torch.equal(is_replaced.sum(1), torch.ones(8))
    assert torch.equal(is_replaced.bool(), corrupted != batch.input_ids)
    rows = torch.arange(8)
    assert torch.all(is_replaced[rows, masked.positions[:, 0]] == 1)


def generator_grads(tiny_cfg, tiny_tokenizer, **extra) -> dict[str, torch.Tensor]:
    """The generator's gradients after one real joint step (same weights, masks and samples)."""
    _, _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **extra)
    torch.manual_seed(1)
    strategy.step(models, batch, 0).loss.backward()
    return {n: p.grad.clone() for n, p in models["generator"].named_parameters() if p.grad is not None}


@pytest.mark.parametrize("sharing, rtd_reaches_shared_tables", [("none", False), ("embeddings", True)])
def test_the_rtd_term_reaches_the_generator_only_through_shared_weights(tiny_cfg, tiny_tokenizer, sharing,
                                                                         rtd_reaches_shared_tables):
    """Run the real strategy step with and without the RTD term (disc_weight 50 vs 0): the
    generator's own weights get the same gradient either way. The shared embedding tables are the
    control: they do get RTD gradient, so a path from the RTD loss into the generator is seen."""
    with_rtd = generator_grads(tiny_cfg, tiny_tokenizer, **{"model.sharing": sharing, "strategy.disc_weight": 50})
    without = generator_grads(tiny_cfg, tiny_tokenizer, **{"model.sharing": sharing, "strategy.disc_weight": 0})
    assert with_rtd.keys() == without.keys()
    shared = {n for n in with_rtd if n.startswith("electra.embeddings.")} if sharing == "embeddings" else set()
    for name in with_rtd.keys() - shared:
        torch.testing.assert_close(with_rtd[name], without[name], rtol=1e-5, atol=1e-7, msg=name)
    differs = any(not torch.allclose(with_rtd[n], without[n], rtol=1e-3, atol=1e-6) for n in shared)
    assert differs == rtd_reaches_shared_tables


def test_full_step_trains_generator_only_through_mlm(tiny_cfg, tiny_tokenizer):
    _, _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"model.sharing": "none"})
    torch.manual_seed(1)
    out = strategy.step(models, batch, 0)
    out.loss.backward()
    gen_grad = {n: p.grad.clone() for n, p in models["generator"].named_parameters() if p.grad is not None}
    models.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # same masks and samples; now only the MLM part
    masked = common.mask_batch(batch, strategy.ctx)
    logits = common.generator_predictions(models, "generator", batch, masked)
    common.mlm_loss(logits, masked.labels, masked.weights).backward()
    for n, p in models["generator"].named_parameters():
        if n in gen_grad:
            torch.testing.assert_close(p.grad, gen_grad[n], rtol=1e-5, atol=1e-7)


def test_shared_embeddings_are_one_tensor(tiny_cfg, tiny_tokenizer):
    _, _, _, models, _ = setup(tiny_cfg, tiny_tokenizer, **{"model.gen_fraction": 0.25})
    gen, disc = models["generator"].electra, models["discriminator"].electra
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings", "LayerNorm"):
        assert getattr(gen.embeddings, name).weight is getattr(disc.embeddings, name).weight
    assert models["generator"].generator_lm_head.weight is disc.embeddings.word_embeddings.weight
    # each model keeps its own projection (embedding 16 -> hidden 32 / 8)
    assert gen.embeddings_project is not disc.embeddings_project


def test_generator_size_follows_paper_rule(tiny_cfg, tiny_tokenizer):
    _, _, _, models, _ = setup(tiny_cfg, tiny_tokenizer, **{"model.hidden": 256, "model.heads": 4,
                                                             "model.ffn": 1024, "model.gen_fraction": 0.25})
    c = models["generator"].config
    assert (c.hidden_size, c.intermediate_size, c.num_attention_heads, c.num_hidden_layers) == (64, 256, 1, 2)


def test_metrics_are_sane(tiny_cfg, tiny_tokenizer):
    _, _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer)
    out = strategy.step(models, batch, 0)
    m = {k: (s / c).item() for k, (s, c) in out.metrics.items()}
    assert 0 <= m["disc_acc"] <= 1 and 0 <= m["gen_acc"] <= 1
    assert 0 < m["replaced_frac"] < 0.2  # at most 15% masked, fewer actually replaced
    assert torch.isfinite(out.loss)
