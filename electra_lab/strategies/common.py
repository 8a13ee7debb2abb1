"""Building blocks shared by the strategies: pure functions over tensors and model pairs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from electra_lab import flops
from electra_lab.data.masking import MASKING_STYLES, MaskedBatch
from electra_lab.models.build import Shape, build_discriminator, build_generator, discriminator_shape, generator_shape
from electra_lab.models.heads import encode, mlm_logits_at, rtd_logits
from electra_lab.models.sharing import apply_sharing
from electra_lab.strategies.base import Batch, Metric, StrategyContext, mean_metric


def mask_batch(batch: Batch, ctx: StrategyContext, style: str | None = None) -> MaskedBatch:
    fn = MASKING_STYLES[style or ctx.masking.style]
    return fn(batch.input_ids, ctx.ids, ctx.masking.prob, ctx.max_predictions)


def build_electra_pair(ctx: StrategyContext, sharing: str | None = None) -> nn.ModuleDict:
    gen = build_generator(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    disc = build_discriminator(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    apply_sharing(gen, disc, sharing or ctx.model.sharing)
    return nn.ModuleDict({"generator": gen, "discriminator": disc})


def gumbel_sample(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Gumbel-max sampling from softmax(logits / T) in fp32 (bf16 noise can overflow to NaN)."""
    logits = logits.detach().float() / temperature
    uniform = torch.rand_like(logits).clamp_(1e-9, 1.0 - 1e-9)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over real prediction slots. logits [B, P, V], labels/weights [B, P]."""
    per_slot = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none")
    return (per_slot * weights.flatten()).sum() / weights.sum().clamp(min=1.0)


def mlm_metrics(logits, labels, weights, loss, prefix: str) -> dict[str, Metric]:
    correct = (logits.detach().argmax(-1) == labels).float()
    return {f"{prefix}_loss": (loss.detach().float(), torch.ones((), device=loss.device)),
            f"{prefix}_acc": mean_metric(correct, weights)}


def generator_predictions(models: nn.ModuleDict, key: str, batch: Batch, masked: MaskedBatch) -> torch.Tensor:
    """[B, P, V] logits of an MLM model at the masked slots of the corrupted input."""
    model = models[key]
    hidden = encode(model, masked.input_ids, batch.attention_mask, batch.token_type_ids)
    return mlm_logits_at(hidden, model, masked.positions)


def replace_with_samples(batch: Batch, masked: MaskedBatch, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Original tokens with the samples written at the masked slots.

    Returns (corrupted [B, L], is_replaced [B, L] float). A sample equal to the original token
    counts as original, exactly as the paper labels it.
    """
    current = batch.input_ids.gather(1, masked.positions)
    values = torch.where(masked.weights > 0, samples, current)
    corrupted = batch.input_ids.scatter(1, masked.positions, values)
    return corrupted, (corrupted != batch.input_ids).float()


def rtd_loss(logits: torch.Tensor, is_replaced: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Sigmoid BCE over the positions in loss_mask (all non-pad tokens in the paper), averaged."""
    per_token = F.binary_cross_entropy_with_logits(logits.float(), is_replaced, reduction="none")
    return (per_token * loss_mask).sum() / loss_mask.sum().clamp(min=1.0)


def rtd_metrics(logits: torch.Tensor, is_replaced: torch.Tensor, token_mask: torch.Tensor, loss) -> dict[str, Metric]:
    """Accuracy over tokens, precision and recall on the replaced class, replaced fraction."""
    predicted = (logits.detach() > 0).float()
    correct = (predicted == is_replaced).float()
    true_pos = predicted * is_replaced
    return {
        "disc_loss": (loss.detach().float(), torch.ones((), device=loss.device)),
        "disc_acc": mean_metric(correct, token_mask),
        "disc_precision": mean_metric(true_pos, predicted * token_mask),
        "disc_recall": mean_metric(true_pos, is_replaced * token_mask),
        "replaced_frac": mean_metric(is_replaced, token_mask),
    }


def discriminate(models: nn.ModuleDict, corrupted: torch.Tensor, batch: Batch) -> torch.Tensor:
    disc = models["discriminator"]
    hidden = encode(disc, corrupted, batch.attention_mask, batch.token_type_ids)
    return rtd_logits(hidden, disc)


def flops_shape(shape: Shape, ctx: StrategyContext) -> flops.TransformerShape:
    """Our model shape in the FLOPs module's terms (embedding size is the discriminator's: tied)."""
    return flops.TransformerShape(
        layers=shape.layers, hidden=shape.hidden, heads=shape.heads, ffn=shape.ffn,
        embedding_size=shape.embedding_size, vocab_size=ctx.ids.vocab_size, seq_len=ctx.seq_len,
    )


def disc_flops_shape(ctx: StrategyContext) -> flops.TransformerShape:
    return flops_shape(discriminator_shape(ctx.model), ctx)


def gen_flops_shape(ctx: StrategyContext) -> flops.TransformerShape:
    return flops_shape(generator_shape(ctx.model), ctx)


def electra_flops(ctx: StrategyContext) -> float:
    """Official counting: discriminator with its binary head + generator with its MLM head
    (charged on the script's fixed output fraction 0.15625, as the paper's figures are)."""
    return flops.electra_flops_per_sequence(disc_flops_shape(ctx), gen_flops_shape(ctx))
