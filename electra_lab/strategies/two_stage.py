"""Two-stage ELECTRA (paper Figure 3 right): first the generator, then the discriminator.

Phase "generator" (steps < switch): only the generator trains, loss = L_MLM.
The switch: the discriminator's encoder (embeddings + transformer) is initialised from the
generator's; this needs equal sizes (model.gen_fraction = 1.0). Without it the paper saw the
discriminator stay at the majority class (init_from_generator=false reproduces that ablation).
Phase "discriminator": only the discriminator trains, loss = disc_weight * L_Disc; the generator is
frozen, run under no_grad, so no gradient and no optimiser update (not even weight decay) reach it.

Sharing: all-tying is refused (a frozen generator cannot be the encoder being trained). Under
sharing=embeddings the two models keep separate tables and the switch copies the generator's
into the discriminator (what tying would hold at that moment); only the discriminator's copy
trains afterwards, so the frozen generator stays frozen. gdes needs nothing special: the RTD loss
reaches only the discriminator's deltas, which restart at zero at the switch.

The switch happens once: a `switched` buffer in the models' state (so in every checkpoint) tells
a resumed run not to copy again.

FLOPs (official counting, backward = forward): phase 1 = generator MLM training; phase 2 =
discriminator training + the generator's forward pass only (MLM head on the official output
fraction), i.e. half of the generator's training cost.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
from torch import nn

from electra_lab.config import ConfigError, StrategyOptions
from electra_lab.models.build import discriminator_shape, generator_shape
from electra_lab.strategies import _common as common
from electra_lab.strategies._base import Batch, StepOutput, StrategyBase, StrategyContext, step_output


@dataclass
class Options(StrategyOptions):
    switch_step: int | None = None  # generator-only steps; None: switch_fraction of the run
    switch_fraction: float = 0.5  # the paper trains G for n steps, then D for n steps
    init_from_generator: bool = True
    disc_weight: float = 50.0  # as in joint ELECTRA, so the discriminator's updates compare
    temperature: float = 1.0
    disallow_correct: bool = False  # official-code knob: never sample the original token
    # at the switch, warm the LR up again and decay it over the discriminator phase, and clear the
    # optimiser state (the paper does not say; false: one schedule over the whole run)
    restart_schedule: bool = False

    def __post_init__(self):  # runs at config load, before any data work
        if not 0.0 <= self.switch_fraction <= 1.0:
            raise ConfigError(f"strategy.switch_fraction must be in [0, 1], got {self.switch_fraction}")
        if self.switch_step is not None and self.switch_step < 0:
            raise ConfigError(f"strategy.switch_step must be >= 0, got {self.switch_step}")


def copy_generator_weights(models: nn.ModuleDict, prefix: str = "") -> None:
    """Copy the generator's encoder weights named under `prefix` into the discriminator's.

    GDES deltas restart at zero (the discriminator's tables then equal the generator's); a
    discriminator weight with no generator counterpart is a bug and raises."""
    source = models["generator"].electra.state_dict()
    for name, tensor in models["discriminator"].electra.state_dict().items():  # tensors share storage
        if not name.startswith(prefix):
            continue
        if name.endswith(".delta"):
            tensor.zero_()
        elif name in source:
            tensor.copy_(source[name])
        elif ".base." not in name:  # a GDES base is the generator's own table already
            raise RuntimeError(f"two_stage: the generator has no weight for the discriminator's {name}")


class Strategy(StrategyBase):
    def __init__(self, options: Options, ctx: StrategyContext):
        super().__init__(options, ctx)
        self._known_switched: weakref.WeakSet = weakref.WeakSet()  # avoids reading the flag every step

    @property
    def switch_step(self) -> int:
        o = self.options
        return o.switch_step if o.switch_step is not None else round(o.switch_fraction * self.ctx.total_steps)

    def build(self) -> nn.ModuleDict:
        m, o = self.ctx.model, self.options
        if m.sharing == "all":
            raise ConfigError("strategy two_stage trains the discriminator while the generator stays frozen, so they "
                              "cannot be one encoder: use model.sharing=none, embeddings or gdes")
        gen, disc = generator_shape(m), discriminator_shape(m)
        if o.init_from_generator and gen != disc:
            untied = (" (untied, the generator embeds at its own hidden size, as the official code: set "
                      "model.untied_gen_embedding=discriminator)" if gen.embedding_size != disc.embedding_size else "")
            raise ConfigError(
                "strategy two_stage initialises the discriminator from the generator, so both must be the same size "
                f"(generator {gen}, discriminator {disc}{untied}): set model.gen_fraction=1.0 (got {m.gen_fraction}) "
                f"and leave model.gen_layers unset (got {m.gen_layers}), or set strategy.init_from_generator=false")
        models = common.build_electra_pair(self.ctx, sharing="gdes" if m.sharing == "gdes" else "none")
        models.register_buffer("switched", torch.zeros((), dtype=torch.bool))
        return models

    def phase(self, step: int) -> str:
        return "generator" if step < self.switch_step else "discriminator"

    def schedule_restarts(self) -> list[int]:
        inside = 0 < self.switch_step < self.ctx.total_steps
        return [self.switch_step] if self.options.restart_schedule and inside else []

    def export_models(self, models: nn.ModuleDict) -> dict[str, nn.Module]:
        """Before the switch the discriminator is still its random init, so the encoder a snapshot
        exports then is the generator, which the switch copies into it (the paper's two-stage curve
        follows the generator until the switch). Without init_from_generator nothing is copied and
        the discriminator is exported throughout."""
        exported = super().export_models(models)
        if self.options.init_from_generator and not bool(models.switched):
            exported["encoder"] = models["generator"]
        return exported

    def flops_per_sequence(self, step: int) -> float:
        generator = common.generator_mlm_flops(self.ctx)
        if step < self.switch_step:
            return generator
        return common.discriminator_flops(self.ctx) + 0.5 * generator  # frozen G: forward only

    def step(self, models: nn.ModuleDict, batch: Batch, step: int) -> StepOutput:
        if step < self.switch_step:
            return self._generator_step(models, batch)
        self._switch_once(models)
        return self._discriminator_step(models, batch)

    def _generator_step(self, models: nn.ModuleDict, batch: Batch) -> StepOutput:
        loss, metrics = common.mlm_training_loss(models, "generator", batch, self.ctx, "gen")
        return step_output(loss, metrics)

    def _discriminator_step(self, models: nn.ModuleDict, batch: Batch) -> StepOutput:
        o = self.options
        with torch.no_grad():  # the generator is frozen
            c = common.corrupt_with_generator(models, batch, self.ctx, o.temperature, o.disallow_correct)
        disc_logits = common.discriminate(models, c.corrupted, batch)
        token_mask = batch.attention_mask.float()
        disc = common.rtd_loss(disc_logits, c.is_replaced, token_mask)
        loss = o.disc_weight * disc
        return step_output(loss, common.mlm_metrics(c.gen_logits, c.masked.labels, c.masked.weights, c.mlm, "gen"),
                           common.rtd_metrics(disc_logits, c.is_replaced, token_mask, disc),
                           ranked=common.rtd_ranking(disc_logits, c.is_replaced, token_mask, c.corrupted, self.ctx))

    def _switch_once(self, models: nn.ModuleDict) -> None:
        """Initialise the discriminator from the generator, unless this run already did (resume)."""
        if models in self._known_switched:
            return
        if not bool(models.switched):
            prefix = self._copied_prefix()
            with torch.no_grad():
                if prefix is not None:
                    copy_generator_weights(models, prefix)
                models.switched.fill_(True)
        self._known_switched.add(models)

    def _copied_prefix(self) -> str | None:
        """Which part of the encoder the switch copies: all of it, or what sharing would have tied."""
        if self.options.init_from_generator:
            return ""
        return "embeddings." if self.ctx.model.sharing in ("embeddings", "gdes") else None
