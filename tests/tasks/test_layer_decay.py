import pytest
from transformers import ElectraConfig, ElectraModel

from electra_lab.tasks.heads import SequenceClassifier, build_head
from electra_lab.tasks.layer_decay import layerwise_param_groups, parameter_depth


def classifier(layers=3, embedding_size=8):
    config = ElectraConfig(vocab_size=20, embedding_size=embedding_size, hidden_size=16, num_hidden_layers=layers,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=16)
    return SequenceClassifier(ElectraModel(config), build_head("linear", 16, 2))


def lrs_by_depth(groups):
    return {g["depth"]: g["lr"] for g in groups}


def test_paper_layerwise_lrs():
    model = classifier(layers=3)
    lrs = lrs_by_depth(layerwise_param_groups(model, 3, lr=1.0, decay=0.5))
    # head lr; top layer lr*d; ...; embeddings lr*d^(n+1)
    assert lrs == pytest.approx({4: 1.0, 3: 0.5, 2: 0.25, 1: 0.125, 0: 0.0625})


def test_official_extra_factor():
    model = classifier(layers=3)
    lrs = lrs_by_depth(layerwise_param_groups(model, 3, lr=1.0, decay=0.5, official_extra_factor=True))
    assert lrs == pytest.approx({4: 1.0, 3: 0.25, 2: 0.125, 1: 0.0625, 0: 0.03125})


def test_every_parameter_gets_exactly_one_group():
    model = classifier(layers=2)
    groups = layerwise_param_groups(model, 2, lr=3e-4, decay=0.8)
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    assert all(g["weight_decay"] == 0.0 for g in groups)


def test_depths_of_named_parameters():
    assert parameter_depth("encoder.embeddings.word_embeddings.weight", 4) == 0
    assert parameter_depth("encoder.embeddings_project.weight", 4) == 0  # embedding_size != hidden
    assert parameter_depth("encoder.encoder.layer.0.attention.self.query.weight", 4) == 1
    assert parameter_depth("encoder.encoder.layer.3.output.dense.bias", 4) == 4
    assert parameter_depth("head.out.weight", 4) == 5
    with pytest.raises(ValueError):
        parameter_depth("something.else", 4)


def test_weight_decay_skips_layer_norm_and_biases():
    model = classifier(layers=1)
    groups = layerwise_param_groups(model, 1, lr=1.0, decay=0.5, weight_decay=0.01)
    by_id = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert by_id[id(p)] == (0.0 if name.endswith(".bias") or "LayerNorm" in name else 0.01), name
