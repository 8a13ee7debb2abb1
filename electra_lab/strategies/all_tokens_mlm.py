"""All-Tokens MLM (paper Table 5): predict the original identity of EVERY token, with a copy mechanism.

As in Replace MLM, the generator (trained with MLM as in ELECTRA) fills the masked slots with its
samples. A discriminator-sized MLM model reads that corrupted input y and, at every non-pad position
t, predicts the original token x_t from a mixture of copying the input and a vocabulary softmax:

    p(x_t) = D_t * 1[y_t == x_t] + (1 - D_t) * softmax(logits_t)[x_t],   D_t = sigmoid(w . h_t + b)

where D_t (a sigmoid "copy" layer on the encoder's hidden state h_t) is the probability that the
input token is the original. loss = gen_weight * L_MLM(generator) + mean_t -log p(x_t), averaged over
non-pad tokens ([CLS]/[SEP] included, like the discriminator loss). The exported encoder is the MLM
model (the copy layer only serves pretraining).

FLOPs: generator MLM training + the MLM model with its MLM head on every token (output_frac = 1.0).
The copy layer (2h + 1 per token) is not charged, like the other small terms the official script omits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra_lab import flops
from electra_lab.config import StrategyOptions
from electra_lab.models.heads import encode, mlm_logits_all
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, mean_metric, scalar_metric, step_output


@dataclass
class Options(StrategyOptions):
    gen_weight: float = 1.0  # weight of the generator's own MLM loss
    temperature: float = 1.0
    disallow_correct: bool = False  # official-code knob: never sample the original token


def copy_mixture_log_prob(vocab_logits: torch.Tensor, copy_logits: torch.Tensor, inputs: torch.Tensor,
                          targets: torch.Tensor) -> torch.Tensor:
    """log p(target) under D * copy(input) + (1 - D) * softmax, computed in log space.

    vocab_logits [B, L, V], copy_logits [B, L] (D = sigmoid), inputs/targets [B, L] -> [B, L]."""
    log_softmax = -common.token_nll(vocab_logits, targets)
    copy_logits = copy_logits.float()
    log_generate = F.logsigmoid(-copy_logits) + log_softmax
    # copying yields the target only where the input already is the target
    log_copy = torch.where(inputs == targets, F.logsigmoid(copy_logits), torch.full_like(copy_logits, -torch.inf))
    return torch.logaddexp(log_copy, log_generate)


class Strategy(StrategyBase):
    encoder_key = "mlm"

    def build(self) -> nn.ModuleDict:
        models = common.build_generator_and_mlm_model(self.ctx)
        models["copy_head"] = nn.Linear(self.ctx.model.hidden, 1)
        return models

    def flops_per_sequence(self, step: int) -> float:
        every_token = flops.model_flops_per_sequence(common.disc_flops_shape(self.ctx), "mlm", output_frac=1.0)
        return common.generator_mlm_flops(self.ctx) + every_token

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        o = self.options
        c = common.corrupt_with_generator(models, batch, self.ctx, o.temperature, o.disallow_correct)
        model = models["mlm"]
        hidden = encode(model, c.corrupted, batch.attention_mask, batch.token_type_ids)
        vocab_logits = mlm_logits_all(hidden, model)
        copy_logits = models["copy_head"](hidden).squeeze(-1)
        log_p = copy_mixture_log_prob(vocab_logits, copy_logits, c.corrupted, batch.input_ids)
        token_mask = batch.attention_mask.float()
        all_tokens = -(log_p * token_mask).sum() / token_mask.sum().clamp(min=1.0)

        loss = o.gen_weight * c.mlm + all_tokens
        # predicted original: the input when the copy layer says "original", else the softmax's argmax
        predicted = torch.where(copy_logits.detach() > 0, c.corrupted, vocab_logits.detach().argmax(-1))
        correct = (predicted == batch.input_ids).float()
        copy_correct = ((copy_logits.detach() > 0).float() != c.is_replaced).float()
        return step_output(loss, common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"), {
            "mlm_loss": scalar_metric(all_tokens),
            "mlm_acc": mean_metric(correct, token_mask),
            "mlm_acc_replaced": mean_metric(correct, c.is_replaced * token_mask),
            "copy_acc": mean_metric(copy_correct, token_mask),
            "replaced_frac": mean_metric(c.is_replaced, token_mask)})
