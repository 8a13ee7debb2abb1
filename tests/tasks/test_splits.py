import random

from electra_lab.tasks.base import Example, SplitCaps
from electra_lab.tasks.splits import apply_caps, deduplicate, hash_split, split_and_cap

EXAMPLES = [Example(f"sentence number {i} about things", None, i % 2) for i in range(400)]


def keys(splits):
    return {name: sorted(e.text_a for e in exs) for name, exs in splits.items()}


def test_split_is_deterministic_and_independent_of_order():
    shuffled = EXAMPLES[:]
    random.Random(1).shuffle(shuffled)
    first = split_and_cap(EXAMPLES, salt="t", caps=SplitCaps())
    again = split_and_cap(shuffled, salt="t", caps=SplitCaps())
    assert keys(first) == keys(again)


def test_splits_are_disjoint_and_complete():
    splits = hash_split(EXAMPLES, "t", 0.15, 0.25)
    seen = [e.text_a for exs in splits.values() for e in exs]
    assert len(seen) == len(set(seen)) == len(EXAMPLES)
    assert 30 < len(splits["dev"]) < 90 and 60 < len(splits["test"]) < 140


def test_growing_the_data_keeps_old_examples_in_place():
    before = hash_split(EXAMPLES[:200], "t", 0.15, 0.25)
    after = hash_split(EXAMPLES, "t", 0.15, 0.25)
    for name in before:
        assert set(e.text_a for e in before[name]) <= set(e.text_a for e in after[name])


def test_salt_changes_the_split():
    assert keys(hash_split(EXAMPLES, "a", 0.15, 0.25)) != keys(hash_split(EXAMPLES, "b", 0.15, 0.25))


def test_groups_stay_together():
    grouped = [Example(f"text {i}", None, 0, group=f"g{i // 4}") for i in range(200)]
    splits = hash_split(grouped, "t", 0.2, 0.2)
    where = {e.group: name for name, exs in splits.items() for e in exs}
    for name, exs in splits.items():
        assert all(where[e.group] == name for e in exs)


def test_caps_are_deterministic_subsets():
    splits = hash_split(EXAMPLES, "t", 0.15, 0.25)
    capped = apply_caps(splits, SplitCaps(train=50, dev=10, test=None), "t")
    assert len(capped["train"]) == 50 and len(capped["dev"]) == 10 and len(capped["test"]) == len(splits["test"])
    assert set(e.text_a for e in capped["train"]) <= set(e.text_a for e in splits["train"])
    assert keys(capped) == keys(apply_caps(splits, SplitCaps(train=50, dev=10), "t"))


def test_deduplicate_drops_conflicts_and_averages_regression():
    exs = [Example("Same  text", None, 1), Example("same text", None, 1), Example("other", None, 0),
           Example("Other", None, 1)]
    assert [e.text_a for e in deduplicate(exs)] == ["Same  text"]
    scores = [Example("x", None, 1.0), Example("X", None, 2.0)]
    assert [e.label for e in deduplicate(scores, regression=True)] == [1.5]
