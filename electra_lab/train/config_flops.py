"""What `electra-lab flops CONFIG` prints: a run's analytic pretraining FLOPs, with no data built."""
from __future__ import annotations

from electra_lab import strategies
from electra_lab.config import Config, max_predictions
from electra_lab.data.masking import SpecialIds
from electra_lab.flops import BERT_VOCAB
from electra_lab.models.build import discriminator_shape, generator_shape
from electra_lab.train.budget import resolve_budget


def config_flops(cfg: Config) -> dict:
    """Shapes, step count and official-counting FLOPs of the run `cfg` describes (JSON-ready)."""
    vocab = BERT_VOCAB if cfg.data.tokenizer == "bert" else cfg.data.vocab_size
    # FLOPs depend on the vocabulary size only; the special ids are the BERT vocabulary's
    ids = SpecialIds(pad=0, cls=101, sep=102, mask=103, unk=100, vocab_size=vocab)
    strategy = strategies.from_config(cfg, ids)
    budget = resolve_budget(cfg, strategy)
    return {
        "strategy": cfg.strategy.name,
        "discriminator": vars(discriminator_shape(cfg.model)),
        "generator": vars(generator_shape(cfg.model)),
        "vocab_size": vocab, "seq_len": cfg.data.seq_len, "batch_size": cfg.train.batch_size,
        "max_predictions": max_predictions(cfg.masking, cfg.data.seq_len),
        "steps": budget.total_steps,
        "flops_per_sequence_first_step": strategy.flops_per_sequence(0),
        "pretrain_flops": budget.total_flops,
        "pretrain_flops_str": f"{budget.total_flops:.3g}",
        "flops_lookup": cfg.train.flops_lookup,
        "pretrain_flops_dense_lookup": budget.flops_by_lookup["dense"],
        "pretrain_flops_sparse_lookup": budget.flops_by_lookup["sparse"],
    }
