"""The speed benchmark's plumbing on a micro shape (no timing is asserted)."""
import json

import numpy as np
import pytest

from electra_lab import flops
from electra_lab.bench import counts, run_bench
from electra_lab.bench.shapes import BERT_IDS, bench_config, bench_ids, random_blocks
from electra_lab.experiment import load_config
from electra_lab.studies.shipped_configs import experiment_path


def test_random_blocks_have_the_packed_layout():
    blocks = random_blocks(200, 32, seed=1)
    assert blocks.shape == (200, 32) and blocks.dtype == np.uint16
    assert (blocks[:, 0] == BERT_IDS.cls).all()
    for row in blocks:
        real = row[row != BERT_IDS.pad]
        assert real[-1] == BERT_IDS.sep and (real == BERT_IDS.sep).sum() == 2
        assert (row[len(real):] == BERT_IDS.pad).all()  # padding only at the end
    assert (blocks == BERT_IDS.pad).any()  # some rows are shorter


def test_the_tiny_size_is_the_shape_the_studies_run_vocabulary_included():
    bench, recipe = bench_config("tiny", "cpu", "fp32"), load_config(experiment_path("pretrain/tiny_electra.yaml"))
    for key in ("layers", "hidden", "heads", "ffn", "embedding_size", "gen_fraction"):
        assert getattr(bench.model, key) == getattr(recipe.model, key), key
    assert bench.data.seq_len == recipe.data.seq_len and bench.train.batch_size == recipe.train.batch_size
    assert bench_ids(bench).vocab_size == recipe.data.vocab_size == 8192
    assert bench_ids(bench_config("small", "cpu", "fp32")).vocab_size == BERT_IDS.vocab_size


def test_executed_matmul_count_differs_from_official_only_by_accounting():
    cfg = bench_config("small", "cpu", "fp32")
    framework = counts.executed_matmul_flops_per_sequence(cfg, 30522, counts.framework_head_fraction(cfg))
    reference = counts.executed_matmul_flops_per_sequence(cfg, 30522, 1.0)
    # the reference's extra work is exactly the vocabulary head on the unmasked positions
    extra = 3 * cfg.data.seq_len * (1 - 19 / 128) * (2 * 64 * 128 + 2 * 128 * 30522)
    assert reference - framework == pytest.approx(extra)
    table = {r["name"]: r for r in flops.paper_table()}
    assert 0.5 < framework / table["ELECTRA-Small"]["flops_per_sequence"] < 1.5


def test_run_bench_writes_json_and_markdown(tmp_path):
    out = run_bench("tiny", "cpu", steps=1, warmup=1, batch_size=2, seq_len=16, precision="fp32",
                    out_dir=tmp_path, name="micro", peak_sizes=(64,), peak_repeats=1, threads=1,
                    profile=True, profile_steps=1, ablate_packed_dropout=True, interleave=2)
    saved = json.loads((tmp_path / "micro.json").read_text())
    assert set(saved["runs"]) == {"reference", "framework", "framework_aten_dropout"}
    assert saved["config"]["vocab_size"] == 8192
    for run in saved["runs"].values():
        assert run["tokens_per_s"] > 0 and run["memory"]["peak_bytes"] > 0
        assert np.isfinite(run["losses"]["gen_loss"]) and np.isfinite(run["losses"]["disc_loss"])
    assert out["ratio_framework_over_reference"]["framework"] > 0
    assert saved["runs"]["framework"]["profile"]["top_ops"]
    text = (tmp_path / "micro.md").read_text()
    assert "reference (plain HF, fp32)" in text and "Matmul peak" in text and "git commit" in text
    inter = saved["interleaved"]  # the ablation is not interleaved: only reference and framework
    assert {k: len(v) for k, v in inter["step_times_s"].items()} == {"reference": 2, "framework": 2}
    ratio = inter["ratio"]["framework"]
    assert ratio["min"] <= ratio["median"] <= ratio["max"] and ratio["min"] > 0
    assert "Interleaved (2 rounds" in text
