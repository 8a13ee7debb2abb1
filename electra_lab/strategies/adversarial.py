"""Adversarial ELECTRA (paper Figure 3 right, appendix F): the generator is trained with REINFORCE
to maximise the discriminator's loss on its own samples, instead of by maximum likelihood.

Per masked slot t with sample s_t ~ softmax(G logits / T):
  reward      R_t = the discriminator's BCE at t = -log D(true label of t), with no gradient; the label
              is "original" when s_t happens to equal the original token
  baseline    b_t = -log sigmoid(w . h_G,t), h_G,t the generator's encoder output at t; w is fitted by
              cross-entropy to the reward: BCE(sigmoid(w . h_G,t), exp(-R_t)), its optimum b_t = R_t
              (h_G is detached there: the baseline must not shape the policy)
  generator   L_G = -sum_t (R_t - b_t) * log p_G(s_t) / #slots  (ascends the expected reward)
The appendix's simplifying assumption (D at t depends on s_t, not on the other samples) is what makes
this per-slot credit assignment valid. The discriminator trains as usual on all non-pad tokens:

    loss = L_G + baseline_weight * L_baseline + disc_weight * L_Disc

With mlm_warmup_steps > 0 the generator first trains by MLM (L_G = L_MLM) for that many steps.
FLOPs: as joint ELECTRA (a generator trained through its MLM head + the discriminator); the
baseline's dot product is not charged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from electra_lab.config import StrategyOptions
from electra_lab.data.masking import gather_positions
from electra_lab.models.build import generator_shape
from electra_lab.models.heads import encode, mlm_logits_at
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, mean_metric, scalar_metric, step_output


@dataclass
class Options(StrategyOptions):
    disc_weight: float = 50.0
    adversarial_weight: float = 1.0  # weight of the REINFORCE loss L_G
    baseline_weight: float = 1.0
    mlm_warmup_steps: int = 0  # train the generator by MLM for this many steps first
    temperature: float = 1.0


class Strategy(StrategyBase):
    def build(self) -> nn.ModuleDict:
        models = common.build_electra_pair(self.ctx)
        baseline = nn.Linear(generator_shape(self.ctx.model).hidden, 1, bias=False)  # b = -log sigmoid(w . h)
        nn.init.zeros_(baseline.weight)  # starts at b = log 2, the loss of a discriminator at chance
        models["baseline"] = baseline
        return models

    def phase(self, step: int) -> str:
        return "mlm_warmup" if step < self.options.mlm_warmup_steps else "adversarial"

    def flops_per_sequence(self, step: int) -> float:
        return common.electra_flops(self.ctx)

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        o, gen = self.options, models["generator"]
        masked = common.mask_batch(batch, self.ctx)
        gen_hidden = encode(gen, masked.input_ids, batch.attention_mask, batch.token_type_ids)
        gen_logits = mlm_logits_at(gen_hidden, gen, masked.positions)
        mlm = common.mlm_loss(gen_logits, masked.labels, masked.weights)
        samples = common.sample_replacements(gen_logits, masked.labels, o.temperature)
        corrupted, is_replaced = common.replace_with_samples(batch, masked, samples)

        disc_logits = common.discriminate(models, corrupted, batch)
        token_mask = batch.attention_mask.float()
        disc = common.rtd_loss(disc_logits, is_replaced, token_mask)

        reward = common.rtd_loss_per_token(disc_logits.detach(), is_replaced).gather(1, masked.positions)
        baseline_logit = models["baseline"](gather_positions(gen_hidden, masked.positions).detach()).squeeze(-1).float()
        baseline = -F.logsigmoid(baseline_logit)
        per_slot = F.binary_cross_entropy_with_logits(baseline_logit, torch.exp(-reward), reduction="none")
        baseline_loss = common.slot_mean(per_slot, masked.weights)
        advantage = (reward - baseline).detach()
        reinforce = common.reinforce_loss(gen_logits, samples, advantage, masked.weights, o.temperature)

        gen_loss = mlm if step < o.mlm_warmup_steps else o.adversarial_weight * reinforce
        loss = gen_loss + o.baseline_weight * baseline_loss + o.disc_weight * disc
        sampling_entropy = common.distribution_entropy(gen_logits, o.temperature)  # at T, every step
        return step_output(loss, common.mlm_metrics(gen_logits, masked.labels, masked.weights, mlm, "gen"),
                           common.rtd_metrics(disc_logits, is_replaced, token_mask, disc), {
                               "reward": mean_metric(reward, masked.weights),
                               "advantage": mean_metric(advantage, masked.weights),
                               "baseline_loss": scalar_metric(baseline_loss),
                               "gen_sampling_entropy": mean_metric(sampling_entropy, masked.weights)},
                           ranked=common.rtd_ranking(disc_logits, is_replaced, token_mask, corrupted, self.ctx))


