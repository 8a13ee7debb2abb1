"""Tokenize a corpus once and pack it into fixed-length [CLS] A [SEP] B [SEP] blocks.

The block logic follows ExampleBuilder in the official build_pretraining_dataset.py: paragraphs
("sentences") of one document accumulate until they reach a target length, segment A ends at a
randomly chosen sentence boundary, 10% of blocks keep one segment, 5% of blocks get a random
shorter target in [5, L], a document's end closes its block, and overlong content is truncated.
One deliberate difference: the official loop may move a later short sentence back into segment A
(out of order); here A and B are always contiguous text.

Blocks are stored as [N, L] .npy files (pad = 0) under <cache>/blocks/<key>/ and memory-mapped;
token types and attention masks are derived from the ids on the fly (token_type_ids below).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from electra_lab.config import ConfigError
from electra_lab.data.download import sha256_file
from electra_lab.paths import cache_root

FORMAT_VERSION = 1  # bump when the block layout or algorithm changes: old caches stop matching
SPLITS = ("train", "valid")
_CHUNK_TEXT_BYTES = 4 << 20  # documents are tokenized in batches of about this much text


@dataclass(frozen=True)
class PackingOptions:
    seq_len: int = 128
    single_segment_prob: float = 0.1
    short_seq_prob: float = 0.05
    seed: int = 0
    # The official builder sees one sentence per line; our corpus has paragraphs. Splitting them
    # at sentence ends keeps segment boundaries and truncation losses close to the original.
    split_sentences: bool = True

    def __post_init__(self) -> None:
        if self.seq_len < 5:
            raise ConfigError("seq_len must be at least 5 ([CLS] a [SEP] b [SEP])")


@dataclass
class PackedData:
    train: np.memmap  # [N_train, L]
    valid: np.memmap  # [N_valid, L]
    meta: dict = field(repr=False)
    key: str = ""


# ---------------------------------------------------------------- tensors derived from blocks

def token_type_ids(blocks: torch.Tensor, sep_id: int, pad_id: int = 0) -> torch.Tensor:
    """Segment ids: 0 through the first [SEP], 1 after it (second [SEP] included), 0 on padding."""
    is_sep = (blocks == sep_id).long()
    after_first_sep = (torch.cumsum(is_sep, dim=-1) - is_sep) > 0
    return (after_first_sep & (blocks != pad_id)).long()


def attention_mask(blocks: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    return (blocks != pad_id).long()


def as_input_ids(rows: np.ndarray) -> torch.Tensor:
    """int64 tensor from stored rows (uint16 has little torch support)."""
    return torch.from_numpy(np.asarray(rows, dtype=np.int64))


# ---------------------------------------------------------------- reading and tokenizing

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before
# whitespace and a capital, digit or opening quote. Crude (it splits after "Mr."), but it only
# decides where segment A may end, so an occasional wrong split costs nothing.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")


def split_into_sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if s.strip()]


def _iter_document_chunks(jsonl: Path, split_sentences: bool) -> Iterator[tuple[list[list[str]], int]]:
    """Batches of documents, each a list of non-empty sentences (or paragraphs), with the batch's
    text bytes."""
    docs: list[list[str]] = []
    n_bytes = 0
    with open(jsonl, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            paragraphs = [p for p in json.loads(line)["text"].split("\n") if p.strip()]
            if not paragraphs:
                continue
            docs.append([s for p in paragraphs for s in split_into_sentences(p)]
                        if split_sentences else paragraphs)
            n_bytes += sum(len(p.encode("utf-8")) for p in paragraphs)
            if n_bytes >= _CHUNK_TEXT_BYTES:
                yield docs, n_bytes
                docs, n_bytes = [], 0
    if docs:
        yield docs, n_bytes


class SentenceEncoder:
    """Batch-encodes sentences with a private copy of the tokenizer's Rust backend."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast):
        self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        # Literal "[SEP]" or "[PAD]" in the text must not become real specials: they would break
        # the segment ids and attention mask derived from the block.
        self.backend.encode_special_tokens = True
        encode_fast = getattr(self.backend, "encode_batch_fast", None)  # skips offsets; newer tokenizers
        self._encode = encode_fast or self.backend.encode_batch

    def encode(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(flat int32 ids of all sentences, per-sentence lengths)."""
        ids = [e.ids for e in self._encode(sentences, add_special_tokens=False)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        return flat, lengths


# ---------------------------------------------------------------- the ExampleBuilder port

class BlockBuilder:
    """Turns documents (token ids of their sentences) into fixed-length blocks.

    State carried across documents, as in the official builder: the random target length of the
    next block and the random stream.
    """

    def __init__(self, options: PackingOptions, cls_id: int, sep_id: int, rng: random.Random):
        self.opt = options
        self.cls_id, self.sep_id = cls_id, sep_id
        self.rng = rng
        self.target_length = options.seq_len
        self.single_segment_blocks = 0
        self.kept_tokens = 0  # text tokens that made it into blocks (after truncation)

    def document_blocks(self, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                        out: np.ndarray, row: int) -> int:
        """Writes this document's blocks into out[row:], returns the next free row.

        The document's sentences are contiguous in flat: sentence i is flat[starts[i]:starts[i + 1]]
        (starts has one entry more than lengths).
        """
        first_sentence, current_length = None, 0
        for i in range(len(lengths)):
            if lengths[i] == 0:
                continue
            if first_sentence is None:
                first_sentence = i
            current_length += int(lengths[i])
            if current_length >= self.target_length:
                self._write_block(flat, starts, lengths, first_sentence, i + 1, out[row])
                row += 1
                first_sentence, current_length = None, 0
        if first_sentence is not None:  # a document's end closes its block
            self._write_block(flat, starts, lengths, first_sentence, len(lengths), out[row])
            row += 1
        return row

    def _write_block(self, flat, starts, lengths, begin: int, end: int, out_row: np.ndarray) -> None:
        L, rng = self.opt.seq_len, self.rng
        if rng.random() < self.opt.single_segment_prob:
            first_target = float("inf")
        else:
            first_target = (self.target_length - 3) // 2  # room for [CLS] [SEP] [SEP]
        # Segment A takes sentences while it is empty, still short of its target, or (half the
        # time) when the sentence would take it past the target; the rest is segment B.
        split, first_len = end, 0
        for i in range(begin, end):
            n = int(lengths[i])
            if n == 0:
                continue
            if first_len == 0 or first_len + n < first_target or (
                    first_len < first_target and rng.random() < 0.5):
                first_len += n
            else:
                split = i
                break
        first = flat[starts[begin]:starts[split]][: L - 2]
        second = flat[starts[split]:starts[end]][: max(0, L - len(first) - 3)]

        out_row[0] = self.cls_id
        out_row[1:1 + len(first)] = first
        out_row[1 + len(first)] = self.sep_id
        if len(second):
            out_row[2 + len(first):2 + len(first) + len(second)] = second
            out_row[2 + len(first) + len(second)] = self.sep_id
        else:
            self.single_segment_blocks += 1
        self.kept_tokens += len(first) + len(second)

        # As in the official builder: the *next* block sometimes aims for a random shorter length.
        if rng.random() < self.opt.short_seq_prob:
            self.target_length = rng.randint(5, L)
        else:
            self.target_length = L


# ---------------------------------------------------------------- packing one split

def _block_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16 if vocab_size < 65536 else np.int32)


def _pack_split(jsonl: Path, encoder: SentenceEncoder, builder: BlockBuilder, dtype: np.dtype,
                out_npy: Path) -> dict:
    """Packs one JSONL file into out_npy; returns its statistics."""
    L = builder.opt.seq_len
    raw_path = out_npy.with_suffix(".raw")
    n_blocks = n_docs = n_sentences = n_tokens = n_bytes = 0
    started = time.perf_counter()
    with open(raw_path, "wb") as raw:
        for docs, chunk_bytes in _iter_document_chunks(jsonl, builder.opt.split_sentences):
            flat, lengths = encoder.encode([s for doc in docs for s in doc])
            starts = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=starts[1:])
            # Each block consumes at least one sentence, so this many rows always suffice.
            out = np.zeros((len(lengths), L), dtype=dtype)
            row, s = 0, 0
            for doc in docs:
                e = s + len(doc)
                row = builder.document_blocks(flat, starts[s:e + 1], lengths[s:e], out, row)
                s = e
            raw.write(out[:row].tobytes())
            n_blocks += row
            n_docs += len(docs)
            n_sentences += len(lengths)
            n_tokens += len(flat)
            n_bytes += chunk_bytes
    # The block count is known only now, so the .npy (with its header) is written in one pass here.
    blocks = np.lib.format.open_memmap(out_npy, mode="w+", dtype=dtype, shape=(n_blocks, L))
    if n_blocks:
        blocks[:] = np.memmap(raw_path, dtype=dtype, mode="r", shape=(n_blocks, L))
    real_tokens = int(np.count_nonzero(blocks)) if n_blocks else 0
    blocks.flush()
    del blocks
    raw_path.unlink()
    seconds = time.perf_counter() - started
    return {
        "n_blocks": n_blocks, "n_documents": n_docs, "n_sentences": n_sentences,
        "text_bytes": n_bytes, "text_tokens": n_tokens, "kept_text_tokens": builder.kept_tokens,
        "truncated_tokens": n_tokens - builder.kept_tokens,
        "real_tokens": real_tokens, "pad_tokens": n_blocks * L - real_tokens,
        "single_segment_blocks": builder.single_segment_blocks,
        "build_seconds": round(seconds, 3),
        "tokens_per_second": round(n_tokens / max(seconds, 1e-9)),
        "text_mb_per_second": round(n_bytes / 1e6 / max(seconds, 1e-9), 3),
    }


# ---------------------------------------------------------------- cache

def vocab_sha256(tokenizer: PreTrainedTokenizerFast) -> str:
    """Fingerprint of the token -> id map: blocks are only valid with the exact vocabulary."""
    items = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()


def blocks_key(corpus_sha256: dict[str, str], tokenizer_key: str, vocab_sha: str,
               options: PackingOptions) -> str:
    spec = {"format": FORMAT_VERSION, "corpus": corpus_sha256, "tokenizer": tokenizer_key,
            "vocab": vocab_sha, "options": asdict(options)}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return f"{tokenizer_key}-L{options.seq_len}-{digest}"


def _load_verified(folder: Path, key: str) -> PackedData | None:
    """The cached blocks if meta.json is readable, matches the key, and the arrays match it."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("key") != key or meta.get("format") != FORMAT_VERSION:
            return None
        arrays = {}
        for split in SPLITS:
            arr = np.load(folder / f"{split}.npy", mmap_mode="r")
            expected = (meta["splits"][split]["n_blocks"], meta["seq_len"])
            if arr.shape != expected or arr.dtype != np.dtype(meta["dtype"]):
                return None
            arrays[split] = arr
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return PackedData(train=arrays["train"], valid=arrays["valid"], meta=meta, key=key)


def pack_corpus(train_jsonl: Path, valid_jsonl: Path, tokenizer: PreTrainedTokenizerFast,
                tokenizer_key: str, options: PackingOptions = PackingOptions(),
                cache_dir: Path | None = None) -> PackedData:
    """Blocks for both splits, reused from <cache>/blocks/<key>/ when an identical build exists."""
    paths = {"train": Path(train_jsonl), "valid": Path(valid_jsonl)}
    corpus_sha = {split: sha256_file(p) for split, p in paths.items()}
    vocab_sha = vocab_sha256(tokenizer)
    key = blocks_key(corpus_sha, tokenizer_key, vocab_sha, options)
    folder = Path(cache_dir or cache_root()) / "blocks" / key
    if (cached := _load_verified(folder, key)) is not None:
        return cached

    cls_id, sep_id, pad_id = (tokenizer.convert_tokens_to_ids(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    if pad_id != 0:
        raise ValueError(f"blocks are padded with 0, but this tokenizer's [PAD] is {pad_id}")
    vocab_size = len(tokenizer)
    dtype = _block_dtype(vocab_size)
    encoder = SentenceEncoder(tokenizer)

    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    splits = {}
    for split, path in paths.items():
        # Separate, named random streams: the valid blocks do not depend on the train file.
        rng = random.Random(f"{options.seed}-{split}")
        builder = BlockBuilder(options, cls_id, sep_id, rng)
        splits[split] = _pack_split(path, encoder, builder, dtype, tmp / f"{split}.npy")
    meta = {
        "format": FORMAT_VERSION, "key": key, "seq_len": options.seq_len, "vocab_size": vocab_size,
        "dtype": dtype.name, "pad_id": 0, "cls_id": cls_id, "sep_id": sep_id,
        "tokenizer_key": tokenizer_key, "vocab_sha256": vocab_sha, "options": asdict(options),
        "corpus_sha256": corpus_sha, "corpus_files": {s: str(p) for s, p in paths.items()},
        "splits": splits,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(folder, ignore_errors=True)  # a stale or corrupt build
    try:
        os.rename(tmp, folder)
    except OSError:  # another process finished the same build first
        shutil.rmtree(tmp, ignore_errors=True)
    loaded = _load_verified(folder, key)
    if loaded is None:
        raise RuntimeError(f"packed blocks in {folder} failed verification right after building")
    return loaded
