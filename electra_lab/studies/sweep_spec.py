"""A sweep file (experiments/studies/*_sweep.yaml): an Optuna search over config keys at a fixed budget.

    name: generator_size_sweep
    base: pretrain/tiny_electra.yaml
    budget: {flops: 7.5e13, fractions: [0.5]}     # fixed pretraining FLOPs; intermediate values at 0.5
    params:
      model.gen_fraction: {type: float, low: 0.125, high: 1.0, log: true}
      strategy.temperature: {type: categorical, choices: [1.0, 2.0]}
    objective: {measure: finetune}                # finetune (dev suite score; test kept beside it) | probe
                                                  # (frozen-encoder proxy, dev) | pretrain (a logged metric,
                                                  # e.g. eval/disc_loss)
    intermediate: probe                           # what is reported at each snapshot (default: the objective's)
    pruner: {name: median, n_startup_trials: 2}   # any optuna.pruners class by short name, with its arguments
    sampler: {name: tpe, seed: 0}
    trials: 8                                     # the study's size (`--trials N` adds N more)
    finetune: {tasks: [...], train_sizes: [1000], seeds: 1}
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

from electra_lab.config import BUDGET_KEYS, DEFAULT_TRACKING_URI, ConfigError, build_dataclass
from electra_lab.experiment import load_config
from electra_lab.studies.shipped_configs import experiment_path
from electra_lab.studies.spec import Budget, Downstream, check_plain_keys, check_tasks, read_study_tree, with_scale

MEASURES = ("finetune", "probe", "pretrain")
TEST_SCORE = "test_score"  # user attr (and MLflow metric) of a trial: its test score, reported, never selected on
PRUNERS = {"none": "NopPruner", "median": "MedianPruner", "percentile": "PercentilePruner",
           "successive_halving": "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner",
           "threshold": "ThresholdPruner", "patient": "PatientPruner", "wilcoxon": "WilcoxonPruner"}
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "cmaes": "CmaEsSampler", "qmc": "QMCSampler",
            "gp": "GPSampler"}


@dataclass
class Measure:
    measure: str = "finetune"
    metric: str = "suite_score"  # for measure=pretrain: a logged metric such as eval/disc_loss
    direction: str = "maximize"


@dataclass
class Param:
    type: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None

    def suggest(self, trial, name: str):
        if self.type == "float":
            return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return trial.suggest_categorical(name, self.choices)


@dataclass
class Sweep:
    name: str
    path: Path
    base: str
    params: dict[str, Param]
    budget: Budget
    finetune: Downstream
    objective: Measure
    intermediate: Measure
    pruner: dict = field(default_factory=lambda: {"name": "none"})
    sampler: dict = field(default_factory=lambda: {"name": "tpe", "seed": 0})
    trials: int = 8
    seed: int = 0  # the pretraining seed of every trial
    overrides: list = field(default_factory=list)
    scale: str = "default"
    description: str = ""
    paper: str = ""
    protocol: str = ""
    tracking_uri: str = DEFAULT_TRACKING_URI
    output_dir: str = "runs/studies"
    results_dir: str = "results"
    workers: int = 2
    threads: int = 1

    @property
    def key(self) -> str:
        return self.name if self.scale == "default" else f"{self.name}-{self.scale}"

    @property
    def runs_dir(self) -> Path:
        return Path(self.output_dir) / self.key

    @property
    def results(self) -> Path:
        return Path(self.results_dir) / self.key

    def overrides_for(self, values: dict) -> list[str]:
        import yaml

        chosen = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                  for k, v in values.items()]
        return [*self.overrides, *chosen, *self.budget.overrides(), f"run.seed={self.seed}"]

    def config(self, values: dict, extra: list[str] | None = None):
        return load_config(experiment_path(self.base), [*self.overrides_for(values), *(extra or [])])

    def make_pruner(self):
        return _build("pruners", PRUNERS, self.pruner)

    def make_sampler(self, seed_offset: int = 0):
        spec = dict(self.sampler)
        if spec.get("seed") is not None:
            spec["seed"] = int(spec["seed"]) + seed_offset
        return _build("samplers", SAMPLERS, spec)


TOP_KEYS = {"name", "base", "params", "budget", "finetune", "objective", "intermediate", "pruner", "sampler",
            "trials", "seed", "overrides", "scales", "description", "paper", "protocol", "tracking_uri",
            "output_dir", "results_dir", "workers", "threads"}


def is_sweep_file(path: str | Path) -> bool:
    raw = read_study_tree(Path(path))
    return "params" in raw and "axes" not in raw


def _build(module: str, names: dict[str, str], spec: dict):
    import optuna

    spec = dict(spec or {})
    name = spec.pop("name", "none" if module == "pruners" else "tpe")
    if name not in names:
        raise ConfigError(f"{module[:-1]}.name must be one of {', '.join(names)}, got {name!r}")
    cls = getattr(getattr(optuna, module), names[name])
    accepted = set(inspect.signature(cls).parameters)
    unknown = set(spec) - accepted
    if unknown:
        raise ConfigError(f"{module[:-1]} {name!r}: unknown arguments {sorted(unknown)} (it takes: "
                          f"{', '.join(sorted(accepted))})")
    try:
        return cls(**spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{module[:-1]} {name!r}: {exc}") from None


def _measure(value, where: str, default: Measure | None = None) -> Measure:
    if value is None and default is not None:
        return default
    if isinstance(value, str):
        value = {"measure": value}
    m = build_dataclass(Measure, value or {}, where)
    if m.measure not in MEASURES:
        raise ConfigError(f"{where}.measure must be one of {', '.join(MEASURES)}, got {m.measure!r}")
    if m.direction not in ("maximize", "minimize"):
        raise ConfigError(f"{where}.direction must be maximize|minimize, got {m.direction!r}")
    if m.measure == "pretrain" and not m.metric.startswith(("eval/", "train/")):
        raise ConfigError(f"{where}: measure=pretrain needs metric: a logged metric such as eval/disc_loss")
    return m


def load_sweep(path: str | Path, scale: str = "default", sets: list[str] | None = None) -> Sweep:
    path = Path(path)
    raw = with_scale(read_study_tree(path), scale, path, TOP_KEYS, sets)
    for key in ("name", "base"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{path}: '{key}' is required (a string)")
    params_raw = raw.get("params")
    if not isinstance(params_raw, dict) or not params_raw:
        raise ConfigError(f"{path}: params must map config keys to {{type: float|int|categorical, ...}}")
    params = {}
    for key, spec in params_raw.items():
        p = build_dataclass(Param, spec, f"params.{key}")
        if p.type not in ("float", "int", "categorical"):
            raise ConfigError(f"params.{key}.type must be float|int|categorical, got {p.type!r}")
        if p.type == "categorical" and not p.choices:
            raise ConfigError(f"params.{key}: a categorical parameter needs choices")
        if p.type != "categorical" and (p.low is None or p.high is None or p.low > p.high):
            raise ConfigError(f"params.{key}: a {p.type} range needs low <= high, got {p.low}, {p.high}")
        params[key] = p
    check_plain_keys(raw, str(path))
    for key in ("pruner", "sampler"):
        if key in raw and not isinstance(raw[key], dict):
            raise ConfigError(f"{path}: {key} must be a mapping like {{name: median, n_startup_trials: 2}}, "
                              f"got {raw[key]!r}")
    budget = build_dataclass(Budget, raw.get("budget") or {}, "budget")
    if sum(getattr(budget, k) is not None for k in BUDGET_KEYS) != 1:
        raise ConfigError(f"{path}: a sweep compares trials at a fixed budget: give one of "
                          f"budget.{', budget.'.join(BUDGET_KEYS)}")
    objective = _measure(raw.get("objective"), "objective")
    sweep = Sweep(name=raw["name"], path=path, base=raw["base"], params=params, budget=budget,
                  finetune=build_dataclass(Downstream, raw.get("finetune") or {}, "finetune"),
                  objective=objective, intermediate=_measure(raw.get("intermediate"), "intermediate", objective),
                  scale=scale, **{k: raw[k] for k in ("pruner", "sampler", "trials", "seed", "overrides",
                                                      "description", "paper", "protocol", "tracking_uri",
                                                      "output_dir", "results_dir", "workers", "threads")
                                  if k in raw})
    if sweep.intermediate.direction != sweep.objective.direction:
        raise ConfigError(f"{path}: intermediate and objective must share a direction (the pruner compares them)")
    sweep.make_pruner()
    sweep.make_sampler()
    corners = [{k: (p.choices[0] if p.type == "categorical" else (p.low if side == 0 else p.high))
                for k, p in params.items()} for side in (0, 1)]
    for values in corners:  # the range's ends must make valid configs
        try:
            sweep.config({k: int(v) if params[k].type == "int" else v for k, v in values.items()})
        except ConfigError as exc:
            raise ConfigError(f"{path}: params at {values}: {exc}") from None
    check_tasks(sweep.finetune, str(path))
    return sweep
