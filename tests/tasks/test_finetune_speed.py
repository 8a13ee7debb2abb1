"""The speed options of fine-tuning (tasks/finetune.py): on by default, all off through
LEGACY_SPEED_OPTIONS, seeded either way, and the Adam floor changes no update."""
import pytest
import torch

from electra_lab.tasks.finetune import (
    LEGACY_SPEED_OPTIONS,
    FinetuneOptions,
    build_classifier,
    finetune_options,
    finetune_suite,
    load_encoder,
)
from electra_lab.train.optim import AdamWNoBiasCorrection

from .test_finetune import sentiment_task, similarity_task

SPEED = {"bucket_batches": 16, "lean_forward": True, "packed_dropout": True, "adam_sqrt_floor": 1e-30,
         "task_cache": True}


def test_defaults_and_the_legacy_path():
    assert {k: getattr(FinetuneOptions(), k) for k in SPEED} == SPEED
    legacy = finetune_options(LEGACY_SPEED_OPTIONS)
    assert {k: getattr(legacy, k) for k in SPEED} == {"bucket_batches": 0, "lean_forward": False,
                                                      "packed_dropout": False, "adam_sqrt_floor": 0.0,
                                                      "task_cache": False}


@pytest.mark.parametrize("items", [[], LEGACY_SPEED_OPTIONS], ids=["defaults", "legacy"])
def test_same_seed_same_result(tiny_model_dir, items):
    options = finetune_options(["batch_size=8", "device=cpu", "min_updates=20", *items])
    runs = [finetune_suite(tiny_model_dir, tasks=[sentiment_task(), similarity_task()], seeds=2, options=options,
                           progress=False) for _ in range(2)]
    for task in ("fixture_sentiment", "fixture_similarity"):
        first, second = (r.tasks[task].runs for r in runs)
        assert [(r.metrics, r.dev_by_epoch, r.best_epoch) for r in first] == \
            [(r.metrics, r.dev_by_epoch, r.best_epoch) for r in second]
    seeds = runs[0].tasks["fixture_similarity"].runs
    assert seeds[0].metrics != seeds[1].metrics  # a regression score: the two seeds differ


def test_the_classifier_takes_the_lean_path_by_default(tiny_model_dir, monkeypatch):
    from electra_lab.tasks import heads

    calls = []
    real = heads.cls_states
    monkeypatch.setattr(heads, "cls_states", lambda *a, **k: calls.append(1) or real(*a, **k))
    inputs = (torch.tensor([[2, 5, 6, 3]]), torch.ones(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))
    lean = build_classifier(load_encoder(tiny_model_dir), sentiment_task(), FinetuneOptions()).eval()
    stock = build_classifier(load_encoder(tiny_model_dir), sentiment_task(), finetune_options(LEGACY_SPEED_OPTIONS))
    stock.head.load_state_dict(lean.head.state_dict())
    with torch.no_grad():
        assert torch.allclose(lean(*inputs), stock.eval()(*inputs), atol=1e-5)
    assert calls == [1]


def test_the_adam_floor_changes_no_update():
    torch.manual_seed(0)
    start = torch.randn(300, 16)
    grads = [torch.randn(300, 16) * 10.0 ** -torch.randint(0, 6, (300, 1)) for _ in range(5)]
    for g in grads:
        g[:120] = 0  # rows that never get a gradient (unseen tokens), second moment exactly 0
    params = {}
    for floor in (0.0, 1e-30):
        p = torch.nn.Parameter(start.clone())
        opt = AdamWNoBiasCorrection([p], lr=1e-3, eps=1e-6, sqrt_floor=floor)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        params[floor] = p.detach()
    assert torch.equal(params[0.0], params[1e-30])
    assert torch.equal(params[0.0][:120], start[:120])
