"""Building blocks shared by the strategies: pure functions over tensors and model pairs."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra_lab import flops
from electra_lab.config import ConfigError
from electra_lab.data.masking import MASKING_STYLES, MaskedBatch
from electra_lab.models.build import (
    Shape,
    build_discriminator,
    build_generator,
    build_mlm_model,
    discriminator_shape,
    generator_shape,
)
from electra_lab.models.heads import encode, mlm_logits_at, rtd_logits
from electra_lab.models.sharing import apply_sharing
from electra_lab.strategies._base import Batch, Metric, Ranked, StrategyContext, mean_metric, scalar_metric
from electra_lab.strategies._vocab_rows import sample_from_softmax, token_nll


def mask_batch(batch: Batch, ctx: StrategyContext, style: str | None = None) -> MaskedBatch:
    fn = MASKING_STYLES[style or ctx.masking.style]
    return fn(batch.input_ids, ctx.ids, ctx.masking.prob, ctx.max_predictions)


def build_electra_pair(ctx: StrategyContext, sharing: str | None = None) -> nn.ModuleDict:
    gen = build_generator(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    disc = build_discriminator(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    apply_sharing(gen, disc, sharing or ctx.model.sharing)
    return nn.ModuleDict({"generator": gen, "discriminator": disc})


def build_generator_and_mlm_model(ctx: StrategyContext) -> nn.ModuleDict:
    """Generator + a discriminator-sized MLM model in the discriminator's place (Replace MLM,
    All-Tokens MLM), tied as model.sharing asks."""
    if ctx.model.sharing == "gdes":
        raise ConfigError("model.sharing=gdes ties a generator to a replaced-token discriminator; this strategy "
                          "trains an MLM model in its place (use none, embeddings or all)")
    gen = build_generator(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    mlm = build_mlm_model(ctx.model, ctx.ids.vocab_size, ctx.ids.pad)
    apply_sharing(gen, mlm, ctx.model.sharing)
    return nn.ModuleDict({"generator": gen, "mlm": mlm})


def sample_replacements(gen_logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0,
                        disallow_correct: bool = False) -> torch.Tensor:
    """[B, P] token samples from the generator's [B, P, V] logits, never
    carrying a gradient. disallow_correct (official-code knob) forbids sampling the original token."""
    logits = gen_logits.detach()
    if disallow_correct:
        logits = logits.scatter(-1, labels.unsqueeze(-1), float("-inf"))
    return sample_from_softmax(logits, temperature)


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over real prediction slots. logits [B, P, V], labels/weights [B, P]."""
    return slot_mean(token_nll(logits, labels), weights)


def slot_mean(per_slot: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[B, P] per-slot values -> their mean over the real slots (weights 1; padding slots 0)."""
    return (per_slot * weights).sum() / weights.sum().clamp(min=1.0)


def mlm_metrics(logits, labels, weights, loss, prefix: str) -> dict[str, Metric]:
    """{prefix}_loss and _acc at the masked slots; in held-out evaluation (no grad) also _entropy,
    nats of the model's own (T = 1) distribution: the paper's measure of how peaked an adversarial
    generator is. Training steps skip it, so the step the benchmark times is unchanged."""
    # max(-1).indices == argmax(-1) (both the first maximum) and is ~2.5x faster on CPU bf16
    correct = (logits.detach().max(-1).indices == labels).float()
    metrics = {f"{prefix}_loss": scalar_metric(loss), f"{prefix}_acc": mean_metric(correct, weights)}
    if not torch.is_grad_enabled():
        metrics[f"{prefix}_entropy"] = mean_metric(distribution_entropy(logits), weights)
    return metrics


def distribution_entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """[B, P] entropy in nats of softmax(logits / temperature) over the vocabulary."""
    log_probs = F.log_softmax(logits.detach().float() / temperature, dim=-1)
    return -(log_probs.exp() * log_probs).sum(-1)


def generator_predictions(models: nn.ModuleDict, key: str, batch: Batch, masked: MaskedBatch) -> torch.Tensor:
    """[B, P, V] logits of an MLM model at the masked slots of the corrupted input."""
    model = models[key]
    hidden = encode(model, masked.input_ids, batch.attention_mask, batch.token_type_ids)
    return mlm_logits_at(hidden, model, masked.positions)


def mlm_training_loss(models: nn.ModuleDict, key: str, batch: Batch, ctx: StrategyContext,
                      prefix: str) -> tuple[torch.Tensor, dict[str, Metric]]:
    """Masked language modelling of models[key] on [MASK]ed input: (loss, {prefix}_loss/_acc metrics)."""
    masked = mask_batch(batch, ctx)
    logits = generator_predictions(models, key, batch, masked)
    loss = mlm_loss(logits, masked.labels, masked.weights)
    return loss, mlm_metrics(logits, masked.labels, masked.weights, loss, prefix)


def replace_with_samples(batch: Batch, masked: MaskedBatch, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Original tokens with the samples written at the masked slots.

    Returns (corrupted [B, L], is_replaced [B, L] float). A sample equal to the original token
    counts as original, exactly as the paper labels it.
    """
    current = batch.input_ids.gather(1, masked.positions)
    values = torch.where(masked.weights > 0, samples, current)
    corrupted = batch.input_ids.scatter(1, masked.positions, values)
    return corrupted, (corrupted != batch.input_ids).float()


@dataclass
class Corruption:
    """One generator pass: masking, the generator's MLM loss and the corrupted input it produced."""

    masked: MaskedBatch
    gen_logits: torch.Tensor  # [B, P, V] at the masked slots
    mlm: torch.Tensor  # scalar generator MLM loss
    corrupted: torch.Tensor  # [B, L] originals with samples at the masked slots
    is_replaced: torch.Tensor  # [B, L] float, 1 where the token differs from the original


def corrupt_with_generator(models: nn.ModuleDict, batch: Batch, ctx: StrategyContext, temperature: float = 1.0,
                           disallow_correct: bool = False) -> Corruption:
    """Mask, run the generator, sample replacements (no gradient through the samples)."""
    masked = mask_batch(batch, ctx)
    gen_logits = generator_predictions(models, "generator", batch, masked)
    mlm = mlm_loss(gen_logits, masked.labels, masked.weights)
    samples = sample_replacements(gen_logits, masked.labels, temperature, disallow_correct)
    corrupted, is_replaced = replace_with_samples(batch, masked, samples)
    return Corruption(masked, gen_logits, mlm, corrupted, is_replaced)


def masked_token_mask(masked: MaskedBatch, like: torch.Tensor) -> torch.Tensor:
    """[B, L] float: 1 at the real masked slots, 0 elsewhere (`like` gives shape and device)."""
    out = torch.zeros(like.shape, dtype=torch.float32, device=like.device)
    return out.scatter(1, masked.positions, masked.weights)


def rtd_loss_per_token(logits: torch.Tensor, is_replaced: torch.Tensor) -> torch.Tensor:
    """[B, L] sigmoid BCE: -log of the probability the discriminator gives the true label."""
    return F.binary_cross_entropy_with_logits(logits.float(), is_replaced, reduction="none")


def rtd_loss(logits: torch.Tensor, is_replaced: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Sigmoid BCE over the positions in loss_mask (all non-pad tokens in the paper), averaged."""
    return (rtd_loss_per_token(logits, is_replaced) * loss_mask).sum() / loss_mask.sum().clamp(min=1.0)


def reinforce_loss(logits: torch.Tensor, samples: torch.Tensor, advantage: torch.Tensor, weights: torch.Tensor,
                   temperature: float = 1.0) -> torch.Tensor:
    """Policy-gradient surrogate: minimising it ascends E[advantage] for the sampling policy.

    -sum_slots w * advantage * log p(sample) / sum w, with p = softmax(logits / T) (the distribution
    the samples were drawn from); advantage [B, P] carries no gradient.
    logits [B, P, V], samples/advantage/weights [B, P]."""
    log_p_sample = -token_nll(logits, samples, temperature)
    return -slot_mean(advantage.detach() * log_p_sample, weights)


def rtd_metrics(logits: torch.Tensor, is_replaced: torch.Tensor, token_mask: torch.Tensor, loss) -> dict[str, Metric]:
    """Accuracy over tokens, precision and recall on the replaced class, replaced fraction, and the
    mean logit of each class: their gap shows learning (or a collapsed, constant discriminator)
    before the 0.5 threshold is crossed and precision/recall move."""
    predicted = (logits.detach() > 0).float()
    correct = (predicted == is_replaced).float()
    true_pos = predicted * is_replaced
    return {
        "disc_loss": scalar_metric(loss),
        "disc_acc": mean_metric(correct, token_mask),
        "disc_precision": mean_metric(true_pos, predicted * token_mask),
        "disc_recall": mean_metric(true_pos, is_replaced * token_mask),
        "replaced_frac": mean_metric(is_replaced, token_mask),
        "disc_logit_replaced": mean_metric(logits.detach(), is_replaced * token_mask),
        "disc_logit_original": mean_metric(logits.detach(), (1 - is_replaced) * token_mask),
    }


def rtd_ranking(logits: torch.Tensor, is_replaced: torch.Tensor, token_mask: torch.Tensor,
                corrupted: torch.Tensor | None = None, ctx: StrategyContext | None = None) -> dict[str, Ranked]:
    """disc_auc: how well the logits rank replaced above original tokens, threshold-free (the
    official code's eval AUC); it moves while accuracy and recall sit at the prior.

    rarity_auc (evaluation only, given the corrupted [B, L] ids and a context with unigram counts):
    the same ranking by token rarity alone, -log p_unigram(token). A discriminator whose AUC is not
    above it has learned no more than "rare tokens are replaced"."""
    ranked = {"disc_auc": Ranked(logits.detach(), is_replaced, token_mask)}
    if corrupted is not None and ctx is not None and ctx.unigram_counts is not None and not torch.is_grad_enabled():
        rarity = rarity_scores(ctx.unigram_counts().to(corrupted.device))
        ranked["rarity_auc"] = Ranked(rarity[corrupted], is_replaced, token_mask)
    return ranked


def rarity_scores(counts: torch.Tensor) -> torch.Tensor:
    """[V] -log p_unigram (add-one smoothed) of each token: the rarity control's score."""
    return -torch.log((counts + 1) / (counts.sum() + len(counts)))


def init_disc_bias_to_prior(discriminator: nn.Module, replaced_rate: float) -> None:
    """Set the RTD head's output bias to logit(replaced_rate): the all-original prior."""
    with torch.no_grad():
        discriminator.discriminator_predictions.dense_prediction.bias.fill_(
            math.log(replaced_rate / (1 - replaced_rate)))


def discriminate(models: nn.ModuleDict, corrupted: torch.Tensor, batch: Batch) -> torch.Tensor:
    disc = models["discriminator"]
    hidden = encode(disc, corrupted, batch.attention_mask, batch.token_type_ids)
    return rtd_logits(hidden, disc)


def flops_shape(shape: Shape, ctx: StrategyContext) -> flops.TransformerShape:
    """Our model shape in the FLOPs module's terms (embedding size as built: see generator_shape)."""
    return flops.TransformerShape(
        layers=shape.layers, hidden=shape.hidden, heads=shape.heads, ffn=shape.ffn,
        embedding_size=shape.embedding_size, vocab_size=ctx.ids.vocab_size, seq_len=ctx.seq_len,
        sparse_embed_lookup=ctx.sparse_embed_lookup,
    )


def disc_flops_shape(ctx: StrategyContext) -> flops.TransformerShape:
    return flops_shape(discriminator_shape(ctx.model), ctx)


def gen_flops_shape(ctx: StrategyContext) -> flops.TransformerShape:
    return flops_shape(generator_shape(ctx.model), ctx)


def electra_flops(ctx: StrategyContext) -> float:
    """Official counting: discriminator with its binary head + generator with its MLM head
    (charged on the script's fixed output fraction 0.15625, as the paper's figures are)."""
    return flops.electra_flops_per_sequence(disc_flops_shape(ctx), gen_flops_shape(ctx))


def generator_mlm_flops(ctx: StrategyContext) -> float:
    """The generator trained with its MLM head (forward + backward, official output fraction)."""
    return flops.model_flops_per_sequence(gen_flops_shape(ctx), "mlm")


def discriminator_flops(ctx: StrategyContext) -> float:
    """The discriminator trained with its binary head on every token (forward + backward)."""
    return flops.model_flops_per_sequence(disc_flops_shape(ctx), "disc")
