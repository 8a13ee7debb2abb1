"""A study file (experiments/studies/*.yaml): cells x pretraining seeds, a budget, a downstream protocol.

    name: generator_size
    base: pretrain/tiny_electra.yaml          # a shipped config (relative to experiments/) or a path
    overrides: [train.eval_every=100]         # on every cell
    axes:                                     # the cells are the product of the axes ...
      model.gen_fraction: [0.25, 0.5, 1.0]    #   a config key and its values
      disc:                                   #   or a named axis whose values are override bundles
        tiny: [model.hidden=128]
        small: [model.hidden=256]
    variants:                                 # ... plus named cells outside the product
      - {name: unigram, overrides: [strategy=unigram_generator], at: {disc: tiny}}
    seeds: [0, 1, 2]                          # pretraining seeds (run.seed)
    budget: {flops: 7.5e13, fractions: [0.25, 0.5, 0.75]}  # matched FLOPs; evaluated at snapshots too
    finetune: {tasks: [movie_polarity], train_sizes: [1000], seeds: 3, options: [min_updates=200]}
    scales: {paper: {base: ..., budget: {...}}}   # --scale paper: these keys replace the file's
    report: [{kind: line, x: gen_fraction, lines: disc, title: "Figure 3 left"}]  # axes by label

Every cell's config is built at load (electra_lab.experiment.load_config), so an unknown key, a bad
value or an impossible combination fails here with the cell's name, before anything runs.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from electra_lab.config import BUDGET_KEYS, DEFAULT_TRACKING_URI, ConfigError, build_dataclass, deep_merge
from electra_lab.experiment import load_config
from electra_lab.studies.shipped_configs import experiment_path

FLOOR = "random-init"  # the cell name of the random-init floor
REPORT_KINDS = ("line", "flops", "table", "versus", "pretraining")


@dataclass
class Budget:
    flops: float | None = None  # matched across cells (one of flops / steps / tokens, or none: the base's)
    steps: int | None = None
    tokens: int | None = None
    fractions: list = field(default_factory=list)  # also evaluate snapshots at these budget fractions

    def overrides(self) -> list[str]:
        out = [f"train.{k}={getattr(self, k)}" for k in BUDGET_KEYS if getattr(self, k) is not None]
        return out + [f"train.snapshot_fractions={sorted(self.fractions)}"]

    def points(self) -> list[float]:
        """The budget fractions each cell is evaluated at, the final export (1.0) last."""
        return [*sorted(self.fractions), 1.0]


@dataclass
class Downstream:
    suite: str = "offline"
    tasks: list | None = None  # None: the whole suite
    train_sizes: list = field(default_factory=lambda: [1000])  # labelled examples per task (several: a curve)
    dev: int = 500
    test: int = 1000
    seeds: int = 3  # fine-tuning seeds per task and point
    # fine-tuning seeds at the final export and for the floor (None: `seeds`): the headline's 3 x 3
    # where it is compared, one seed at the curve's earlier points, which cost as much each
    final_seeds: int | None = None
    options: list = field(default_factory=list)  # fine-tuning key=value options (electra-lab finetune --set)
    # named fine-tuning option bundles on top of `options` (e.g. {lr3e-4: [lr=3e-4], lr1e-4: [lr=1e-4]}):
    # every point is fine-tuned with each, and the report keeps, per cell, budget point and size,
    # the recipe with the best mean dev score over pretraining seeds (chosen on dev, never on test)
    recipes: dict = field(default_factory=dict)
    floor: bool = True  # also fine-tune random-init encoders (the floor), one per pretraining seed
    floor_from: str | None = None  # the cell whose architecture the floor takes (None: the first cell)
    glue_dir: str | None = None  # suite glue: a folder in the original GLUE layout (else the hub)

    def seeds_text(self) -> str:
        """How many fine-tuning seeds, for dry runs and reports."""
        final = f" ({self.final_seeds} at the final export and the floor)" if self.final_seeds else ""
        return f"{self.seeds}{final}"

    def seeds_at(self, fraction: float) -> int:
        """Fine-tuning seeds at a budget fraction (1.0: the final export; 0.0: the floor)."""
        return self.final_seeds if self.final_seeds and fraction in (0.0, 1.0) else self.seeds


@dataclass
class ReportItem:
    kind: str  # line: score vs an axis; flops: score vs pretraining FLOPs; table: cells x tasks;
    # versus: cells [A, B], A against B at equal FLOPs (gaps in se, FLOPs for A to reach B's final score)
    title: str = ""
    x: str | None = None  # line: the axis on the x axis
    lines: str | None = None  # line/flops: the axis that makes one line per value (None: one line per cell)
    xlog: bool = False
    cells: list | None = None  # a subset of cells, in this order (None: all)
    metrics: list | None = None  # pretraining: held-out metric names (gen_acc, gen_entropy, disc_auc, ...)


@dataclass
class Cell:
    name: str
    overrides: list[str]  # on top of the study's base and overrides
    coords: dict[str, str]  # axis -> value label (a variant's `at`, plus its own name under "variant")

    @property
    def slug(self) -> str:
        return slug(self.name)


@dataclass
class Unit:
    """One piece of work: a cell pretrained with one seed and evaluated at every point (or the
    floor: a random-init encoder of the floor cell's shape, fine-tuned the same way)."""

    cell: Cell
    seed: int

    @property
    def id(self) -> str:
        return f"{self.cell.slug}_s{self.seed}"

    @property
    def is_floor(self) -> bool:
        return self.cell.name == FLOOR


@dataclass
class Study:
    name: str
    path: Path
    base: str
    cells: list[Cell]
    seeds: list[int]
    budget: Budget
    finetune: Downstream
    overrides: list[str] = field(default_factory=list)
    report: list[ReportItem] = field(default_factory=list)
    scale: str = "default"
    description: str = ""
    paper: str = ""  # the paper's figure / table and its numbers, for the report
    protocol: str = ""  # what was chosen on dev, and how (never on test)
    tracking_uri: str = DEFAULT_TRACKING_URI
    output_dir: str = "runs/studies"  # runs land in <output_dir>/<key>/
    results_dir: str = "results"  # cell files and the report land in <results_dir>/<key>/
    workers: int = 2
    threads: int = 1  # torch threads per worker

    @property
    def key(self) -> str:
        """The study's name in MLflow, the claim storage and results/: the scale is part of it."""
        return self.name if self.scale == "default" else f"{self.name}-{self.scale}"

    @property
    def runs_dir(self) -> Path:
        return Path(self.output_dir) / self.key

    @property
    def results(self) -> Path:
        return Path(self.results_dir) / self.key

    @property
    def floor_cell(self) -> Cell:
        name = self.finetune.floor_from or self.cells[0].name
        return next(c for c in self.cells if c.name == name)

    def units(self) -> list[Unit]:
        units = [Unit(c, s) for c in self.cells for s in self.seeds]
        if self.finetune.floor:
            floor = self.floor_cell
            units += [Unit(Cell(FLOOR, floor.overrides, {**floor.coords, "variant": FLOOR}), s) for s in self.seeds]
        return units

    def cell_overrides(self, cell: Cell, seed: int) -> list[str]:
        """Everything on top of the base config for one unit (run placement is the runner's)."""
        return [*self.overrides, *cell.overrides, *self.budget.overrides(), f"run.seed={seed}"]

    def config(self, unit: Unit, extra: list[str] | None = None):
        return load_config(experiment_path(self.base), [*self.cell_overrides(unit.cell, unit.seed), *(extra or [])])


TOP_KEYS = {"name", "base", "overrides", "axes", "variants", "seeds", "budget", "finetune", "scales", "report",
            "description", "paper", "protocol", "tracking_uri", "output_dir", "results_dir", "workers", "threads"}


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name.replace(",", "+"))


def read_study_tree(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"study file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return raw


def apply_sets(raw: dict, sets: list[str] | None, path: Path) -> dict:
    """Command-line changes to a study tree: KEY=VALUE replaces (YAML value, dotted key), KEY+=VALUE
    appends a list's items (e.g. overrides+=[train.eval_every=50])."""
    from electra_lab.config import apply_overrides

    for item in sets or []:
        key, plus, value = item.partition("+=")
        if not plus:
            raw = apply_overrides(raw, [item])
            continue
        extra = yaml.safe_load(value)
        current = raw.get(key, [])
        if not isinstance(current, list) or not isinstance(extra, list):
            raise ConfigError(f"{path}: --set {item!r}: += appends a list to a list key")
        raw = {**raw, key: [*current, *extra]}
    return raw


def with_scale(raw: dict, scale: str, path: Path, top_keys: set[str], sets: list[str] | None = None) -> dict:
    """The file's tree with scales[scale] over it, then `sets`. A scale's key replaces the file's
    (its budget, axes, variants are whole), except finetune, whose keys are merged one by one."""
    unknown = set(raw) - top_keys
    if unknown:
        raise ConfigError(f"{path}: unknown keys {sorted(unknown)}; valid: {sorted(top_keys)}")
    scales = raw.pop("scales", None) or {}
    if not isinstance(scales, dict):
        raise ConfigError(f"{path}: scales must map a scale name to keys to change")
    if scale != "default":
        if scale not in scales:
            raise ConfigError(f"{path}: unknown scale {scale!r}; this file has: default, {', '.join(scales) or '-'}")
        extra = scales[scale] or {}
        bad = set(extra) - (top_keys - {"name", "scales"})
        if bad:
            raise ConfigError(f"{path}: scales.{scale}: unknown keys {sorted(bad)}")
        raw = {**raw, **extra, **({"finetune": deep_merge(raw.get("finetune") or {}, extra["finetune"])}
                                   if isinstance(extra.get("finetune"), dict) else {})}
    raw = apply_sets(raw, sets, path)
    unknown = set(raw) - top_keys
    if unknown:
        raise ConfigError(f"{path}: --set: unknown keys {sorted(unknown)}; valid: {sorted(top_keys)}")
    return raw


PLAIN_TEXT_KEYS = ("description", "paper", "protocol", "tracking_uri", "output_dir", "results_dir")
PLAIN_INT_KEYS = ("workers", "threads", "trials", "seed")


def check_plain_keys(raw: dict, where: str) -> None:
    """The top-level keys a study or sweep file passes through as they are: the right types, so a
    wrong one is named here rather than failing later as a bare TypeError."""
    for key in PLAIN_TEXT_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}: {key} must be a string, got {raw[key]!r}")
    for key in PLAIN_INT_KEYS:
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool)):
            raise ConfigError(f"{where}: {key} must be an integer, got {raw[key]!r}")
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise ConfigError(f"{where}: overrides must be a list of key=value strings, got {overrides!r}")


def load_study(path: str | Path, scale: str = "default", sets: list[str] | None = None) -> Study:
    """Read and check a study file (`sets`: command-line changes, see apply_sets); every cell's
    config is built here (errors name the cell)."""
    path = Path(path)
    raw = with_scale(read_study_tree(path), scale, path, TOP_KEYS, sets)
    where = f"{path}"
    for key in ("name", "base"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f"{where}: '{key}' is required (a string)")
    check_plain_keys(raw, where)
    cells = expand_cells(raw.get("axes") or {}, raw.get("variants") or [], where)
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                            for s in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds must be a non-empty list of distinct integers, got {seeds!r}")
    budget = build_dataclass(Budget, raw.get("budget") or {}, "budget")
    if sum(getattr(budget, k) is not None for k in BUDGET_KEYS) > 1:
        raise ConfigError(f"{where}: budget: give at most one of {', '.join(BUDGET_KEYS)}")
    if not all(isinstance(f, (int, float)) and 0 < f < 1 for f in budget.fractions) or \
            len(set(budget.fractions)) != len(budget.fractions):
        raise ConfigError(f"{where}: budget.fractions must be distinct numbers in (0, 1), got {budget.fractions!r}")
    finetune = build_dataclass(Downstream, raw.get("finetune") or {}, "finetune")
    if not isinstance(raw.get("report") or [], list):
        raise ConfigError(f"{where}: report must be a list of {{kind, title, ...}} items, got {raw['report']!r}")
    report = [build_dataclass(ReportItem, item, f"report[{i}]") for i, item in enumerate(raw.get("report") or [])]
    plain = {k: raw[k] for k in ("overrides", "description", "paper", "protocol", "tracking_uri", "output_dir",
                                 "results_dir", "workers", "threads") if k in raw}
    try:
        study = Study(name=raw["name"], path=path, base=raw["base"], cells=cells, seeds=seeds, budget=budget,
                      finetune=finetune, report=report, scale=scale, **plain)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check_study(study, where)
    return study


def expand_cells(axes: dict, variants: list, where: str) -> list[Cell]:
    """The product of the axes (in file order), then the variants."""
    if not isinstance(axes, dict):
        raise ConfigError(f"{where}: axes must map a config key (or an axis name) to its values")
    dims = []
    for axis, values in axes.items():
        if isinstance(values, list) and values:
            label = axis.rsplit(".", 1)[-1]
            dims.append([(label, _label(v), [f"{axis}={_yaml_value(v)}"]) for v in values])
        elif isinstance(values, dict) and values:
            for name, bundle in values.items():
                if not isinstance(bundle, list) or not all(isinstance(o, str) and "=" in o for o in bundle):
                    raise ConfigError(f"{where}: axes.{axis}.{name} must be a list of key=value overrides")
            dims.append([(axis, str(name), list(bundle)) for name, bundle in values.items()])
        else:
            raise ConfigError(f"{where}: axes.{axis} must be a non-empty list of values or a mapping of named "
                              "override lists")
    cells = []
    if dims:
        for combo in itertools.product(*dims):
            name = ",".join(f"{label}={value}" for label, value, _ in combo)
            cells.append(Cell(name, [o for *_, overrides in combo for o in overrides],
                              {label: value for label, value, _ in combo}))
    axis_labels = {d[0][0] for d in dims}
    if not isinstance(variants, list):
        raise ConfigError(f"{where}: variants must be a list of {{name, overrides, at}}")
    for i, v in enumerate(variants):
        if not isinstance(v, dict) or set(v) - {"name", "overrides", "at", "note"} or "name" not in v:
            raise ConfigError(f"{where}: variants[{i}] must be a mapping with name, overrides (and optional at, "
                              f"note), got {v!r}")
        at = {str(k): str(val) for k, val in (v.get("at") or {}).items()}
        if set(at) - axis_labels:
            raise ConfigError(f"{where}: variant {v['name']!r}: at names unknown axes {sorted(set(at) - axis_labels)}"
                              f" (axes: {sorted(axis_labels) or 'none'})")
        overrides = v.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"{where}: variant {v['name']!r}: overrides must be a list of key=value strings")
        cells.append(Cell(str(v["name"]), list(overrides), {**at, "variant": str(v["name"])}))
    if not cells:
        raise ConfigError(f"{where}: a study needs axes or variants (no cells)")
    names = [c.name for c in cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or FLOOR in names:
        raise ConfigError(f"{where}: cell names must be unique and not {FLOOR!r}: {dupes or [FLOOR]}")
    slugs = [c.slug for c in cells]
    if len(set(slugs)) != len(slugs):
        clash = sorted({s for s in slugs if slugs.count(s) > 1})
        raise ConfigError(f"{where}: two cells map to the same file name: {clash}")
    return cells


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def check_tasks(ft: Downstream, where: str) -> None:
    """An unknown suite or task fails at load, naming the file."""
    from electra_lab.tasks.registry import UnknownTaskError, suite_tasks

    try:
        suite_tasks(ft.suite, ft.tasks)
    except UnknownTaskError as exc:
        raise ConfigError(f"{where}: finetune: {exc}") from None


def check_buildable(cfg) -> None:
    """Build the cell's models on the meta device (no memory, no data): a strategy that refuses
    the model (two-stage with unequal sizes, all-sharing with a frozen generator) fails here."""
    import torch

    from electra_lab import strategies
    from electra_lab.data.masking import SpecialIds

    vocab = cfg.data.vocab_size or 30522
    ids = SpecialIds(pad=0, cls=2, sep=3, mask=4, unk=1, vocab_size=vocab)
    strategy = strategies.from_config(cfg, ids, lambda: torch.ones(vocab))
    try:
        with torch.device("meta"):
            strategy.build()
    except NotImplementedError:
        strategy.build()  # a strategy that reads a tensor's value while building (the unigram sampler)
    except RuntimeError as exc:
        if "meta" not in str(exc):
            raise
        strategy.build()


def check_study(study: Study, where: str) -> None:
    """Build every cell's config (the errors name the cell) and check the protocol's names."""
    from electra_lab.tasks.finetune import finetune_options

    for cell in study.cells:
        try:
            check_buildable(study.config(Unit(cell, study.seeds[0])))
        except ConfigError as exc:
            raise ConfigError(f"{where}: cell {cell.name!r}: {exc}") from None
    ft = study.finetune
    check_tasks(ft, where)
    finetune_options(ft.options)
    if not isinstance(ft.recipes, dict):
        raise ConfigError(f"{where}: finetune.recipes must map a name to a list of key=value fine-tuning options")
    for name, bundle in ft.recipes.items():
        if not isinstance(bundle, list) or not all(isinstance(o, str) and "=" in o for o in bundle):
            raise ConfigError(f"{where}: finetune.recipes.{name} must be a list of key=value fine-tuning options")
        try:
            finetune_options([*ft.options, *bundle])
        except ConfigError as exc:
            raise ConfigError(f"{where}: finetune.recipes.{name}: {exc}") from None
    if not ft.train_sizes or not all(isinstance(n, int) and n > 0 for n in ft.train_sizes):
        raise ConfigError(f"{where}: finetune.train_sizes must be positive integers, got {ft.train_sizes!r}")
    if ft.seeds < 1:
        raise ConfigError(f"{where}: finetune.seeds must be >= 1")
    if ft.final_seeds is not None and (not isinstance(ft.final_seeds, int) or ft.final_seeds < 1):
        raise ConfigError(f"{where}: finetune.final_seeds must be an integer >= 1 (or absent), got {ft.final_seeds!r}")
    if ft.floor_from is not None and ft.floor_from not in [c.name for c in study.cells]:
        raise ConfigError(f"{where}: finetune.floor_from {ft.floor_from!r} is not a cell "
                          f"({', '.join(c.name for c in study.cells)})")
    for key in ("workers", "threads"):
        value = getattr(study, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{where}: {key} must be an integer >= 1, got {value!r}")
    axes = {k for c in study.cells for k in c.coords}
    for i, item in enumerate(study.report):
        if item.kind not in REPORT_KINDS:
            raise ConfigError(f"{where}: report[{i}].kind must be one of {', '.join(REPORT_KINDS)}, got {item.kind!r}")
        for key in ("x", "lines"):
            value = getattr(item, key)
            if value is not None and value not in axes:
                raise ConfigError(f"{where}: report[{i}].{key} {value!r} is not an axis ({', '.join(sorted(axes))})")
        if item.kind == "line" and item.x is None:
            raise ConfigError(f"{where}: report[{i}]: a line plot needs x (an axis)")
        if item.kind == "flops" and len(study.budget.points()) < 4:
            raise ConfigError(f"{where}: report[{i}]: score vs FLOPs needs at least four budget points per curve; "
                              f"budget.fractions gives {len(study.budget.points())} (with the final export)")
        unknown = set(item.cells or []) - {c.name for c in study.cells} - {FLOOR}
        if unknown:
            raise ConfigError(f"{where}: report[{i}].cells names unknown cells {sorted(unknown)}")
        if item.kind == "pretraining" and (not item.metrics or not all(isinstance(m, str) for m in item.metrics)):
            raise ConfigError(f"{where}: report[{i}]: a pretraining table needs metrics, a list of held-out metric "
                              f"names such as [gen_acc, gen_entropy, disc_auc]; got {item.metrics!r}")
        if item.kind == "versus" and (len(item.cells or []) != 2 or FLOOR in item.cells):
            raise ConfigError(f"{where}: report[{i}]: versus compares two pretrained cells, cells: [challenger, "
                              f"reference]; got {item.cells!r}")
