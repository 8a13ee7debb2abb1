"""Loading a pretraining config: the YAML, the overrides and the named strategy's typed options,
all checked before any data work (a typo in `strategy.disc_wieght` fails here, in milliseconds).

It sits above both electra_lab.config (the sections, which know no strategy) and
electra_lab.strategies (whose Options type the `strategy:` section), so neither imports the other
the wrong way.
"""
from __future__ import annotations

from pathlib import Path

from electra_lab import strategies
from electra_lab.config import Config, build_config, read_tree


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """A checked Config from a YAML file (or the defaults) and `section.key=value` overrides.

    An override of train.steps / tokens / flops replaces the file's budget; `strategy=NAME`
    replaces the whole strategy section. Raises ConfigError naming the offending key or file."""
    return build_config(read_tree(path, overrides), strategies.options_class)
