"""Fine-tuning smoke tests on a tiny random ELECTRA and fixture tasks (seconds, CPU, offline)."""
import math
import random

import pytest
import torch

from electra_lab.tasks.base import Example, Task
from electra_lab.tasks.finetune import FinetuneOptions, build_classifier, build_optimizer, finetune_suite, load_encoder

POSITIVE, NEGATIVE = ["good", "great", "fun"], ["bad", "dull", "awful"]
FILLER = ["the", "a", "movie", "film", "plot", "acting", "is", "was", "very"]


def fixture_sentences(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.random() < 0.5
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        out.append((" ".join(words), int(label)))
    return out


def sentiment_task(report_split="test") -> Task:
    def load(options):
        def make(n, s):
            return [Example(t, None, y) for t, y in fixture_sentences(n, s)]

        return {"train": make(64, 0), "dev": make(16, 1), "test": make(16, 2)}

    return Task("fixture_sentiment", "accuracy", 2, False, loader=load, label_names=("neg", "pos"),
                extra_metrics=("matthews_corr",), epochs=1, report_split=report_split)


def similarity_task() -> Task:
    def load(options):
        def make(n, s):
            return [Example(a, b, float(ya + yb)) for (a, ya), (b, yb) in
                    zip(fixture_sentences(n, s), fixture_sentences(n, s + 10), strict=True)]

        return {"train": make(32, 0), "dev": make(16, 1)}

    return Task("fixture_similarity", "spearman", 1, True, loader=load, symmetric=True, epochs=1,
                regression_divisor=2.0, report_split="dev", suite="glue")


FAST = FinetuneOptions(batch_size=16, device="cpu")


def test_finetune_smoke_returns_metrics_in_range(tiny_model_dir):
    result = finetune_suite(tiny_model_dir, tasks=[sentiment_task()], seeds=2, options=FAST, progress=False)
    task = result.tasks["fixture_sentiment"]
    assert len(task.runs) == 2 and [r.seed for r in task.runs] == [0, 1]
    for run in task.runs:
        assert 0.0 <= run.score <= 1.0 and -1.0 <= run.metrics["matthews_corr"] <= 1.0
        assert run.report_split == "test" and run.best_epoch == 1 and len(run.dev_by_epoch) == 1
    assert task.min <= task.median <= task.max and result.score == pytest.approx(task.median)
    frame = result.to_frame()
    assert list(frame["task"]) == ["fixture_sentiment"] * 2 and "matthews_corr" in frame
    assert "fixture_sentiment" in result.table() and len(result.summary_frame()) == 1
    assert result.to_dict()["score"] == pytest.approx(result.score)


def test_seeded_runs_repeat_exactly(tiny_model_dir):
    runs = [finetune_suite(tiny_model_dir, tasks=[sentiment_task()], seeds=1, options=FAST, progress=False)
            for _ in range(2)]
    assert runs[0].tasks["fixture_sentiment"].runs[0].metrics == runs[1].tasks["fixture_sentiment"].runs[0].metrics


def test_regression_pair_task_reports_dev_and_doubles_pairs(tiny_model_dir):
    result = finetune_suite(tiny_model_dir, tasks=[similarity_task()], seeds=1, options=FAST, progress=False)
    run = result.tasks["fixture_similarity"].runs[0]
    assert run.report_split == "dev" and run.train_examples == 64  # 32 pairs, both orders
    assert -1.0 <= run.score <= 1.0 and not math.isnan(run.score)


def test_random_init_and_hf_head_and_official_decay(tiny_model_dir, monkeypatch):
    """Each switch reaches the run: the classifier finetune_suite trains has the HF MLP head on a
    freshly initialised encoder, and its optimiser is bias-corrected AdamW with the official
    extra layer-decay factor; without the switches: linear head, saved weights, no correction."""
    from electra_lab.tasks import finetune as ft
    from electra_lab.tasks.heads import ClsLinearHead, ClsMlpHead

    real_optimizer, seen = ft.build_optimizer, {}

    def spy(model, options):  # called once per seed, before the first update
        optimizer = real_optimizer(model, options)
        seen.update(head=type(model.head), optimizer=type(optimizer),
                    lrs={g["depth"]: g["lr"] / options.lr for g in optimizer.param_groups},
                    words=model.encoder.embeddings.word_embeddings.weight.detach().clone())
        return optimizer

    monkeypatch.setattr(ft, "build_optimizer", spy)
    saved = load_encoder(tiny_model_dir).embeddings.word_embeddings.weight.detach()

    def run(**switches):
        options = FinetuneOptions(batch_size=16, device="cpu", layer_decay=0.5, **switches)
        result = finetune_suite(tiny_model_dir, tasks=[sentiment_task()], seeds=1, options=options,
                                random_init="head" in switches, progress=False)
        assert result.random_init == ("head" in switches) and 0.0 <= result.score <= 1.0
        return dict(seen)

    # base_seed 7: the fixture's "pretrained" weights are themselves a seed-0 initialisation
    on = run(head="hf_mlp", official_extra_layer_decay=True, adam_bias_correction=True, base_seed=7)
    assert on["head"] is ClsMlpHead and on["optimizer"] is torch.optim.AdamW
    assert on["lrs"] == pytest.approx({0: 0.0625, 1: 0.125, 2: 0.25, 3: 1.0})  # 2 layers, one extra factor 0.5
    assert not torch.equal(on["words"], saved)

    off = run()
    assert off["head"] is ClsLinearHead and off["optimizer"] is not torch.optim.AdamW
    assert off["lrs"] == pytest.approx({0: 0.125, 1: 0.25, 2: 0.5, 3: 1.0})
    assert torch.equal(off["words"], saved)


def test_random_init_differs_from_pretrained(tiny_model_dir):
    pretrained = load_encoder(tiny_model_dir)
    torch.manual_seed(123)
    fresh = load_encoder(tiny_model_dir, random_init=True)
    assert fresh.config.hidden_size == pretrained.config.hidden_size == 32
    w = "embeddings.word_embeddings.weight"
    assert not torch.equal(fresh.state_dict()[w], pretrained.state_dict()[w])


def test_encoder_loads_from_a_masked_lm_folder(tmp_path, tiny_model_dir):
    from transformers import ElectraForMaskedLM

    mlm = ElectraForMaskedLM(load_encoder(tiny_model_dir).config)
    mlm.save_pretrained(tmp_path / "mlm")
    encoder = load_encoder(tmp_path / "mlm")
    assert torch.equal(encoder.state_dict()["embeddings.word_embeddings.weight"],
                       mlm.electra.embeddings.word_embeddings.weight)


def test_optimizer_groups_follow_layer_decay(tiny_model_dir):
    model = build_classifier(load_encoder(tiny_model_dir), sentiment_task(), FinetuneOptions(lr=1.0, layer_decay=0.5))
    lrs = {g["depth"]: g["lr"] for g in build_optimizer(model, FinetuneOptions(lr=1.0, layer_decay=0.5)).param_groups}
    assert lrs == pytest.approx({0: 0.125, 1: 0.25, 2: 0.5, 3: 1.0})


def test_glue_suite_from_a_tsv_folder_reports_dev(tmp_path, tiny_model_dir):
    rows = ["sentence\tlabel"] + [f"{t}\t{y}" for t, y in fixture_sentences(48, 3)]
    for name in ("train", "dev"):
        (tmp_path / "glue/SST-2").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"glue/SST-2/{name}.tsv").write_text("\n".join(rows) + "\n")
    threads = torch.get_num_threads()
    options = FinetuneOptions(batch_size=16, device="cpu", epochs={"sst2": 1}, cpu_threads=1)
    result = finetune_suite(tiny_model_dir, "glue", ["sst2"], seeds=1, options=options, glue_dir=tmp_path / "glue",
                            progress=False)
    run = result.tasks["sst2"].runs[0]
    assert run.report_split == "dev" and run.best_epoch == 1 and 0.0 <= run.score <= 1.0
    assert torch.get_num_threads() == threads  # restored after the run


def test_min_updates_adds_epochs_only_to_small_training_sets(tiny_model_dir):
    from electra_lab.tasks.finetune import task_epochs

    task = sentiment_task()  # 1 epoch by default
    options = FinetuneOptions(batch_size=16, device="cpu", min_updates=12)
    assert task_epochs(task, 64, options) == 3  # 4 updates per epoch -> 3 epochs for 12 updates
    assert task_epochs(task, 640, options) == 1  # 40 updates per epoch already
    assert task_epochs(task, 64, FinetuneOptions(batch_size=16)) == 1  # off by default: paper epochs
    result = finetune_suite(tiny_model_dir, tasks=[task], seeds=1, options=options, progress=False)
    run = result.tasks[task.name].runs[0]
    assert len(run.dev_by_epoch) == 3


def test_max_dev_evals_spaces_dev_passes_and_always_ends_with_one():
    from electra_lab.tasks.finetune import evaluates_dev

    assert [e for e in range(1, 26) if evaluates_dev(e, 25, 8)] == [4, 8, 12, 16, 20, 24, 25]
    assert [e for e in range(1, 4) if evaluates_dev(e, 3, 8)] == [1, 2, 3]
    assert all(evaluates_dev(e, 25, 0) for e in range(1, 26))  # off: every epoch


def test_progress_file_names_task_seed_and_runs_done(tmp_path, tiny_model_dir):
    import json

    path = tmp_path / "job" / "progress.json"
    finetune_suite(tiny_model_dir, tasks=[sentiment_task()], seeds=2, options=FAST, progress=False, progress_file=path)
    fields = json.loads(path.read_text())
    assert {k: fields[k] for k in ("kind", "task", "seed", "done", "total")} == \
        {"kind": "finetune", "task": "fixture_sentiment", "seed": 1, "done": 2, "total": 2}
    assert fields["steps"] == 4 and fields["step"] == 4  # 64 examples / batch 16, one epoch


def test_precision_follows_the_pretraining_device_policy(monkeypatch):
    from electra_lab.config import ConfigError
    from electra_lab.train import device
    from electra_lab.train.device import resolve_precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == torch.bfloat16  # a CPU with bf16 matrix instructions
    assert resolve_precision("fp32", cpu) == torch.float32
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == torch.float32
    assert resolve_precision("bf16", cpu) == torch.bfloat16  # asked for: given, not silently fp32
    with pytest.raises(ConfigError, match="precision"):
        resolve_precision("fp16", cpu)
