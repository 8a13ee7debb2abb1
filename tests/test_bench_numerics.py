"""The benchmark compares like with like: on the same batch, weights, masked positions and
generator samples, the framework's joint step and the plain Hugging Face reference
(electra_lab.bench.reference) compute the same MLM and replaced-token-detection losses."""
import pytest
import torch

from electra_lab.bench.reference import build_reference_models, naive_mask, reference_losses
from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import _common as common
from electra_lab.strategies import from_config
from electra_lab.train.batches import make_batch
from electra_lab.train.budget import resolve_budget
from electra_lab.train.device import autocast

from .conftest import make_blocks

SEED = 7


def setup(tiny_cfg, tiny_tokenizer):
    cfg = tiny_cfg(**{"model.dropout": 0.0})  # dropout would draw different masks in the two code paths
    ids = SpecialIds.of(tiny_tokenizer)
    strategy = from_config(cfg, ids)
    resolve_budget(cfg, strategy)
    torch.manual_seed(0)
    models = strategy.build()
    with torch.no_grad():  # spread the initial logits so both losses depend on the labels (not just ~log V, ~log 2)
        models["generator"].generator_predictions.LayerNorm.weight.mul_(20.0)
        models["discriminator"].discriminator_predictions.dense_prediction.weight.mul_(300.0)
    batch = make_batch(make_blocks(8, cfg.data.seq_len, ids.vocab_size, seed=3), ids.pad, ids.sep, torch.device("cpu"))
    return cfg, ids, strategy, models, batch


def fixed_samples(labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """[B, P] replacement tokens: every third slot re-samples the original (it must count as original)."""
    shifted = (labels + 1 + torch.arange(labels.numel()).view_as(labels) % 7) % vocab_size
    keep = (torch.arange(labels.numel()).view_as(labels) % 3) == 0
    return torch.where(keep, labels, shifted)


def losses_of_both(tiny_cfg, tiny_tokenizer, monkeypatch, dtype):
    cfg, ids, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer)
    torch.manual_seed(SEED)
    masked = common.mask_batch(batch, strategy.ctx)  # the framework's own masking, replayed below by the seed
    samples = fixed_samples(masked.labels, ids.vocab_size)
    calls = []

    def sampler(logits, temperature=1.0, log_normalized=False):
        calls.append(logits.shape)
        return samples

    monkeypatch.setattr(common, "sample_from_softmax", sampler)
    models.train()
    torch.manual_seed(SEED)
    with autocast(torch.device("cpu"), dtype):
        out = strategy.step(models, batch, 0)
    assert calls == [masked.labels.shape + (ids.vocab_size,)], "the step did not sample via common.sample_from_softmax"
    framework = {k: (s / c).item() for k, (s, c) in out.metrics.items() if k in ("gen_loss", "disc_loss", "loss")}

    # the same masked slots as a [B, L] boolean mask, samples in the row-major order of boolean indexing
    is_mlm_applied = torch.zeros_like(batch.input_ids, dtype=torch.bool)
    is_mlm_applied.scatter_(1, masked.positions, masked.weights > 0)
    slot_samples = torch.zeros_like(batch.input_ids).scatter(1, masked.positions, samples)

    def reference_sampler(rows):
        assert rows.shape == (int(is_mlm_applied.sum()), ids.vocab_size)  # full-vocabulary rows of masked slots
        return slot_samples[is_mlm_applied]

    loss, mlm, disc = reference_losses(models["generator"], models["discriminator"], batch.input_ids,
                                       batch.attention_mask, batch.token_type_ids, masked.input_ids, is_mlm_applied,
                                       sample=reference_sampler, disc_weight=strategy.options.disc_weight)
    reference = {"gen_loss": mlm.item(), "disc_loss": disc.item(), "loss": loss.item()}
    return framework, reference


def test_losses_match_the_reference_in_fp32(tiny_cfg, tiny_tokenizer, monkeypatch):
    framework, reference = losses_of_both(tiny_cfg, tiny_tokenizer, monkeypatch, torch.float32)
    for key in ("gen_loss", "disc_loss", "loss"):
        assert framework[key] == pytest.approx(reference[key], rel=1e-5, abs=1e-6), key


def test_losses_match_the_reference_under_bf16_autocast(tiny_cfg, tiny_tokenizer, monkeypatch):
    framework, reference = losses_of_both(tiny_cfg, tiny_tokenizer, monkeypatch, torch.bfloat16)
    for key in ("gen_loss", "disc_loss", "loss"):  # bf16 (8-bit mantissa): measured ~0.1% apart
        assert framework[key] == pytest.approx(reference[key], rel=1e-2, abs=1e-3), key


def test_reference_builds_tied_models_and_masks_only_maskable_tokens(tiny_cfg, tiny_tokenizer):
    cfg, ids, _, _, batch = setup(tiny_cfg, tiny_tokenizer)
    gen, disc = build_reference_models(cfg, ids)
    assert gen.electra.embeddings is disc.electra.embeddings
    assert gen.generator_lm_head.weight is disc.electra.embeddings.word_embeddings.weight
    torch.manual_seed(0)
    masked_ids, applied = naive_mask(batch.input_ids, ids)
    special = (batch.input_ids == ids.pad) | (batch.input_ids == ids.cls) | (batch.input_ids == ids.sep)
    assert not (applied & special).any() and applied.any()
    assert torch.equal(masked_ids[~applied], batch.input_ids[~applied])
    assert set(masked_ids[applied].unique().tolist()) <= set(batch.input_ids[applied].unique().tolist()) | {ids.mask}
