"""Property-based bad input (hypothesis) for the data and task loaders: whatever files a user points
a `local:` corpus or a GLUE folder at, and whatever source or task names they type, the outcome is
a loaded object or one of the project's errors naming the problem (never a bare traceback), and a
corpus already built in the same cache is left as it was."""
import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electra_lab.config import ConfigError
from electra_lab.data.corpus import build_corpus, iter_documents
from electra_lab.data.sources import resolve_source
from electra_lab.errors import ElectraLabError
from electra_lab.tasks.glue import TSV_LAYOUTS, GlueUnavailableError, load_glue_folder
from electra_lab.tasks.registry import UnknownTaskError, get_task, suite_tasks

PROFILE = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=15),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["text", "x"]),
                                                                                       inner, max_size=2),
                           max_leaves=5)
JSONL = st.lists(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=20)), max_size=4).map(
    lambda lines: "\n".join(lines).encode())
WORDS = st.lists(st.sampled_from(["the", "cat", "sat", "\n", "\n\n\n", "#", "```", "<p>", "</p>", "\t", " "]),
                 max_size=30).map(lambda parts: " ".join(parts).encode())
CONTENT = st.one_of(st.binary(max_size=120), st.text(max_size=120).map(str.encode), WORDS, JSONL)
FILES = st.lists(st.tuples(st.sampled_from([".txt", ".md", ".html", ".jsonl", ".bin"]), CONTENT), max_size=4)


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock")):
        h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def cache_with_a_good_corpus(tmp_path_factory):
    """A cache holding one built corpus; (cache folder, digest of that corpus's files)."""
    root = tmp_path_factory.mktemp("loader_props")
    good = root / "good"
    good.mkdir()
    (good / "a.txt").write_text("one paragraph of text here\n\nand another one there\n")
    cache = root / "cache"
    corpus = build_corpus([f"local:{good}"], valid_fraction=0.0, cache_dir=cache)
    return cache, corpus.train_path.parent, tree_digest(corpus.train_path.parent)


@PROFILE
@given(files=FILES)
def test_any_local_folder_is_a_corpus_or_a_named_error_and_the_cache_survives(cache_with_a_good_corpus, files):
    cache, good_dir, good_digest = cache_with_a_good_corpus
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "texts"
        folder.mkdir()
        for i, (suffix, content) in enumerate(files):
            (folder / f"f{i}{suffix}").write_bytes(content)
        try:
            corpus = build_corpus([f"local:{folder}"], valid_fraction=0.0, cache_dir=cache)
        except ElectraLabError as exc:
            assert str(folder) in str(exc) or "no documents" in str(exc), str(exc)
        else:
            records = list(iter_documents(corpus.train_path))
            assert records and all(isinstance(r["text"], str) and r["text"].strip() for r in records)
    assert tree_digest(good_dir) == good_digest


@PROFILE
@given(st.one_of(st.text(max_size=25), st.sampled_from(["local:", "debian:", "hub:", "austen", "glue:sst2",
                                                        "local:~/x", "debian:linux-doc-6.1", ":", "wiki_sample"])))
def test_any_source_name_resolves_or_is_a_config_error(spec):
    try:
        documents = resolve_source(spec)
    except ConfigError as exc:
        assert repr(spec) in str(exc)
    else:
        assert callable(documents)


LABELS = st.sampled_from(["0", "1", "2", "-1", "x", "1.5", "", " 1 ", "positive", "nan", "entailment", "1e400"])
CELLS = st.one_of(LABELS, st.text(alphabet=st.characters(blacklist_characters="\t\n\r"), max_size=12))
ROWS = st.lists(st.lists(CELLS, min_size=0, max_size=11).map("\t".join), max_size=6)
TSV = st.one_of(ROWS.map(lambda rows: "\n".join(rows).encode()), st.binary(max_size=80))


@PROFILE
@given(task_name=st.sampled_from(["sst2", "cola", "mrpc", "stsb", "qnli", "rte"]), train=TSV, dev=TSV,
       drop=st.sampled_from([None, "train", "dev"]))
def test_any_glue_folder_loads_or_names_the_file(task_name, train, dev, drop):
    task, layout = get_task(task_name), TSV_LAYOUTS[task_name]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / layout.folder
        folder.mkdir()
        files = {"train": folder / "train.tsv", "dev": folder / layout.dev_file}
        for split, content in (("train", train), ("dev", dev)):
            if split != drop:
                files[split].write_bytes(content)
        try:
            splits = load_glue_folder(task, Path(tmp))
        except GlueUnavailableError as exc:
            assert any(str(path) in str(exc) for path in files.values()), str(exc)
        else:
            for examples in splits.values():
                assert examples
                for ex in examples:
                    assert isinstance(ex.text_a, str)
                    if task.is_regression:
                        assert isinstance(ex.label, float)
                    else:
                        assert 0 <= ex.label < task.num_labels


@PROFILE
@given(st.one_of(st.text(max_size=15), st.sampled_from(["sst2", "SST2", "movie_polarity", "hyperbaton", " sst2"])))
def test_any_task_or_suite_name_is_found_or_an_unknown_task_error(name):
    try:
        task = get_task(name)
    except UnknownTaskError as exc:
        assert repr(name) in str(exc) and "valid tasks" in str(exc)
    else:  # names are matched without case or surrounding space, and through a few aliases
        assert task is get_task(task.name)
    try:
        tasks = suite_tasks(name)
    except UnknownTaskError as exc:
        assert repr(name) in str(exc)
    else:
        assert tasks
