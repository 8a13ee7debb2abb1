"""Corpus building on local fixtures: dedup, deterministic document split, caching, limits."""
import json

import pytest

from electra_lab.data import corpus as corpus_module
from electra_lab.data.corpus import build_corpus, iter_documents, split_score
from electra_lab.data.download import SourceUnavailable


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_docs(folder, count, prefix="doc"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{prefix}{i:03d}.md").write_text(
            f"Document number {i} talks about topic {i * 7 % 13} at length.\n\n"
            f"Its second paragraph, also unique {i}.\n")
    return folder


@pytest.fixture
def counted_sources(monkeypatch):
    """Counts how often the corpus builder opens a source."""
    calls = []
    real = corpus_module.source_documents

    def counting(spec, cache_dir):
        calls.append(spec)
        return real(spec, cache_dir)

    monkeypatch.setattr(corpus_module, "source_documents", counting)
    return calls


def all_records(corpus):
    return list(iter_documents(corpus.train_path)) + list(iter_documents(corpus.valid_path))


def test_split_is_by_document_deterministic_and_complete(tmp_path):
    folder = write_docs(tmp_path / "texts", 40)
    first = build_corpus([f"local:{folder}"], valid_fraction=0.25, seed=3)
    second = build_corpus([f"local:{folder}"], valid_fraction=0.25, seed=3, cache_dir=tmp_path / "other")
    assert first.train_path.read_text() == second.train_path.read_text()
    assert first.valid_path.read_text() == second.valid_path.read_text()
    train = {r["doc_id"] for r in iter_documents(first.train_path)}
    valid = {r["doc_id"] for r in iter_documents(first.valid_path)}
    assert train and valid and not train & valid
    assert len(train | valid) == 40
    for record in iter_documents(first.valid_path):  # the split rule itself
        assert split_score(record["text"], 3) < 0.25
    reseeded = build_corpus([f"local:{folder}"], valid_fraction=0.25, seed=4)
    assert {r["doc_id"] for r in iter_documents(reseeded.valid_path)} != valid


def test_duplicate_documents_and_paragraphs_are_dropped(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.md").write_text("The same words appear here.\n\nA shared footer paragraph.\n")
    # b.md: a normalised duplicate of a.md
    (folder / "b.md").write_text("the SAME words   appear here!\n\nA shared footer paragraph.\n")
    (folder / "c.md").write_text("Entirely different content.\n\nA shared footer paragraph.\n")
    corpus = build_corpus([f"local:{folder}"], valid_fraction=0.0)
    texts = sorted(r["text"] for r in all_records(corpus))
    assert texts == ["Entirely different content.", "The same words appear here.\nA shared footer paragraph."]
    stats = corpus.manifest["sources"][f"local:{folder}"]
    assert stats["duplicate_docs"] == 1 and stats["duplicate_paragraphs"] == 1


def test_manifest_counts_and_checksums(tmp_path):
    folder = write_docs(tmp_path / "texts", 12)
    corpus = build_corpus([f"local:{folder}"], valid_fraction=0.2)
    manifest = json.loads((corpus.train_path.parent / "manifest.json").read_text())
    assert manifest == corpus.manifest and manifest["key"] == corpus.key
    stats = manifest["sources"][f"local:{folder}"]
    assert stats["train"]["docs"] + stats["valid"]["docs"] == 12
    assert stats["valid"]["docs"] >= 1
    assert stats["train"]["chars"] == sum(len(r["text"]) for r in iter_documents(corpus.train_path))
    from electra_lab.data.download import sha256_file
    assert manifest["files"]["train.jsonl"]["sha256"] == sha256_file(corpus.train_path)
    assert set(next(iter_documents(corpus.train_path))) == {"source", "doc_id", "text"}
    assert manifest["build_seconds"] >= 0


def test_second_build_reuses_cache_and_corruption_rebuilds(tmp_path, counted_sources):
    folder = write_docs(tmp_path / "texts", 10)
    first = build_corpus([f"local:{folder}"])
    again = build_corpus([f"local:{folder}"])
    assert again.key == first.key and len(counted_sources) == 1
    first.train_path.write_text('{"source": "x", "doc_id": "y", "text": "tampered"}\n')
    rebuilt = build_corpus([f"local:{folder}"])
    assert len(counted_sources) == 2
    assert "tampered" not in rebuilt.train_path.read_text()
    build_corpus([f"local:{folder}"], seed=1)  # different arguments, different corpus
    assert len(counted_sources) == 3


def test_editing_local_files_changes_the_key(tmp_path):
    folder = write_docs(tmp_path / "texts", 3)
    first = build_corpus([f"local:{folder}"])
    (folder / "new.md").write_text("A newly added document with words.\n")
    assert build_corpus([f"local:{folder}"]).key != first.key


def test_limits_per_source(tmp_path):
    folder = write_docs(tmp_path / "texts", 30)
    by_docs = build_corpus([f"local:{folder}"], max_docs_per_source=5, valid_fraction=0.0)
    assert len(all_records(by_docs)) == 5
    by_chars = build_corpus([f"local:{folder}"], max_chars_per_source=300, valid_fraction=0.0)
    assert by_chars.manifest["sources"][f"local:{folder}"]["chars"] <= 300


def test_unavailable_source_raises_or_is_skipped(tmp_path, caplog):
    folder = write_docs(tmp_path / "texts", 4)
    missing = f"local:{tmp_path / 'missing'}"
    with pytest.raises(SourceUnavailable):
        build_corpus([missing, f"local:{folder}"])
    with caplog.at_level("WARNING"):
        corpus = build_corpus([missing, f"local:{folder}"], skip_unavailable=True)
    assert "skipping unavailable source" in caplog.text
    assert list(corpus.manifest["skipped"]) == [missing]
    assert len(all_records(corpus)) == 4
