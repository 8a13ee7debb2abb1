"""Tests for the analytic FLOPs accounting in electra_lab.flops."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from electra_lab import flops
from electra_lab.flops import TransformerShape

# Values printed by google-research/electra's flops_computation.py (3 significant
# figures). ELECTRA-Base prints 6.4245e19, i.e. "6.42e19"; 6.43e19 is within 0.5%.
OFFICIAL_TRAIN_FLOPS = {
    "BERT-Small": 1.42e18,
    "ELECTRA-Small": 1.29e18,
    "BERT-Base": 6.43e19,
    "ELECTRA-Base": 6.43e19,
    "BERT-Large": 1.92e20,
    "ELECTRA-400K": 7.12e20,
    "ELECTRA-1.75M": 3.11e21,
    "GPT": 3.97e19,
    "ELMo": 3.41e18,
    "RoBERTa": 3.19e21,
    "XLNet": 3.86e21,
}

SMALL = TransformerShape(layers=12, hidden=256, heads=4, ffn=1024, embedding_size=128)
SMALL_GEN = TransformerShape(layers=12, hidden=64, heads=1, ffn=256, embedding_size=128)


def test_paper_table_matches_official_script() -> None:
    rows = flops.paper_table()
    assert [r["name"] for r in rows] == list(OFFICIAL_TRAIN_FLOPS)
    for row in rows:
        expected = OFFICIAL_TRAIN_FLOPS[row["name"]]
        assert row["train_flops"] == pytest.approx(expected, rel=5e-3), row["name"]


def test_paper_table_rows_use_their_shapes_sequence_length() -> None:
    for row in flops.paper_table():
        for shape in row["shapes"].values():
            assert shape.seq_len == row["seq_len"], row["name"]


def test_from_hidden_uses_script_defaults() -> None:
    assert TransformerShape.from_hidden(256, 12, embedding_size=128) == SMALL
    assert TransformerShape.from_hidden(64, 12, embedding_size=128) == SMALL_GEN


@pytest.mark.parametrize("config, row", [("electra_small.yaml", "ELECTRA-Small"), ("bert_small.yaml", "BERT-Small")])
def test_a_config_costs_exactly_its_paper_row(config, row) -> None:
    """Two routes to one number: the YAML -> model shapes -> strategy path (`electra-lab flops`) and
    the paper table's hand-written shapes must agree exactly, per sequence and in total."""
    from electra_lab.config import load_yaml_tree
    from electra_lab.experiment import load_config
    from electra_lab.train.config_flops import config_flops

    paper = {r["name"]: r for r in flops.paper_table()}[row]
    path = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / config
    assert load_yaml_tree(path)["train"]["steps"] == paper["steps"]
    # 1,000 steps instead of the file's million: the budget is resolved step by step (seconds per million)
    got = config_flops(load_config(path, ["train.steps=1000"]))
    assert got["flops_per_sequence_first_step"] == pytest.approx(paper["flops_per_sequence"], rel=1e-12)
    assert got["batch_size"] == paper["batch"] and got["seq_len"] == paper["seq_len"]
    assert got["pretrain_flops"] == pytest.approx(paper["flops_per_sequence"] * paper["batch"] * 1000, rel=1e-12)


def test_electra_rejects_mismatched_seq_len() -> None:
    with pytest.raises(ValueError):
        flops.electra_flops_per_sequence(SMALL, dataclasses.replace(SMALL_GEN, seq_len=512))


def test_output_frac_scales_only_the_head() -> None:
    body = flops.model_flops_per_sequence(SMALL, "none")
    head_full = flops.model_flops_per_sequence(SMALL, "mlm", output_frac=1.0) - body
    for frac in (0.0, 0.15, 0.15625, 0.5):
        with_head = flops.model_flops_per_sequence(SMALL, "mlm", output_frac=frac)
        assert with_head - body == pytest.approx(frac * head_full)
    # The discriminator head ignores output_frac.
    assert flops.model_flops_per_sequence(SMALL, "disc", 0.1) == flops.model_flops_per_sequence(
        SMALL, "disc", 1.0
    )


def test_disc_head_formula() -> None:
    h = SMALL.hidden
    assert flops.disc_head_flops(SMALL) == 2 * h * h + 11 * h


def test_embedding_projection_only_when_sizes_differ() -> None:
    tied = dataclasses.replace(SMALL, embedding_size=SMALL.hidden)
    h, e = SMALL.hidden, SMALL.embedding_size
    # Same vocab/positions, so only the e-sized terms and the projection change.
    diff = flops.embedding_flops(SMALL) - flops.embedding_flops(tied)
    per_e = 2 * SMALL.vocab_size + 2 * (SMALL.seq_len + 2) + 2 + 5 + 4
    assert diff == pytest.approx(per_e * (e - h) + 2 * h * e + h)


def test_unknown_head_rejected() -> None:
    with pytest.raises(ValueError):
        flops.forward_flops_per_token(SMALL, "cls")  # type: ignore[arg-type]


def test_format_flops() -> None:
    assert flops.format_flops(1.293744e18) == "1.29e18"
    assert flops.format_flops(3.113953e21) == "3.11e21"
    assert flops.format_flops(6.4e19) == "6.40e19"


def test_sparse_lookup_drops_only_the_input_token_product() -> None:
    """The official sparse_embed_lookup: 2*e*V per token less on the input side of each model; the
    MLM head's output product through the tied table is still charged."""
    sparse = dataclasses.replace(SMALL_GEN, sparse_embed_lookup=True)
    e, v = SMALL_GEN.embedding_size, SMALL_GEN.vocab_size
    assert flops.embedding_flops(SMALL_GEN) - flops.embedding_flops(sparse) == 2 * e * v
    assert flops.mlm_head_flops(sparse) == flops.mlm_head_flops(SMALL_GEN)
    both = flops.electra_flops_per_sequence(SMALL, SMALL_GEN) - flops.electra_flops_per_sequence(
        dataclasses.replace(SMALL, sparse_embed_lookup=True), sparse)
    assert both == 2 * 2 * (2 * e * v) * SMALL.seq_len  # two models x (forward + backward) x every token


def test_the_lookup_switch_sets_the_budget_and_both_counts_are_reported() -> None:
    """train.flops_lookup=sparse: at one FLOPs budget ELECTRA (two lookups per token) gains more
    steps than BERT-MLM (one); at fixed steps the dense count is the official one either way."""
    from electra_lab.config import ConfigError
    from electra_lab.experiment import load_config
    from electra_lab.train.config_flops import config_flops

    pretrain = Path(__file__).resolve().parents[1] / "experiments" / "pretrain"
    gains = {}
    for name in ("tiny_electra.yaml", "tiny_mlm.yaml"):
        dense = config_flops(load_config(pretrain / name))
        sparse = config_flops(load_config(pretrain / name, ["train.flops_lookup=sparse"]))
        assert dense["pretrain_flops"] == dense["pretrain_flops_dense_lookup"] > dense["pretrain_flops_sparse_lookup"]
        assert sparse["pretrain_flops"] == sparse["pretrain_flops_sparse_lookup"]
        assert sparse["pretrain_flops"] == pytest.approx(dense["pretrain_flops"], rel=0.01)  # the same budget
        gains[name] = sparse["steps"] / dense["steps"]
    assert gains["tiny_electra.yaml"] > gains["tiny_mlm.yaml"] > 1.0
    fixed = config_flops(load_config(pretrain / "tiny_electra.yaml", ["train.steps=10", "train.flops_lookup=sparse"]))
    assert fixed["pretrain_flops_dense_lookup"] > fixed["pretrain_flops"] == fixed["pretrain_flops_sparse_lookup"]
    with pytest.raises(ConfigError, match="flops_lookup must be dense|sparse"):
        load_config(pretrain / "tiny_electra.yaml", ["train.flops_lookup=onehot"])
