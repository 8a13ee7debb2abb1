"""Replace MLM (paper Table 5): masked language modelling where the masked slots hold generator
samples instead of [MASK].

The generator is trained exactly as in ELECTRA (MLM on [MASK]ed input) and its samples fill every
masked slot; a discriminator-sized MLM model then reads that corrupted input and predicts the
original tokens at the masked slots:

    loss = gen_weight * L_MLM(generator) + L_MLM(model at the masked slots of the corrupted input)

It tests how much of ELECTRA's gain comes from never showing [MASK] in pretraining. The exported
encoder is the MLM model. FLOPs: generator MLM training + MLM-model training (MLM head on the
official output fraction).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from electra_lab import flops
from electra_lab.config import StrategyOptions
from electra_lab.data.masking import MaskedBatch
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, mean_metric, step_output


@dataclass
class Options(StrategyOptions):
    gen_weight: float = 1.0  # weight of the generator's own MLM loss
    temperature: float = 1.0
    disallow_correct: bool = False  # official-code knob: never sample the original token


class Strategy(StrategyBase):
    encoder_key = "mlm"

    def build(self) -> nn.ModuleDict:
        return common.build_generator_and_mlm_model(self.ctx)

    def flops_per_sequence(self, step: int) -> float:
        return common.generator_mlm_flops(self.ctx) + flops.mlm_flops_per_sequence(common.disc_flops_shape(self.ctx))

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        o = self.options
        c = common.corrupt_with_generator(models, batch, self.ctx, o.temperature, o.disallow_correct)
        # the same slots, now read from the corrupted input (samples where the generator saw [MASK])
        replaced = MaskedBatch(c.corrupted, c.masked.positions, c.masked.labels, c.masked.weights)
        logits = common.generator_predictions(models, "mlm", batch, replaced)
        mlm = common.mlm_loss(logits, replaced.labels, replaced.weights)

        loss = o.gen_weight * c.mlm + mlm
        return step_output(loss, common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"),
                           common.mlm_metrics(logits, replaced.labels, replaced.weights, mlm, "mlm"),
                           {"replaced_frac": mean_metric(c.is_replaced, batch.attention_mask)})
