import torch
from transformers import AutoTokenizer

from electra_lab.tasks.base import Example
from electra_lab.tasks.batching import collate, encode, evaluation_batches, with_swapped_pairs
from electra_lab.tasks.registry import get_task

PAIRS = [Example("a b", "c d", 1), Example("e f", "g h", 0)]


def test_swapped_pair_doubling_only_for_symmetric_tasks():
    for name in ("mrpc", "stsb"):
        doubled = with_swapped_pairs(get_task(name), PAIRS)
        assert len(doubled) == 4 and doubled[2] == Example("c d", "a b", 1)
    for name in ("qqp", "mnli", "rte", "vitaminc", "winowhy"):
        assert with_swapped_pairs(get_task(name), PAIRS) == PAIRS


def test_encode_pairs_and_dynamic_padding(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = encode(tokenizer, [Example("the movie", "was good", 1), Example("bad", None, 0)], max_length=6,
                  regression=False)
    assert data.input_ids[0][0] == tokenizer.cls_token_id and len(data.input_ids[0]) <= 6
    assert data.token_type_ids[0][-1] == 1  # second segment
    batch = collate(data, [0, 1], pad_id=0)
    width = max(len(ids) for ids in data.input_ids)
    assert batch["input_ids"].shape == (2, width) and batch["attention_mask"].sum() == sum(map(len, data.input_ids))
    assert batch["labels"].dtype == torch.long
    order = [i for indices, _ in evaluation_batches(data, 1, 0) for i in indices]
    assert sorted(order) == [0, 1]
