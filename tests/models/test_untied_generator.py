"""The generator's embedding width: its own hidden size when untied (official), the discriminator's when tied.

Official code: run_pretraining.py builds the untied-embedding generator with embedding_size=None, so
modeling.BertModel gives it embedding width = the generator's hidden size and no embeddings_project;
flops_computation.get_electra_train_flops(tied_embeddings=False) counts it with e = h_g.
"""
import json
from pathlib import Path

import pytest

from electra_lab.cli import main
from electra_lab.config import ConfigError
from electra_lab.models.build import build_discriminator, build_generator, discriminator_shape, generator_shape

ELECTRA_SMALL = str(Path(__file__).resolve().parents[2] / "experiments" / "pretrain" / "electra_small.yaml")

# ELECTRA-Small in the official script's terms: discriminator h=256, e=128, 12 layers; generator h=64;
# seq_len s=128, vocab V=30522, output_frac 0.15625, batch 128, 1M steps, train = 2 x forward.
V, S, H_GEN, E_DISC, OUTPUT_FRAC = 30522, 128, 64, 128, 0.15625
TRAIN_TOKENS = 2 * 128 * 1_000_000 * S  # forward+backward x batch x steps x tokens per sequence
OFFICIAL_UNTIED = 1.144568526848e18  # get_electra_train_flops(256, 12, 64, 12, 128, 1e6, False, s=128, e=128)


def flops_json(capsys, *overrides: str) -> dict:
    assert main(["flops", ELECTRA_SMALL, *overrides]) == 0
    return json.loads(capsys.readouterr().out)


def official_gen_e_terms(e: int, h: int) -> float:
    """Forward FLOPs per token of the generator's terms that depend on its embedding width e
    (flops_computation.TransformerHparams.get_embedding_flops, input and output)."""
    inputs = (2 * e * V  # main_multiply: one-hot token lookup
              + 2 * e * (S + 2) + 2 * e  # tok_type_and_position, add_tok_type_and_position
              + 5 * e + 4 * e)  # emb_layer_norm, emb_dropout
    if e != h:
        inputs += 2 * h * e + h  # hidden_kernel + hidden_bias: the e -> h projection, only when e != h
    output = OUTPUT_FRAC * (2 * e * V  # logits through the embedding matrix
                            + 2 * h * e + e  # h -> e transform (always charged on the output side)
                            + 8 * e + 5 * e)  # its GELU and layer norm
    return inputs + output


def test_untied_flops_follow_the_official_script(capsys):
    tied = flops_json(capsys)  # sharing=embeddings: the paper's 1.29e18
    untied = flops_json(capsys, "model.sharing=none")
    assert untied["generator"]["embedding_size"] == H_GEN  # e = h_g = 64, so no projection
    # tied e=128 charges the projection (2*64*128 + 64 per token); untied e=64 charges none
    per_token = official_gen_e_terms(E_DISC, H_GEN) - official_gen_e_terms(H_GEN, H_GEN)
    assert per_token == 61315 * 64 + 16448 + OUTPUT_FRAC * 61186 * 64  # the same sum written out: 4,552,468
    assert tied["pretrain_flops"] - untied["pretrain_flops"] == pytest.approx(per_token * TRAIN_TOKENS, rel=1e-9)
    assert untied["pretrain_flops"] == pytest.approx(OFFICIAL_UNTIED, rel=1e-9)


def test_the_discriminator_switch_value_gives_the_old_count(capsys):
    tied = flops_json(capsys)
    old = flops_json(capsys, "model.sharing=none", "model.untied_gen_embedding=discriminator")
    assert old["generator"]["embedding_size"] == E_DISC
    assert old["pretrain_flops"] == pytest.approx(tied["pretrain_flops"], rel=1e-12)


# tiny config with the embedding width (24) different from both hidden sizes (32, generator 16),
# so each rule gives a distinct width
WIDE = {"model.embedding_size": 24}


@pytest.mark.parametrize("fraction, gen_hidden", [(0.5, 16), (1.0, 32)])
def test_untied_generator_embeds_at_its_own_hidden_size(tiny_cfg, tiny_tokenizer, fraction, gen_hidden):
    m = tiny_cfg(**WIDE, **{"model.sharing": "none", "model.gen_fraction": fraction}).model
    gen = build_generator(m, len(tiny_tokenizer))
    assert gen.config.hidden_size == gen_hidden and gen.config.embedding_size == gen_hidden
    assert gen.electra.embeddings.word_embeddings.weight.shape[1] == gen_hidden
    assert not hasattr(gen.electra, "embeddings_project")  # e == h: transformers builds no projection
    assert gen.generator_predictions.dense.out_features == gen_hidden  # MLM head h -> e, official get_token_logits
    assert build_discriminator(m, len(tiny_tokenizer)).config.embedding_size == 24  # discriminator unchanged


def test_discriminator_switch_value_keeps_the_old_width(tiny_cfg, tiny_tokenizer):
    m = tiny_cfg(**WIDE, **{"model.sharing": "none", "model.untied_gen_embedding": "discriminator"}).model
    gen = build_generator(m, len(tiny_tokenizer))
    assert gen.config.hidden_size == 16 and gen.config.embedding_size == 24
    assert gen.electra.embeddings_project.in_features == 24


@pytest.mark.parametrize("sharing, fraction", [("embeddings", 0.5), ("gdes", 0.5), ("all", 1.0)])
@pytest.mark.parametrize("switch", ["official", "discriminator"])
def test_tied_modes_keep_the_discriminator_width(tiny_cfg, sharing, fraction, switch):
    m = tiny_cfg(**WIDE, **{"model.sharing": sharing, "model.gen_fraction": fraction,
                            "model.untied_gen_embedding": switch}).model
    assert generator_shape(m).embedding_size == discriminator_shape(m).embedding_size == 24


def test_unknown_switch_value_names_the_key(tiny_cfg):
    with pytest.raises(ConfigError, match="model.untied_gen_embedding"):
        tiny_cfg(**{"model.untied_gen_embedding": "own"})
