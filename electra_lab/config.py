"""Experiment configuration: dataclasses, YAML loading with `inherit:`, dotted key=value overrides.

Every key is checked: an unknown key or a value of the wrong type raises ConfigError naming the
dotted key, so a typo never silently falls back to a default. The `strategy:` section is typed by
the named strategy's own Options dataclass; this module knows no strategy, so the caller passes
the lookup (electra_lab.experiment.load_config does, with the strategies package's).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from electra_lab.errors import ElectraLabError


class ConfigError(ElectraLabError, ValueError):
    """A configuration problem, with the offending key or file named in the message."""


# MLflow's embedded store in the working folder: no server needed. Every default in the project
# (configs, CLI flags, studies) is this one constant.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass
class RunConfig:
    name: str = "run"
    experiment: str = "electra-lab"
    tracking_uri: str = DEFAULT_TRACKING_URI
    output_dir: str = "runs"
    seed: int = 0
    resume: bool = True  # continue from output_dir/name/checkpoint.pt when it exists
    tags: dict = field(default_factory=dict)


@dataclass
class DataConfig:
    sources: list = field(default_factory=lambda: ["austen", "bible", "wordnet", "wiki_sample"])
    tokenizer: str = "bert"  # "bert" (uncased WordPiece, 30,522) or "wordpiece" (trained on the corpus)
    vocab_size: int | None = None  # required for tokenizer=wordpiece
    seq_len: int = 128
    valid_fraction: float = 0.02
    max_docs_per_source: int | None = None
    max_chars_per_source: int | None = None
    skip_unavailable: bool = True  # a source that cannot be fetched (no apt) is skipped with a warning
    single_segment_prob: float = 0.1
    short_seq_prob: float = 0.05


@dataclass
class ModelConfig:
    """Discriminator size; the generator is derived from it with gen_fraction (paper's rule)."""

    layers: int = 12
    hidden: int = 256
    heads: int = 4
    ffn: int = 1024
    embedding_size: int = 128
    max_position: int = 512
    dropout: float = 0.1
    gen_fraction: float = 0.25  # generator hidden/FFN/heads as a fraction of the discriminator's
    gen_layers: int | None = None  # None: same depth as the discriminator, as in the paper
    sharing: str = "embeddings"  # none | embeddings | all | gdes
    # Embedding width of an untied generator (sharing=none only; tied modes share one width):
    # official = the generator's own hidden size, as run_pretraining.py (embedding_size=None) and
    # flops_computation.py count it; discriminator = model.embedding_size (this project's old rule)
    untied_gen_embedding: str = "official"


@dataclass
class MaskingConfig:
    prob: float = 0.15
    style: str = "official"  # official: 85% [MASK] / 15% kept; bert: 80% [MASK] / 10% random / 10% kept
    max_predictions: int | None = None  # None: int((prob + 0.005) * seq_len), as the official code


@dataclass
class OptimConfig:
    lr: float = 5e-4
    warmup_steps: int = 10000
    warmup_fraction: float | None = None  # when set, warmup = fraction of total steps (short runs)
    weight_decay: float = 0.01
    adam_eps: float = 1e-6
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    bias_correction: bool = False  # official ELECTRA Adam has none
    warmup_overlaps_decay: bool = True  # official: lr = linear_decay(step) * min(1, step / warmup)
    clip_norm: float = 1.0
    no_decay_on_norm_and_bias: bool = True


@dataclass
class TrainConfig:
    batch_size: int = 128
    grad_accum: int = 1
    steps: int | None = None  # budget: exactly one of steps / tokens / flops
    tokens: int | None = None
    flops: float | None = None
    # how an input token's embedding lookup is counted: "dense" (a one-hot product, 2*e*V: the official
    # count and the paper's numbers) or "sparse" (free: the official script's sparse_embed_lookup)
    flops_lookup: str = "dense"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto | fp32 | bf16
    compile: bool = False
    packed_dropout: bool = True  # CPU dropout masks from packed random bits (models/packed_dropout.py)
    threads: int | None = None  # torch intra-op threads on CPU; None keeps torch's default
    # data parallel under torchrun / accelerate launch: auto = nccl on CUDA, gloo on CPU
    dist_backend: str = "auto"
    log_every: int = 10
    eval_every: int = 200
    eval_batches: int = 8
    checkpoint_every: int = 200
    snapshot_fractions: list = field(default_factory=list)  # e.g. [0.125, 0.25, 0.5]: export at these budget fractions
    progress: bool = True


@dataclass
class StrategyOptions:
    """What every strategy's Options has: its name. Each strategy module subclasses this with the
    options it uses (all with defaults), so `cfg.strategy.disc_weight` is typed and checked."""

    name: str = "joint"


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    strategy: StrategyOptions = field(default_factory=StrategyOptions)  # the named strategy's Options
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ---------------------------------------------------------------- YAML + overrides


def load_yaml_tree(path: str | Path) -> dict:
    """Read a YAML file, merging the files listed under `inherit:` (paths relative to it) first."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    parents = data.pop("inherit", []) or []
    merged: dict = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = deep_merge(merged, load_yaml_tree(path.parent / parent))
    return deep_merge(merged, data)


def deep_merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(tree: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides; values are parsed as YAML (so 1e-3, true, [1,2] work)."""
    tree = deep_merge({}, tree)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"override {dotted!r}: value {raw!r} is not valid YAML ({problem})") from None
        node = tree
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return tree


# ---------------------------------------------------------------- typed construction


def build_dataclass(cls: type, data: Any, prefix: str, unknown_hint: str = "") -> Any:
    """Construct dataclass `cls` from a mapping, checking every key and type; unknown_hint is
    added to the message for an unknown key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key '{where}' (valid: {', '.join(sorted(names))}){unknown_hint}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], key)
    required = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs and f.init
                and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        raise ConfigError(f"{prefix or 'config'}: missing required key(s) {', '.join(required)}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, key)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if value is None:
        raise ConfigError(f"config key '{key}' may not be null")
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:  # YAML reads "1e18" without a dot as a string
            return float(value)
        except ValueError:
            pass
    expected = {list: list, dict: dict}.get(hint, hint)
    if isinstance(expected, type) and not _isinstance_strict(value, expected):
        raise ConfigError(
            f"config key '{key}' must be {expected.__name__}, got {type(value).__name__} ({value!r})"
        )
    return value


def _isinstance_strict(value: Any, expected: type) -> bool:
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


BUDGET_KEYS = ("steps", "tokens", "flops")


def read_tree(path: str | Path | None = None, overrides: list[str] | None = None) -> dict:
    """The raw config tree: the YAML (with its `inherit:` chain) and the dotted overrides on top.

    A budget given as an override replaces the file's budget (setting train.steps on the command
    line drops the YAML's train.flops), and a bare `strategy=NAME` replaces the whole strategy
    section with that strategy's defaults; `strategy.name=NAME` keeps the file's other options."""
    tree = load_yaml_tree(path) if path is not None else {}
    overrides = list(overrides or [])
    given = _overridden_budgets(overrides)
    if given and isinstance(tree.get("train"), dict):
        tree = deep_merge(tree, {"train": {k: None for k in BUDGET_KEYS if k not in given}})
    tree = apply_overrides(tree, overrides)
    if isinstance(tree.get("strategy"), str):
        tree["strategy"] = {"name": tree["strategy"]}
    return tree


def _overridden_budgets(overrides: list[str]) -> set[str]:
    """The budget keys (steps/tokens/flops) that overrides set to a value (not to null)."""
    given = set()
    for item in overrides:
        key, _, raw = item.partition("=")
        section, _, name = key.partition(".")
        if section == "train" and name in BUDGET_KEYS and raw not in ("", "null", "~"):
            given.add(name)
    return given


def build_config(tree: dict, options_class: Callable[[str], type]) -> Config:
    """A checked Config from a raw tree; `options_class(name)` gives strategy `name`'s Options
    dataclass (or raises ConfigError for an unknown name)."""
    tree = dict(tree)
    spec = tree.pop("strategy", None)
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise ConfigError(f"strategy must be a mapping or a strategy name, got {type(spec).__name__} ({spec!r})")
    cfg = build_dataclass(Config, tree, "")
    name = spec.get("name", StrategyOptions.name)
    if not isinstance(name, str):
        raise ConfigError(f"config key 'strategy.name' must be str, got {type(name).__name__} ({name!r})")
    cfg.strategy = build_dataclass(options_class(name), {**spec, "name": name}, "strategy",
                                   unknown_hint=f": strategy {name!r} does not use it (on the command line, "
                                                "strategy=NAME replaces the whole strategy section)")
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that a type alone cannot express."""
    budgets = [k for k in BUDGET_KEYS if getattr(cfg.train, k) is not None]
    if len(budgets) != 1:
        raise ConfigError(
            f"train: set exactly one budget of train.steps / train.tokens / train.flops (got {budgets or 'none'})"
        )
    m = cfg.model
    if m.hidden % m.heads:
        raise ConfigError(f"model.hidden ({m.hidden}) must be divisible by model.heads ({m.heads})")
    if not 0 < m.gen_fraction <= 1:
        raise ConfigError(f"model.gen_fraction must be in (0, 1], got {m.gen_fraction}")
    for key in ("layers", "hidden", "heads", "ffn", "embedding_size"):
        if getattr(m, key) <= 0:
            raise ConfigError(f"model.{key} must be positive, got {getattr(m, key)}")
    if cfg.data.seq_len > m.max_position:
        raise ConfigError(f"data.seq_len ({cfg.data.seq_len}) exceeds model.max_position ({m.max_position})")
    if cfg.data.tokenizer not in ("bert", "wordpiece"):
        raise ConfigError(f"data.tokenizer must be 'bert' or 'wordpiece', got {cfg.data.tokenizer!r}")
    if cfg.data.tokenizer == "wordpiece" and not cfg.data.vocab_size:
        raise ConfigError("data.vocab_size is required when data.tokenizer=wordpiece")
    if cfg.masking.style not in ("official", "bert"):
        raise ConfigError(f"masking.style must be 'official' or 'bert', got {cfg.masking.style!r}")
    if not 0 < cfg.masking.prob < 1:
        raise ConfigError(f"masking.prob must be in (0, 1), got {cfg.masking.prob}")
    if m.sharing not in ("none", "embeddings", "all", "gdes"):
        raise ConfigError(f"model.sharing must be none|embeddings|all|gdes, got {m.sharing!r}")
    if m.untied_gen_embedding not in ("official", "discriminator"):
        raise ConfigError(f"model.untied_gen_embedding must be official|discriminator, got {m.untied_gen_embedding!r}")
    t = cfg.train
    for key in ("batch_size", "grad_accum", "log_every", "eval_every", "eval_batches", "checkpoint_every"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(t, key)}")
    for key in BUDGET_KEYS:
        value = getattr(t, key)
        if value is not None and not value > 0:  # `not >` also refuses nan
            raise ConfigError(f"train.{key} must be positive, got {value}")
    if cfg.data.seq_len < 2:
        raise ConfigError(f"data.seq_len must be >= 2 ([CLS] and [SEP]), got {cfg.data.seq_len}")
    if cfg.train.batch_size % cfg.train.grad_accum:
        raise ConfigError("train.batch_size must be divisible by train.grad_accum")
    if cfg.train.dist_backend not in ("auto", "gloo", "nccl"):
        raise ConfigError(f"train.dist_backend must be auto|gloo|nccl, got {cfg.train.dist_backend!r}")
    if cfg.train.flops_lookup not in ("dense", "sparse"):
        raise ConfigError(f"train.flops_lookup must be dense|sparse, got {cfg.train.flops_lookup!r}")
    if cfg.train.precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"train.precision must be auto|fp32|bf16, got {cfg.train.precision!r}")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; used for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def max_predictions(masking: MaskingConfig, seq_len: int) -> int:
    """The official cap: int((mask_prob + 0.005) * L), e.g. 19 at L=128."""
    if masking.max_predictions is not None:
        return masking.max_predictions
    return int((masking.prob + 0.005) * seq_len)
