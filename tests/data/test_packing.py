"""Packing documents into [CLS] A [SEP] B [SEP] blocks, its cache, and the derived tensors."""
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from electra_lab.data import packing
from electra_lab.data.packing import PackingOptions, as_input_ids, attention_mask, pack_corpus, token_type_ids
from electra_lab.data.tokenizer import SPECIAL_TOKENS, wordpiece_from_vocab

PAD, UNK, CLS, SEP, MASK = range(5)
WORDS_PER_DOC = 8


def doc_words(doc: int) -> list[str]:
    """Each document has its own vocabulary, so every token says which document it came from."""
    return [f"d{doc}w{k}" for k in range(WORDS_PER_DOC)]


def make_documents(n_docs: int, tokens_per_doc: int, seed: int, first_doc: int = 0) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for d in range(first_doc, first_doc + n_docs):
        words, paragraphs, n_tokens = doc_words(d), [], 0
        while n_tokens < tokens_per_doc:
            sentences = []
            for _ in range(rng.randint(1, 4)):
                sentence = [rng.choice(words) for _ in range(rng.randint(2, 12))]
                sentence[0] = sentence[0].capitalize()  # lets the sentence splitter see a new sentence
                sentences.append(" ".join(sentence) + ".")
                n_tokens += len(sentence) + 1
            paragraphs.append(" ".join(sentences))
        docs.append({"source": "fixture", "doc_id": str(d), "text": "\n".join(paragraphs)})
    return docs


def write_jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def fixture_tokenizer(n_docs: int):
    vocab = SPECIAL_TOKENS + [".", "sep", "pad", "[", "]"]
    vocab += [w for d in range(n_docs) for w in doc_words(d)]
    return wordpiece_from_vocab(vocab)


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    train = make_documents(60, 1500, seed=1)
    valid = make_documents(5, 600, seed=2, first_doc=60)
    tok = fixture_tokenizer(65)
    return {
        "train": write_jsonl(tmp_path / "train.jsonl", train),
        "valid": write_jsonl(tmp_path / "valid.jsonl", valid),
        "docs": train, "tok": tok,
        "doc_of_token": {tok.convert_tokens_to_ids(w): d for d in range(65) for w in doc_words(d)},
    }


def pack(corpus, **options):
    return pack_corpus(corpus["train"], corpus["valid"], corpus["tok"], "fixture-tok", PackingOptions(**options))


def content(block: np.ndarray) -> np.ndarray:
    """The text tokens of a block, [CLS]/[SEP]/padding removed."""
    return block[(block != CLS) & (block != SEP) & (block != PAD)]


def test_block_layout(corpus):
    data = pack(corpus, seq_len=64)
    for split in (data.train, data.valid):
        assert split.dtype == np.uint16 and split.shape[1] == 64 and len(split) > 0
        blocks = np.asarray(split, dtype=np.int64)
        n_real = (blocks != PAD).sum(1)
        assert (blocks[:, 0] == CLS).all()
        assert (blocks[np.arange(len(blocks)), n_real - 1] == SEP).all()  # [SEP] right before padding
        assert np.isin((blocks == SEP).sum(1), [1, 2]).all()
        assert ((blocks[:, 1:] == CLS).sum() == 0) and ((blocks == MASK).sum() == 0)
        positions = np.arange(64)
        assert ((blocks != PAD) == (positions[None, :] < n_real[:, None])).all()  # padding only at the tail
    meta = data.meta
    assert meta["seq_len"] == 64 and meta["dtype"] == "uint16" and meta["vocab_size"] == len(corpus["tok"])
    train = meta["splits"]["train"]
    assert train["n_blocks"] == len(data.train) and train["n_documents"] == 60
    assert train["real_tokens"] + train["pad_tokens"] == len(data.train) * 64
    assert train["kept_text_tokens"] + train["truncated_tokens"] == train["text_tokens"]
    assert train["kept_text_tokens"] == sum(len(content(b)) for b in np.asarray(data.train))
    assert train["single_segment_blocks"] == int(((np.asarray(data.train) == SEP).sum(1) == 1).sum())


def test_blocks_stay_inside_one_document_in_order(corpus):
    data = pack(corpus, seq_len=64)
    tok, doc_of_token = corpus["tok"], corpus["doc_of_token"]
    doc_bytes = {int(d["doc_id"]): np.asarray(tok(d["text"].replace("\n", " "), add_special_tokens=False)
                                              ["input_ids"], dtype=np.int64).tobytes()
                 for d in corpus["docs"]}
    previous_doc = 0
    for block in np.asarray(data.train, dtype=np.int64):
        text = content(block)
        docs = {doc_of_token[t] for t in text.tolist() if t in doc_of_token}
        assert len(docs) == 1
        doc = docs.pop()
        assert doc >= previous_doc  # documents are packed in file order
        previous_doc = doc
        # Segment A followed by segment B is one contiguous run of the document's tokens.
        found = doc_bytes[doc].find(text.tobytes())
        while found % 8:
            found = doc_bytes[doc].find(text.tobytes(), found + 1)
        assert found >= 0


def test_single_segment_fraction_is_about_ten_percent(corpus):
    data = pack(corpus, seq_len=64, short_seq_prob=0.0)
    blocks = np.asarray(data.train, dtype=np.int64)
    doc_of = [corpus["doc_of_token"][int(content(b)[0])] for b in blocks]
    # A document's last block often holds a lone sentence: judge the random choice elsewhere.
    not_last = [i for i in range(len(blocks) - 1) if doc_of[i] == doc_of[i + 1]]
    single = ((blocks[not_last] == SEP).sum(1) == 1).mean()
    assert len(not_last) > 1000
    assert 0.06 < single < 0.14


def test_short_sequence_probability_makes_short_blocks(corpus):
    def short_fraction(prob: float) -> float:
        blocks = np.asarray(pack(corpus, seq_len=64, short_seq_prob=prob).train)
        return float(((blocks != PAD).sum(1) < 32).mean())

    assert short_fraction(0.5) > short_fraction(0.0) + 0.1


def test_overlong_sentence_is_truncated(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    words = doc_words(0)
    long_sentence = " ".join(words[i % WORDS_PER_DOC] for i in range(100))
    corpus = write_jsonl(tmp_path / "t.jsonl", [{"source": "s", "doc_id": "0", "text": long_sentence}])
    data = pack_corpus(corpus, corpus, fixture_tokenizer(1), "fixture-tok", PackingOptions(seq_len=16))
    assert data.train.shape == (1, 16)
    assert data.train[0, 0] == CLS and data.train[0, 15] == SEP and (data.train[0, 1:15] > SEP).all()
    assert data.meta["splits"]["train"]["truncated_tokens"] == 100 - 14


def test_literal_special_tokens_in_text_stay_text(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    doc = {"source": "s", "doc_id": "0", "text": "D0w1 [SEP] d0w2 [PAD] d0w3."}
    corpus = write_jsonl(tmp_path / "t.jsonl", [doc])
    data = pack_corpus(corpus, corpus, fixture_tokenizer(1), "fixture-tok",
                       PackingOptions(seq_len=32, single_segment_prob=1.0))
    row = np.asarray(data.train[0]).tolist()
    tok = fixture_tokenizer(1)
    text = tok.convert_tokens_to_ids(["d0w1", "[", "sep", "]", "d0w2", "[", "pad", "]", "d0w3", "."])
    assert row == [CLS] + text + [SEP] + [PAD] * (32 - len(text) - 2)


def test_empty_documents_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    docs = [{"source": "s", "doc_id": "0", "text": "\n \n"}, {"source": "s", "doc_id": "1", "text": "D0w1 d0w2."}]
    corpus = write_jsonl(tmp_path / "t.jsonl", docs)
    data = pack_corpus(corpus, corpus, fixture_tokenizer(1), "fixture-tok", PackingOptions(seq_len=16))
    assert data.train.shape == (1, 16) and data.meta["splits"]["train"]["n_documents"] == 1


def test_same_request_reuses_cache_and_seed_is_deterministic(corpus, monkeypatch, tmp_path):
    first = pack(corpus, seq_len=64, seed=3)
    npy = Path(packing.cache_root()) / "blocks" / first.key / "train.npy"
    mtime = npy.stat().st_mtime_ns

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("re-tokenized instead of reusing the cache")

    monkeypatch.setattr(packing.SentenceEncoder, "encode", no_tokenizing)
    second = pack(corpus, seq_len=64, seed=3)
    assert second.key == first.key and second.meta == first.meta
    assert np.array_equal(second.train, first.train) and npy.stat().st_mtime_ns == mtime
    monkeypatch.undo()

    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "other_cache"))
    fresh = pack(corpus, seq_len=64, seed=3)
    assert fresh.key == first.key and np.array_equal(fresh.train, first.train)
    assert pack(corpus, seq_len=64, seed=4).key != first.key
    assert pack(corpus, seq_len=32, seed=3).key != first.key


@pytest.mark.parametrize("damage", ["meta_garbage", "meta_wrong_count", "missing_valid", "truncated_train"])
def test_damaged_cache_is_rebuilt(corpus, monkeypatch, damage):
    first = pack(corpus, seq_len=64)
    folder = Path(packing.cache_root()) / "blocks" / first.key
    # In-memory copies: reading a memmap of a file truncated underneath it is a bus error.
    train, valid = np.array(first.train), np.array(first.valid)
    del first
    if damage == "meta_garbage":
        (folder / "meta.json").write_text("{ not json")
    elif damage == "meta_wrong_count":
        meta = json.loads((folder / "meta.json").read_text())
        meta["splits"]["train"]["n_blocks"] += 1
        (folder / "meta.json").write_text(json.dumps(meta))
    elif damage == "missing_valid":
        (folder / "valid.npy").unlink()
    else:
        with open(folder / "train.npy", "r+b") as f:
            f.truncate(1000)

    encoded = []
    real_encode = packing.SentenceEncoder.encode
    monkeypatch.setattr(packing.SentenceEncoder, "encode",
                        lambda self, s: encoded.append(len(s)) or real_encode(self, s))
    rebuilt = pack(corpus, seq_len=64)
    assert encoded, "damaged cache should have been rebuilt"
    assert np.array_equal(rebuilt.train, train) and np.array_equal(rebuilt.valid, valid)
    assert not list(folder.parent.glob("*.tmp-*"))


def test_large_vocab_uses_int32():
    assert packing._block_dtype(30522) == np.uint16
    assert packing._block_dtype(70000) == np.int32


def test_token_types_and_attention_mask_on_hand_made_blocks():
    blocks = torch.tensor([
        [CLS, 7, 8, SEP, 9, 10, SEP, PAD, PAD],   # two segments
        [CLS, 7, 8, 9, SEP, PAD, PAD, PAD, PAD],  # one segment
        [CLS, 7, SEP, 8, SEP, PAD, PAD, PAD, PAD],
        [CLS, 7, 8, 9, 10, 11, 12, 13, SEP],      # full, one segment
    ])
    assert token_type_ids(blocks, sep_id=SEP).tolist() == [
        [0, 0, 0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert attention_mask(blocks).tolist()[0] == [1, 1, 1, 1, 1, 1, 1, 0, 0]
    assert attention_mask(blocks).sum(1).tolist() == [7, 5, 5, 9]


def test_derived_tensors_match_the_reference_construction(corpus):
    """Segment ids as the official builder writes them: A and its [SEP] 0, B and its [SEP] 1."""
    data = pack(corpus, seq_len=64)
    ids = as_input_ids(data.train[:200])
    assert ids.dtype == torch.int64
    types = token_type_ids(ids, SEP)
    for row, row_types in zip(ids.tolist(), types.tolist(), strict=True):
        first_sep = row.index(SEP)
        n_real = sum(t != PAD for t in row)
        expected = [0] * (first_sep + 1) + [1] * (n_real - first_sep - 1) + [0] * (64 - n_real)
        assert row_types == expected


def test_empty_split_gives_zero_blocks(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    train = write_jsonl(tmp_path / "t.jsonl", [{"source": "s", "doc_id": "1", "text": "D0w1 d0w2."}])
    valid = write_jsonl(tmp_path / "v.jsonl", [])
    data = pack_corpus(train, valid, fixture_tokenizer(1), "fixture-tok", PackingOptions(seq_len=16))
    assert data.valid.shape == (0, 16) and data.train.shape == (1, 16)
    assert pack_corpus(train, valid, fixture_tokenizer(1), "fixture-tok", PackingOptions(seq_len=16)).key == data.key
