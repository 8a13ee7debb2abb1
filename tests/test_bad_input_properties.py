"""Property-based bad input (hypothesis): whatever text a user gives the override parser, the
config loader and the study and sweep loaders, the outcome is a valid object or a ConfigError
naming what is wrong, never another exception (a bare traceback)."""
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electra_lab.config import ConfigError, apply_overrides
from electra_lab.experiment import load_config

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"
KEYS = ["model.hidden", "model.gen_fraction", "model.sharing", "train.steps", "train.flops", "train.batch_size",
        "optim.lr", "strategy.temperature", "strategy.name", "masking.prob", "data.seq_len", "train.flops_lookup",
        "model", "train", "nosuch.key", "model.nosuch", ""]
# YAML-ish fragments: numbers, words, brackets and quotes that break the YAML parser, lists, maps
VALUES = st.one_of(st.text(max_size=12), st.sampled_from(["[", "{a: 1", "'", "1e-3", "-1", "0", "true", "null",
                                                          "[1, 2]", "{x: 1}", "nan", "inf", "1.5", "joint",
                                                          "a: b: c", "!!python/object:os.system"]))
# derandomized and without an example database: the same examples on every run, nothing written
PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@PROFILE
@given(st.lists(st.text(max_size=30), max_size=3))
def test_any_override_text_parses_or_is_a_config_error(items):
    try:
        tree = apply_overrides({"model": {"hidden": 1}}, items)
    except ConfigError as exc:
        assert str(exc)
    else:
        assert isinstance(tree, dict)


@PROFILE
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=3))
def test_any_override_of_the_config_loads_or_is_a_config_error(pairs):
    overrides = [f"{k}={v}" for k, v in pairs]
    try:
        cfg = load_config(CONFIG, overrides)
    except ConfigError as exc:
        assert str(exc) and "Traceback" not in str(exc)
    else:
        assert cfg.model.hidden > 0 and cfg.train.batch_size > 0


STUDY_KEYS = ["name", "base", "axes", "variants", "seeds", "budget", "finetune", "report", "scales", "workers",
              "overrides", "nosuch"]
TREES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                               st.text(max_size=8), st.sampled_from(["pretrain/tiny_electra.yaml", "model.hidden",
                                                                     "model.gen_fraction=0.5", "flops"])),
                     lambda inner: st.one_of(st.lists(inner, max_size=3),
                                             st.dictionaries(st.sampled_from(STUDY_KEYS + ["x", "steps", "tasks"]),
                                                             inner, max_size=3)), max_leaves=8)


VALID = {"study": {"name": "s", "base": "pretrain/tiny_electra.yaml", "axes": {"model.gen_fraction": [0.5]},
                   "budget": {"steps": 4}},
         "sweep": {"name": "w", "base": "pretrain/tiny_electra.yaml", "trials": 2, "budget": {"steps": 4},
                   "params": {"model.gen_fraction": {"type": "float", "low": 0.25, "high": 1.0}},
                   "objective": {"measure": "pretrain", "metric": "eval/disc_loss", "direction": "minimize"}}}
SWEEP_KEYS = ["trials", "params", "objective", "intermediate", "pruner", "sampler", "seed"]


@pytest.mark.parametrize("loader", ["study", "sweep"])
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(STUDY_KEYS + SWEEP_KEYS), TREES, max_size=2))
def test_a_valid_file_with_any_key_changed_loads_or_is_a_config_error(tmp_path, loader, changes):
    """A valid study (or sweep) file with up to two top-level keys replaced by arbitrary YAML."""
    from electra_lab.studies.spec import load_study
    from electra_lab.studies.sweep_spec import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**VALID[loader], **changes}))
    try:
        (load_study if loader == "study" else load_sweep)(path)
    except ConfigError as exc:
        assert str(exc)


@pytest.mark.parametrize("text", ["{", "a: [", "- 1\n- {", ":\n  -", "\t\tx"])
def test_a_study_file_that_is_not_yaml_is_a_config_error_naming_it(tmp_path, text):
    from electra_lab.studies.spec import load_study

    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_study(path)
