"""Does a trained ELECTRA discriminator use context? (issue 13, item 3)

For each run folder (a checkpoint.pt of a joint/GDES run), the held-out blocks are corrupted
exactly as the trainer's evaluation does (its masking seed, the run's generator and temperature),
and the discriminator ranks replaced against original tokens (ROC AUC) when it reads:
  full      the corrupted sequence, as in training;
  shuffled  the same tokens in a random order within each segment (context as a bag of words);
  isolated  each token alone, as [CLS] token [SEP] (no context at all: token identity only);
beside rarity, -log p_unigram(token), a scorer with no encoder. full - shuffled is what word order
adds; shuffled - isolated what the bag of surrounding words adds.

The run's masked-LM model (ELECTRA's generator, or BERT-MLM's encoder) is measured the same way:
its accuracy at the masked slots with the context as trained (full), shuffled, and with every
position id set to 0 (no position information). --snapshots also measures each snapshots/frac_*
export of the run (weights mid-schedule), e.g. to see when word order starts to matter.

    .venv/bin/python scripts/rtd_context.py RUN_DIR [RUN_DIR ...] [--batches 8] [--snapshots] [--out FILE.csv]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from electra_lab import strategies
from electra_lab.config import build_config
from electra_lab.data.masking import SpecialIds
from electra_lab.data.unigram import unigram_counter
from electra_lab.models.heads import mlm_logits_all
from electra_lab.strategies import _common as common
from electra_lab.train.batches import make_batch
from electra_lab.train.checkpoint import load_checkpoint
from electra_lab.train.pretrain import prepare_data
from electra_lab.train.trainer import EVAL_MASKING_SEED


def load_run(run_dir: Path):
    state = load_checkpoint(run_dir / "checkpoint.pt")  # checked against its SHA-256
    cfg = build_config(state["config"], strategies.options_class)
    data = prepare_data(cfg)
    ids = SpecialIds.of(data.tokenizer)
    strategy = strategies.from_config(cfg, ids, unigram_counter(data.train, ids.vocab_size))
    models = strategy.build()
    models.load_state_dict(state["models"])
    return cfg, data, ids, strategy, models.eval(), int(state["step"])


def shuffle_within_segments(corrupted: torch.Tensor, labels: torch.Tensor, token_types: torch.Tensor,
                            keep: torch.Tensor, generator: torch.Generator):
    """[B, L] ids and labels with the positions in `keep` (non-special tokens) permuted within
    each (row, segment); specials and padding stay where they are."""
    ids, labs = corrupted.clone(), labels.clone()
    for row in range(ids.shape[0]):
        for segment in token_types[row][keep[row]].unique():
            where = torch.nonzero(keep[row] & (token_types[row] == segment)).squeeze(1)
            order = where[torch.randperm(len(where), generator=generator)]
            ids[row, where], labs[row, where] = corrupted[row, order], labels[row, order]
    return ids, labs


def isolated_logits(models, tokens: torch.Tensor, ids: SpecialIds) -> torch.Tensor:
    """[N] discriminator logits for each token read alone as [CLS] token [SEP]."""
    n = len(tokens)
    seq = torch.stack([torch.full((n,), ids.cls), tokens, torch.full((n,), ids.sep)], dim=1)
    ones = torch.ones_like(seq)
    hidden = common.encode(models["discriminator"], seq, ones, torch.zeros_like(seq))
    return common.rtd_logits(hidden, models["discriminator"])[:, 1]


def masked_lm_model(models, strategy):
    if "generator" in models:
        return models["generator"]
    return models[strategy.encoder_key] if strategy.encoder_key != "discriminator" else None


def load_snapshot(models, strategy, folder: Path) -> None:
    """Replace the run's weights by an exported snapshot's (encoder, and generator if exported)."""
    from safetensors.torch import load_file

    names = [strategy.encoder_key] + (["generator"] if "generator" in models else [])
    for name, sub in zip(names, ["encoder", "generator"], strict=False):
        result = models[name].load_state_dict(load_file(folder / sub / "model.safetensors"), strict=False)
        untied = [k for k in result.missing_keys if not k.endswith("lm_head.weight")]  # tied to the embeddings
        if untied or result.unexpected_keys:
            raise RuntimeError(f"{folder / sub}: does not match the run's {name}: missing {untied}, "
                               f"unexpected {result.unexpected_keys}")


def mlm_correct(model, input_ids, attention_mask, token_type_ids, targets, position_ids=None) -> tuple[int, int]:
    """(correct, total) argmax predictions at the positions where targets >= 0."""
    hidden = model.electra(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           position_ids=position_ids).last_hidden_state
    chosen = targets >= 0
    predicted = mlm_logits_all(hidden[chosen], model).argmax(-1)
    return int((predicted == targets[chosen]).sum()), int(chosen.sum())


@torch.no_grad()
def measure(run_dir: Path, cfg, data, ids, strategy, models, step: int, batches: int, label: str) -> dict:
    micro = cfg.train.batch_size // max(1, cfg.train.grad_accum)
    rarity_table = None
    if strategy.ctx.unigram_counts is not None:
        rarity_table = common.rarity_scores(strategy.ctx.unigram_counts())
    temperature = strategy.temperature(step) if hasattr(strategy, "temperature") else 1.0
    has_disc, lm = "discriminator" in models, masked_lm_model(models, strategy)
    scores = {k: [] for k in ("full", "shuffled", "isolated", "rarity")}
    labels_all, shuffled_labels = [], []
    lm_counts = {k: [0, 0] for k in ("full", "shuffled", "no_positions")}
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(EVAL_MASKING_SEED)
        for start in range(0, min(len(data.valid), batches * micro), micro):
            batch = make_batch(data.valid[start:start + micro], ids.pad, ids.sep, torch.device("cpu"))
            keep = (batch.attention_mask.bool() & (batch.input_ids != ids.cls) & (batch.input_ids != ids.sep))
            if has_disc:  # the corruption first, so it draws what the trainer's evaluation draws
                c = common.corrupt_with_generator(models, batch, strategy.ctx, temperature)
                full = common.discriminate(models, c.corrupted, batch)
                ids_shuf, labels_shuf = shuffle_within_segments(c.corrupted, c.is_replaced, batch.token_type_ids, keep,
                                                                generator)
                shuffled = common.discriminate(models, ids_shuf, batch)
                tokens = c.corrupted[keep]
                scores["full"].append(full[keep].float())
                scores["shuffled"].append(shuffled[keep].float())
                shuffled_labels.append(labels_shuf[keep])
                alone = [isolated_logits(models, part, ids) for part in tokens.split(4096)]
                scores["isolated"].append(torch.cat(alone).float())
                if rarity_table is not None:
                    scores["rarity"].append(rarity_table[tokens])
                labels_all.append(c.is_replaced[keep])
                masked = c.masked
            else:
                masked = common.mask_batch(batch, strategy.ctx)
            if lm is not None:
                targets = torch.full_like(batch.input_ids, -1).scatter(
                    1, masked.positions, torch.where(masked.weights > 0, masked.labels, -1))
                shuffled_ids, shuffled_targets = shuffle_within_segments(masked.input_ids, targets,
                                                                         batch.token_type_ids, keep, generator)
                for key, inputs, target, positions in (
                        ("full", masked.input_ids, targets, None), ("shuffled", shuffled_ids, shuffled_targets, None),
                        ("no_positions", masked.input_ids, targets, torch.zeros_like(targets))):
                    right, total = mlm_correct(lm, inputs, batch.attention_mask, batch.token_type_ids, target,
                                               positions)
                    lm_counts[key][0] += right
                    lm_counts[key][1] += total
    out = {"run": run_dir.name, "weights": label, "step": step, "strategy": cfg.strategy.name,
           "temperature": round(float(temperature), 3)}
    if has_disc:
        y = torch.cat(labels_all).numpy()
        out.update(tokens=len(y), replaced_frac=round(float(y.mean()), 4))
        for name, parts in scores.items():
            if parts:
                target = torch.cat(shuffled_labels).numpy() if name == "shuffled" else y
                out[f"auc_{name}"] = round(float(roc_auc_score(target, torch.cat(parts).numpy())), 4)
    if lm is not None:
        out.update({f"mlm_acc_{k}": round(right / max(total, 1), 4) for k, (right, total) in lm_counts.items()})
        out["masked_slots"] = lm_counts["full"][1]
    return out


def measure_run(run_dir: Path, batches: int, snapshots: bool) -> list[dict]:
    cfg, data, ids, strategy, models, step = load_run(run_dir)
    rows = [measure(run_dir, cfg, data, ids, strategy, models, step, batches, "final")]
    if snapshots:
        for folder in sorted((run_dir / "snapshots").glob("frac_*")):
            load_snapshot(models, strategy, folder)
            snap_step = int((folder / "pretrain_flops.txt").read_text().split()[1])
            rows.append(measure(run_dir, cfg, data, ids, strategy, models, snap_step, batches, folder.name))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--batches", type=int, default=8, help="held-out batches (the trainer's eval_batches)")
    parser.add_argument("--snapshots", action="store_true", help="also each snapshots/frac_* export")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    for run in args.runs:
        if not (run / "checkpoint.pt").is_file():
            print(f"error: {run}: no checkpoint.pt (a pretraining run folder)", file=sys.stderr)
            return 2
        torch.set_num_threads(1)
        for row in measure_run(run, args.batches, args.snapshots):
            rows.append(row)
            print(row, flush=True)
    if args.out:
        with args.out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
