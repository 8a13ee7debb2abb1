"""ELECTRA with a unigram generator: corpus frequencies, no generator network, discriminator only."""
import pytest
import torch

from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import from_config
from electra_lab.strategies.unigram_generator import UnigramSampler

from .helpers import setup

IDS = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4, vocab_size=10)


def test_only_the_discriminator_has_trainable_parameters(tiny_cfg, tiny_tokenizer):
    _, strategy, models, _ = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "unigram_generator"})
    assert set(models) == {"discriminator", "unigram"}
    assert list(models["unigram"].parameters()) == []
    names = [n for group in strategy.param_groups(models) for n, _ in group["named_params"]]
    assert names and all(n.startswith("discriminator.") for n in names)
    assert set(strategy.export_models(models)) == {"encoder"}


def test_samples_follow_corpus_frequencies_and_skip_special_tokens():
    counts = torch.tensor([50.0, 9.0, 40.0, 40.0, 30.0, 0.0, 1.0, 2.0, 3.0, 4.0])  # specials are frequent
    sampler = UnigramSampler(counts, IDS)
    torch.manual_seed(0)
    samples = sampler(torch.Size([200, 100]))
    freq = torch.bincount(samples.flatten(), minlength=10).float() / samples.numel()
    expected = torch.tensor([0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4])
    torch.testing.assert_close(freq, expected, rtol=0, atol=0.01)
    assert freq[:6].sum() == 0  # special tokens and unseen words are never drawn
    torch.testing.assert_close(sampler.probs, expected)


def test_a_corpus_of_special_tokens_only_is_an_error():
    with pytest.raises(ValueError, match="no ordinary tokens"):
        UnigramSampler(torch.tensor([5.0, 1, 1, 1, 1, 0, 0, 0, 0, 0]), IDS)


def test_missing_counts_is_a_clear_error(tiny_cfg, tiny_tokenizer):
    strategy = from_config(tiny_cfg(**{"strategy.name": "unigram_generator"}), SpecialIds.of(tiny_tokenizer))
    with pytest.raises(ValueError, match="unigram_counts"):
        strategy.build()


def test_replacements_come_from_the_unigram_sampler(tiny_cfg, tiny_tokenizer):
    _, strategy, models, batch = setup(tiny_cfg, tiny_tokenizer, **{"strategy.name": "unigram_generator"})
    only = 20  # a distribution on one word: every replaced token must be it
    counts = torch.zeros(strategy.ctx.ids.vocab_size)
    counts[only] = 1.0
    models["unigram"] = UnigramSampler(counts, strategy.ctx.ids)
    seen = {}
    models["discriminator"].electra.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.__setitem__("ids", kwargs["input_ids"]), with_kwargs=True)
    out = strategy.step(models, batch, 0)
    changed = seen["ids"] != batch.input_ids
    assert changed.any() and (seen["ids"][changed] == only).all()
    assert torch.isfinite(out.loss)
