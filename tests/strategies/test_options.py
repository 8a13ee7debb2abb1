"""Every option a strategy accepts does something: set through the config, each one changes the
strategy's phases, FLOPs, initial weights, losses, metrics or gradients on a fixed batch and seed.

The options are read from each strategy's Options dataclass, so a new strategy or option is
covered (or fails here for want of a changed value) without editing this file."""
import dataclasses

import pytest
import torch

from electra_lab.strategies import available, options_class

from .helpers import setup

STEPS = 10
PROBED_STEPS = (0, 3, 7)  # both two-stage phases, adversarial warm-up and after
# what each strategy needs to build at all (two-stage initialises D from an equal-size G)
NEEDS = {"two_stage": {"model.gen_fraction": 1.0}}
# a changed value where the generic rule below would be invalid for the option
CHANGED = {("two_stage", "switch_fraction"): 0.2, ("two_stage", "switch_step"): 2,
           ("joint", "temperature_end"): 0.5, ("electra_15", "temperature_end"): 0.5}


def changed_value(strategy: str, field: dataclasses.Field):
    if (strategy, field.name) in CHANGED:
        return CHANGED[(strategy, field.name)]
    default = field.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 3
    if isinstance(default, float):
        return default * 2 + 0.5
    raise AssertionError(f"{strategy}.{field.name}: no changed value known for default {default!r}; add it to CHANGED")


def fingerprint(tiny_cfg, tokenizer, name: str, **overrides) -> list[float]:
    """Phases, FLOPs and schedule restarts over the run, the initial weights, and loss, metrics and
    gradient norms per model at a few steps, all on the same batch and seeds."""
    cfg, strategy, models, batch = setup(tiny_cfg, tokenizer, total_steps=STEPS,
                                         **{"strategy.name": name, **NEEDS.get(name, {}), **overrides})
    out = [float(strategy.phase(s) == strategy.phase(0)) for s in range(STEPS)]
    out += [strategy.flops_per_sequence(s) for s in range(STEPS)]
    out += [float(s) for s in strategy.schedule_restarts()]
    out += [p.detach().double().sum().item() for p in models.parameters()]
    for step in PROBED_STEPS:
        models.zero_grad(set_to_none=True)
        torch.manual_seed(100 + step)
        result = strategy.step(models, batch, step)
        result.loss.backward()
        out.append(result.loss.item())
        out += [(total / count).item() if count > 0 else 0.0 for total, count in result.metrics.values()]
        out += [sum(p.grad.double().norm().item() for p in m.parameters() if p.grad is not None)
                for m in models.values()]
    return out


OPTIONS = [(name, f) for name in available() for f in dataclasses.fields(options_class(name)) if f.name != "name"]


@pytest.mark.parametrize("name, field", OPTIONS, ids=[f"{n}.{f.name}" for n, f in OPTIONS])
def test_every_option_changes_something(tiny_cfg, tiny_tokenizer, name, field):
    value = changed_value(name, field)
    default = fingerprint(tiny_cfg, tiny_tokenizer, name)
    again = fingerprint(tiny_cfg, tiny_tokenizer, name)
    assert again == default, "the fingerprint itself must be deterministic"
    changed = fingerprint(tiny_cfg, tiny_tokenizer, name, **{f"strategy.{field.name}": value})
    assert len(changed) != len(default) or changed != pytest.approx(default, rel=1e-9, abs=1e-12), (
        f"strategy.{field.name}={value!r} changed nothing in {name}")

