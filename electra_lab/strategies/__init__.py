"""Training strategies, one module each, found by module name (no registry to keep in sync)."""
from __future__ import annotations

import importlib
import pkgutil

from electra_lab.config import ConfigError, build_dataclass

_NOT_STRATEGIES = {"base", "common"}


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_STRATEGIES)


def build_strategy(spec: dict, ctx):
    """spec is the config's `strategy:` mapping: {'name': ..., <that strategy's Options>}."""
    name = spec.get("name")
    if name not in available():
        raise ConfigError(f"unknown strategy.name {name!r} (valid: {', '.join(available())})")
    module = importlib.import_module(f"{__name__}.{name}")
    options = build_dataclass(module.Options, {k: v for k, v in spec.items() if k != "name"}, "strategy")
    return module.Strategy(options, ctx)
