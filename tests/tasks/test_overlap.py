import json

import pytest

from electra_lab.tasks.base import Example, Task
from electra_lab.tasks.overlap import EvaluationOverlapError, check_no_overlap, evaluation_texts

LONG = "The gorgeously elaborate continuation of the trilogy is so huge that a column of words cannot describe it."
SHORT = "Effective but too tepid a biopic, sadly, for me."
TINY = "a pretentious mess"


def fixture_task() -> Task:
    splits = {
        "train": [Example("training text that may be pretrained on freely here", None, 0)],
        "dev": [Example(SHORT, None, 1)],
        "test": [Example(LONG, "a second text of the pair that is long enough", 0), Example(TINY, None, 1)],
    }
    return Task("fixture", "accuracy", 2, True, loader=lambda options: splits, label_names=("n", "p"))


def write_corpus(path, texts):
    with open(path, "w") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"source": "books", "doc_id": f"d{i}", "text": text}) + "\n")
    return path


def test_evaluation_texts_cover_dev_and_test_only_by_default():
    texts = set(evaluation_texts([fixture_task()]))
    assert texts == {SHORT, LONG, TINY, "a second text of the pair that is long enough"}
    assert "training text that may be pretrained on freely here" in set(
        evaluation_texts([fixture_task()], splits=("train", "dev", "test")))


def test_planted_overlap_fails_with_examples(tmp_path):
    # the long text reflowed and re-cased inside a document, the short one verbatim in another
    corpus = write_corpus(tmp_path / "c.jsonl", [
        "Chapter one. " + LONG.upper().replace(" ", "\n  ") + " And then more.",
        "Nothing to see here at all, just ordinary prose about the weather.",
        "Critics said: effective, but too tepid a biopic -- sadly, for me. The end.",
    ])
    with pytest.raises(EvaluationOverlapError) as error:
        check_no_overlap([corpus], [fixture_task()])
    message = str(error.value)
    assert "books/d0" in message and "books/d2" in message and "d1" not in message
    found = check_no_overlap([corpus], [fixture_task()], raise_on_overlap=False)
    assert {(o.doc_id, o.evaluation_text) for o in found} == {("d0", LONG), ("d2", SHORT)}


def test_clean_corpus_passes_and_short_texts_are_not_evidence(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", [
        "It was a pretentious mess, said the critic.",  # shorter than min_words: not a leak
        "It was a dark and stormy night, he wrote.",
        "The elaborate continuation of the trilogy was discussed.",  # a few shared words only
        "training text that may be pretrained on freely here",
    ])
    assert check_no_overlap([corpus], [fixture_task()]) == []


def test_explicit_texts_and_multiple_files(tmp_path):
    a = write_corpus(tmp_path / "a.jsonl", ["nothing"])
    b = write_corpus(tmp_path / "b.jsonl", ["x " + LONG])
    found = check_no_overlap([a, b], texts=[LONG], raise_on_overlap=False)
    assert len(found) == 1 and found[0].doc_id == "d0"
