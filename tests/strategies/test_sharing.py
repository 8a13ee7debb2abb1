"""Weight sharing between generator and discriminator, chosen by model.sharing."""
import pytest
import torch
from transformers import ElectraForPreTraining

from electra_lab.config import ConfigError
from electra_lab.data.masking import SpecialIds
from electra_lab.models.export import export_models
from electra_lab.models.sharing import DeltaEmbedding
from electra_lab.strategies import _common as common
from electra_lab.strategies import from_config
from electra_lab.train.optim import build_optimizer

from .helpers import changed_names, setup, snapshot

TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def pair(tiny_cfg, tiny_tokenizer, sharing, **extra):
    return setup(tiny_cfg, tiny_tokenizer, **{"model.sharing": sharing, **extra})


def tensor_ids(module) -> set[int]:
    return {id(p) for p in module.parameters()}


def test_none_gives_separate_tensors(tiny_cfg, tiny_tokenizer):
    _, _, models, _ = pair(tiny_cfg, tiny_tokenizer, "none", **{"model.gen_fraction": 1.0})
    gen, disc = models["generator"], models["discriminator"]
    assert not tensor_ids(gen) & tensor_ids(disc)
    storages = lambda m: {p.untyped_storage().data_ptr() for p in m.parameters()}  # noqa: E731
    assert not storages(gen) & storages(disc)
    assert gen.generator_lm_head.weight is gen.electra.embeddings.word_embeddings.weight  # the MLM head stays tied


def test_embeddings_shares_tables_and_layernorm_only(tiny_cfg, tiny_tokenizer):
    _, _, models, _ = pair(tiny_cfg, tiny_tokenizer, "embeddings", **{"model.gen_fraction": 0.25})
    gen, disc = models["generator"].electra, models["discriminator"].electra
    for name in (*TABLES, "LayerNorm"):
        assert getattr(gen.embeddings, name).weight is getattr(disc.embeddings, name).weight
    assert gen.embeddings_project is not disc.embeddings_project  # each maps embedding 16 to its own hidden
    assert not tensor_ids(gen.encoder) & tensor_ids(disc.encoder)
    assert models["generator"].generator_lm_head.weight is disc.embeddings.word_embeddings.weight


def test_all_makes_one_tensor_per_transformer_weight(tiny_cfg, tiny_tokenizer):
    cfg, strategy, models, batch = pair(tiny_cfg, tiny_tokenizer, "all", **{"model.gen_fraction": 1.0})
    gen, disc = models["generator"], models["discriminator"]
    assert tensor_ids(gen.electra) == tensor_ids(disc.electra)
    # the optimiser sees each shared weight once: encoder + the two heads, nothing twice
    named = [n for group in strategy.param_groups(models) for n, _ in group["named_params"]]
    assert len(named) == len({id(p) for g in strategy.param_groups(models) for _, p in g["named_params"]})
    expected = len(tensor_ids(disc)) + len(tensor_ids(gen) - tensor_ids(disc))
    assert len(named) == expected
    optimizer = build_optimizer(strategy.param_groups(models), cfg.optim, torch.device("cpu"))
    strategy.step(models, batch, 0).loss.backward()
    optimizer.step()  # still one tensor after an update
    assert tensor_ids(gen.electra) == tensor_ids(disc.electra)


def test_all_with_unequal_sizes_is_a_clear_error(tiny_cfg, tiny_tokenizer):
    strategy = from_config(tiny_cfg(**{"model.sharing": "all", "model.gen_fraction": 0.5}),
                           SpecialIds.of(tiny_tokenizer))
    with pytest.raises(ConfigError, match=r"sharing=all needs equal .*gen_fraction=1.0"):
        strategy.build()


# ------------------------------------------------------------------ GDES (DeBERTaV3)

def gdes_step(cfg, strategy, models, batch, which: str) -> dict:
    """One real optimiser step on only the RTD loss or only the MLM loss."""
    optimizer = build_optimizer(strategy.param_groups(models), cfg.optim, torch.device("cpu"))
    before = snapshot(models)
    c = common.corrupt_with_generator(models, batch, strategy.ctx)
    if which == "rtd":
        logits = common.discriminate(models, c.corrupted, batch)
        loss = common.rtd_loss(logits, c.is_replaced, batch.attention_mask.float())
    else:
        loss = c.mlm
    loss.backward()
    optimizer.step()
    return before


def test_gdes_rtd_loss_moves_only_the_delta(tiny_cfg, tiny_tokenizer):
    cfg, strategy, models, batch = pair(tiny_cfg, tiny_tokenizer, "gdes")
    disc_emb = models["discriminator"].electra.embeddings
    assert all(isinstance(getattr(disc_emb, t), DeltaEmbedding) for t in TABLES)
    changed = changed_names(models, gdes_step(cfg, strategy, models, batch, "rtd"))
    assert not {n for n in changed if n.startswith("generator.")}, "the RTD loss reached the generator"
    for table in TABLES:
        assert f"discriminator.electra.embeddings.{table}.delta" in changed


def test_gdes_mlm_loss_moves_the_generator_embeddings_not_the_delta(tiny_cfg, tiny_tokenizer):
    cfg, strategy, models, batch = pair(tiny_cfg, tiny_tokenizer, "gdes")
    changed = changed_names(models, gdes_step(cfg, strategy, models, batch, "mlm"))
    assert "generator.electra.embeddings.word_embeddings.weight" in changed
    assert not {n for n in changed if n.startswith("discriminator.")}
    # the discriminator's table follows the generator's (base + an untouched zero delta)
    word = models["discriminator"].electra.embeddings.word_embeddings
    assert torch.equal(word.weight, models["generator"].electra.embeddings.word_embeddings.weight)


def test_gdes_export_merges_base_and_delta(tiny_cfg, tiny_tokenizer, tmp_path):
    cfg, strategy, models, batch = pair(tiny_cfg, tiny_tokenizer, "gdes")
    for which in ("mlm", "rtd"):
        gdes_step(cfg, strategy, models, batch, which)
    disc_emb = models["discriminator"].electra.embeddings
    gen_emb = models["generator"].electra.embeddings
    assert disc_emb.word_embeddings.delta.abs().sum() > 0
    folders = export_models(strategy.export_models(models), tiny_tokenizer, tmp_path)
    exported = ElectraForPreTraining.from_pretrained(folders["encoder"]).electra.embeddings
    for table in TABLES:
        merged = getattr(gen_emb, table).weight + getattr(disc_emb, table).delta
        torch.testing.assert_close(getattr(exported, table).weight, merged.detach(), rtol=0, atol=0)
    assert isinstance(disc_emb.word_embeddings, DeltaEmbedding)  # the training copy is left as it was
