"""A plain Hugging Face ELECTRA pretraining step, the way a straightforward port would write it.

Modelled on richarddwang/electra_pytorch (the reproduction that matches the official GLUE
numbers), minus fastai:
  * generator = ElectraForMaskedLM called with labels (-100 on unmasked positions), so the
    vocabulary projection and the cross-entropy run over ALL B x L positions;
  * discriminator = ElectraForPreTraining called with labels and attention_mask (its own BCE over
    non-pad tokens);
  * masking = a Bernoulli(0.15) draw per maskable token, 85% [MASK] / 15% kept (boolean masks);
  * sampling = Gumbel-max over the full-vocabulary logits of the masked rows, selected with
    boolean indexing (logits[is_mlm_applied]), which also synchronises with the host;
  * embeddings tied the usual way (generator.electra.embeddings = discriminator's, MLM output
    matrix = the word embeddings);
  * fp32, torch.optim.AdamW with its defaults (bias correction, not fused), clip_grad_norm_ 1.0,
    a linear warmup/decay LambdaLR; attention is transformers' default (sdpa).
Same sizes, batch, data and loss weights (1 * MLM + 50 * RTD) as the framework's run.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from electra_lab.config import Config
from electra_lab.data.masking import SpecialIds
from electra_lab.models.build import discriminator_shape, generator_shape
from electra_lab.train.batches import BlockSampler, make_batch


def hf_config(shape, cfg: Config, vocab_size: int, pad_id: int) -> ElectraConfig:
    m = cfg.model
    return ElectraConfig(vocab_size=vocab_size, embedding_size=shape.embedding_size, hidden_size=shape.hidden,
                         num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                         intermediate_size=shape.ffn, max_position_embeddings=m.max_position,
                         hidden_dropout_prob=m.dropout, attention_probs_dropout_prob=m.dropout, pad_token_id=pad_id)


def build_reference_models(cfg: Config, ids: SpecialIds) -> tuple[ElectraForMaskedLM, ElectraForPreTraining]:
    generator = ElectraForMaskedLM(hf_config(generator_shape(cfg.model), cfg, ids.vocab_size, ids.pad))
    discriminator = ElectraForPreTraining(hf_config(discriminator_shape(cfg.model), cfg, ids.vocab_size, ids.pad))
    generator.electra.embeddings = discriminator.electra.embeddings
    generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
    return generator, discriminator


def naive_mask(input_ids: torch.Tensor, ids: SpecialIds, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input [B, L], is_mlm_applied bool [B, L]): Bernoulli(prob) per maskable token."""
    special = (input_ids == ids.pad) | (input_ids == ids.cls) | (input_ids == ids.sep)
    chosen = torch.bernoulli(torch.full(input_ids.shape, prob, device=input_ids.device)).bool() & ~special
    to_mask = chosen & (torch.rand(input_ids.shape, device=input_ids.device) < 0.85)
    return input_ids.masked_fill(to_mask, ids.mask), chosen


def gumbel_sample_rows(logits: torch.Tensor) -> torch.Tensor:
    """richarddwang's sampler: argmax(logits + Gumbel(0, 1) noise) over [N, V] rows, in fp32."""
    gumbel = torch.distributions.gumbel.Gumbel(torch.tensor(0.0, device=logits.device),
                                               torch.tensor(1.0, device=logits.device))
    return (logits.float() + gumbel.sample(logits.shape)).argmax(dim=-1)


def reference_losses(generator: ElectraForMaskedLM, discriminator: ElectraForPreTraining,
                     input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor,
                     masked_ids: torch.Tensor, is_mlm_applied: torch.Tensor,
                     sample: Callable[[torch.Tensor], torch.Tensor] = gumbel_sample_rows,
                     disc_weight: float = 50.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total loss, MLM loss, RTD loss) of one joint ELECTRA step with HF's own loss code."""
    labels = input_ids.masked_fill(~is_mlm_applied, -100)
    gen_out = generator(input_ids=masked_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                        labels=labels)
    with torch.no_grad():
        samples = sample(gen_out.logits[is_mlm_applied, :].detach())
        generated = input_ids.clone()
        generated[is_mlm_applied] = samples
        is_replaced = generated != input_ids
    disc_out = discriminator(input_ids=generated, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             labels=is_replaced.long())
    return gen_out.loss + disc_weight * disc_out.loss, gen_out.loss, disc_out.loss


def linear_schedule(optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class ReferenceRun:
    """A plain training loop over the same blocks; `step()` is one optimiser step."""

    def __init__(self, cfg: Config, ids: SpecialIds, blocks, device: torch.device, seed: int = 0):
        torch.manual_seed(seed)
        self.cfg, self.ids, self.blocks, self.device = cfg, ids, blocks, device
        self.generator, self.discriminator = (m.to(device) for m in build_reference_models(cfg, ids))
        self.models = nn.ModuleList([self.generator, self.discriminator])
        no_decay = ("bias", "LayerNorm.weight")
        named = list(self.models.named_parameters())
        groups = [{"params": [p for n, p in named if not any(k in n for k in no_decay)], "weight_decay": 0.01},
                  {"params": [p for n, p in named if any(k in n for k in no_decay)], "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr, eps=1e-6)
        self.scheduler = linear_schedule(self.optimizer, cfg.optim.warmup_steps, cfg.train.steps)
        self.sampler = BlockSampler(len(blocks), cfg.train.batch_size, seed)
        self.last: dict[str, float] = {}

    def step(self) -> None:
        batch = make_batch(self.blocks[self.sampler.next_indices()], self.ids.pad, self.ids.sep, self.device)
        self.models.train()
        masked_ids, is_mlm_applied = naive_mask(batch.input_ids, self.ids, self.cfg.masking.prob)
        loss, mlm, disc = reference_losses(self.generator, self.discriminator, batch.input_ids,
                                           batch.attention_mask, batch.token_type_ids, masked_ids, is_mlm_applied)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.models.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        self.last = {"loss": loss.item(), "gen_loss": mlm.item(), "disc_loss": disc.item()}  # logged every step

    def metrics(self) -> dict[str, float]:
        return dict(self.last)

    def parameters(self) -> int:
        return sum(p.numel() for p in self.models.parameters())

    def close(self) -> None:
        pass
