"""The frozen-encoder probe (tasks/probe.py), a labelled proxy: its scores are those of a linear
model fitted by hand on the same frozen features, it never trains the encoder, and it says what it is."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from electra_lab.config import ConfigError
from electra_lab.tasks.base import Example, Task
from electra_lab.tasks.finetune import load_encoder, load_tokenizer
from electra_lab.tasks.metrics import compute_metrics
from electra_lab.tasks.probe import C_GRID, probe_suite

from .test_finetune import fixture_sentences


def sentiment(n_train=120) -> Task:
    def load(options):
        make = lambda n, s: [Example(t, None, y) for t, y in fixture_sentences(n, s)]  # noqa: E731
        return {"train": make(n_train, 0), "dev": make(40, 1), "test": make(60, 2)}

    return Task("probe_sentiment", "accuracy", 2, False, loader=load, extra_metrics=("matthews_corr",))


def intensity() -> Task:
    def load(options):
        make = lambda n, s: [Example(t, None, float(y) + 0.1 * i % 3)  # noqa: E731
                             for i, (t, y) in enumerate(fixture_sentences(n, s))]
        return {"train": make(120, 3), "dev": make(40, 4), "test": make(60, 5)}

    return Task("probe_intensity", "spearman", 1, False, loader=load)


def mean_features(model_dir, texts) -> np.ndarray:
    """Mean-pooled last hidden states, computed without the module under test."""
    tokenizer, encoder = load_tokenizer(model_dir), load_encoder(model_dir).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt")
            rows.append(encoder(**enc).last_hidden_state[0].mean(0).double().numpy())
    return np.stack(rows)


def test_scores_match_a_logistic_regression_fitted_by_hand(tiny_model_dir):
    task = sentiment()
    splits = task.load()
    result = probe_suite(tiny_model_dir, tasks=[task])
    assert result.options["proxy"] == "frozen-probe" and "NOT fine-tuning" in result.options["note"]
    X = {k: mean_features(tiny_model_dir, [e.text_a for e in v]) for k, v in splits.items()}
    y = {k: np.array([e.label for e in v]) for k, v in splits.items()}
    dev = {}
    for c in C_GRID:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(X["train"], y["train"])
        dev[c] = (compute_metrics(["accuracy"], model.predict(X["dev"]), y["dev"])["accuracy"], model)
    best = max(C_GRID, key=lambda c: (dev[c][0], -C_GRID.index(c)))  # the first of equals
    expected = compute_metrics(task.metrics, dev[best][1].predict(X["test"]), y["test"])
    run = result.tasks[task.name].runs[0]
    assert result.options["chosen"][task.name]["regularisation"] == best
    assert run.metrics == pytest.approx(expected) and run.report_split == "test"
    assert run.score > 0.75  # the sentiment word's embedding survives mean pooling: far above chance


def test_regression_uses_ridge_and_the_task_metric(tiny_model_dir):
    result = probe_suite(tiny_model_dir, tasks=[intensity()])
    run = result.tasks["probe_intensity"].runs[0]
    assert run.metric == "spearman" and -1 <= run.score <= 1
    assert result.options["chosen"]["probe_intensity"]["regularisation"] in result.options["probe"]["alpha_grid"]


def test_features_leave_the_encoder_untouched_and_the_result_is_deterministic(tiny_model_dir):
    from electra_lab.tasks.finetune import FinetuneOptions, prepare_task
    from electra_lab.tasks.probe import probe_features

    encoder = load_encoder(tiny_model_dir).train()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    data = prepare_task(sentiment(), load_tokenizer(tiny_model_dir), FinetuneOptions(), None).dev
    first, second = probe_features(encoder, data), probe_features(encoder, data, pooling="cls")
    assert not encoder.training and first.shape == (40, 32) and not np.allclose(first, second)
    assert np.array_equal(first, probe_features(encoder, data))  # eval mode: no dropout
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    threads = torch.get_num_threads()
    a = probe_suite(tiny_model_dir, tasks=[sentiment()], cpu_threads=1)
    b = probe_suite(tiny_model_dir, tasks=[sentiment()])
    assert a.tasks["probe_sentiment"].runs[0].metrics == b.tasks["probe_sentiment"].runs[0].metrics
    assert torch.get_num_threads() == threads
    floor = probe_suite(tiny_model_dir, tasks=[sentiment()], random_init=True, seed=3)
    assert floor.random_init and floor.options["proxy"] == "frozen-probe"


def test_bad_pooling_is_a_config_error(tiny_model_dir):
    with pytest.raises(ConfigError, match="pooling"):
        probe_suite(tiny_model_dir, tasks=[sentiment()], pooling="max")


def test_a_layer_wise_probe_reads_the_hidden_state_it_names(tiny_model_dir):
    from electra_lab.tasks.finetune import FinetuneOptions, prepare_task
    from electra_lab.tasks.probe import probe_features

    encoder = load_encoder(tiny_model_dir)
    layers = encoder.config.num_hidden_layers
    data = prepare_task(sentiment(), load_tokenizer(tiny_model_dir), FinetuneOptions(), None).dev
    last = probe_features(encoder, data)
    assert np.array_equal(probe_features(encoder, data, layer=layers), last)  # block L's output is the last state
    embeddings = probe_features(encoder, data, layer=0)
    assert embeddings.shape == last.shape and not np.allclose(embeddings, last)
    with pytest.raises(ConfigError, match=rf"probe layer must be in 0..{layers}"):
        probe_features(encoder, data, layer=layers + 1)
    assert probe_suite(tiny_model_dir, tasks=[sentiment()], layer=0).options["layer"] == 0
