"""The CUDA code paths: device and precision choice, a training step under bf16 autocast, a tiny
pretraining run through the CLI and a checkpoint resume, all on the GPU. Marked `cuda` and skipped
without one; scripts/gpu_check.sh runs them on a lent GPU machine.

ELECTRA_LAB_CUDA_TEST_DEVICE=cpu runs the same tests on the CPU (a dry run of their logic on a
machine without a GPU; the CUDA-only checks inside them are then skipped)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from electra_lab.data.masking import SpecialIds
from electra_lab.strategies import from_config
from electra_lab.train.batches import make_batch
from electra_lab.train.budget import resolve_budget
from electra_lab.train.device import autocast, resolve_device, resolve_precision

from .conftest import make_blocks, make_trainer, tiny_run_overrides, write_tiny_corpus

DEVICE = os.environ.get("ELECTRA_LAB_CUDA_TEST_DEVICE", "cuda")

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs CUDA")]


def on_cuda() -> bool:
    return torch.device(DEVICE).type == "cuda"


def test_device_and_precision_resolve_to_the_gpu():
    device = resolve_device(DEVICE)
    assert device.type == torch.device(DEVICE).type
    if on_cuda():
        assert resolve_device("auto").type == "cuda"  # auto prefers the GPU
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        assert resolve_precision("auto", device) == expected
        assert torch.zeros(1, device=device).device.type == "cuda"


def test_a_joint_step_runs_in_bf16_with_fp32_weights(tiny_cfg, tiny_tokenizer):
    """Under the trainer's autocast the matmuls run in bf16 while the weights and their gradients
    stay fp32, and the loss is the fp32 loss up to bf16 rounding."""
    device = resolve_device(DEVICE)
    cfg = tiny_cfg(**{"train.device": DEVICE, "model.dropout": 0.0})
    ids = SpecialIds.of(tiny_tokenizer)
    strategy = from_config(cfg, ids)
    resolve_budget(cfg, strategy)
    torch.manual_seed(0)
    models = strategy.build().to(device)
    batch = make_batch(make_blocks(8, cfg.data.seq_len, ids.vocab_size, seed=3), ids.pad, ids.sep, device)
    query = models["discriminator"].electra.encoder.layer[0].attention.self.query
    seen = []
    query.register_forward_hook(lambda module, args, out: seen.append(out.dtype))

    losses = {}
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(1)  # the same masks and samples in both precisions
        with autocast(device, dtype):
            out = strategy.step(models, batch, 0)
        losses[dtype] = out.loss.item()
    assert seen == [torch.float32, torch.bfloat16]
    out.loss.backward()
    assert all(p.dtype == torch.float32 for p in models.parameters())
    grads = [p.grad for p in models.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert all(g.device.type == device.type for g in grads)
    assert losses[torch.bfloat16] == pytest.approx(losses[torch.float32], rel=2e-2)


def test_tiny_pretraining_through_the_cli(tmp_path, monkeypatch, capsys):
    """`electra-lab pretrain --no-tracking` end to end on the GPU: corpus, tokenizer, blocks,
    3 steps in the device's default precision, export."""
    from electra_lab import cli

    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    overrides = tiny_run_overrides(write_tiny_corpus(tmp_path / "texts"), tmp_path / "runs", steps=3, device=DEVICE)
    config = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"
    code = cli.main(["pretrain", "--no-tracking", str(config), *overrides,
                     "train.eval_every=3", "train.checkpoint_every=3"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "runs" / "tiny-electra" / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["pretrain_flops"] > 0
    assert math.isfinite(summary["final"]["eval/loss"])
    assert (tmp_path / "runs" / "tiny-electra" / "export" / "encoder" / "config.json").exists()


def test_checkpoint_resume_on_the_gpu_continues_the_same_run(tiny_cfg, tiny_tokenizer, tmp_path):
    """Stop after 3 steps, resume in a new trainer: the losses are the uninterrupted run's (the
    CUDA random stream is part of the checkpoint, or dropout would differ after the resume). fp32:
    only the GPU's atomics-order rounding separates the two runs."""
    cfg = tiny_cfg(**{"train.device": DEVICE, "train.precision": "fp32", "train.checkpoint_every": 100})
    full = make_trainer(cfg, tiny_tokenizer, tmp_path / "full")
    assert full.device.type == torch.device(DEVICE).type
    full.fit()

    first = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    first.fit(max_steps=3)
    first.save()
    second = make_trainer(cfg, tiny_tokenizer, tmp_path / "split")
    assert second.resume_if_possible() and second.step == 3
    assert next(second.models.parameters()).device.type == torch.device(DEVICE).type
    second.fit()

    def losses(trainer):
        return [(r["step"], r["train/loss"]) for r in trainer.history if "train/loss" in r]

    full_losses, resumed_losses = losses(full), losses(second)
    assert [s for s, _ in resumed_losses] == [s for s, _ in full_losses] == [1, 2, 3, 4, 5, 6]
    for (step, resumed), (_, uninterrupted) in zip(resumed_losses, full_losses, strict=True):
        assert resumed == pytest.approx(uninterrupted, rel=1e-4), step
    assert second.step == full.step and second.flops == pytest.approx(full.flops)
