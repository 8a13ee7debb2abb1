"""Study files: cells from axes and variants, scales, --set, and every error named before anything runs."""
import pytest
import yaml

from electra_lab.config import ConfigError
from electra_lab.studies.shipped_configs import experiment_path
from electra_lab.studies.spec import FLOOR, load_study

SHIPPED = ["weight_sharing", "generator_size", "training_algorithms", "efficiency", "model_size_vs_compute", "gdes"]


def write(tmp_path, **keys):
    tree = {"name": "s", "base": "pretrain/tiny_electra.yaml", "axes": {"model.gen_fraction": [0.25, 0.5]}, **keys}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_axes_make_a_product_and_variants_add_cells(tmp_path):
    study = load_study(write(tmp_path, axes={"disc": {"a": ["model.hidden=64", "model.heads=1", "model.ffn=256"],
                                                      "b": []},
                                             "model.gen_fraction": [0.25, 1.0]},
                             variants=[{"name": "uni", "overrides": ["strategy=unigram_generator"],
                                        "at": {"disc": "b"}}],
                             seeds=[0, 1]))
    names = [c.name for c in study.cells]
    assert names == ["disc=a,gen_fraction=0.25", "disc=a,gen_fraction=1", "disc=b,gen_fraction=0.25",
                     "disc=b,gen_fraction=1", "uni"]
    assert study.cells[0].coords == {"disc": "a", "gen_fraction": "0.25"}
    assert study.cells[-1].coords == {"disc": "b", "variant": "uni"}
    units = study.units()
    assert len(units) == 5 * 2 + 2 and [u.id for u in units if u.is_floor] == [f"{FLOOR}_s0", f"{FLOOR}_s1"]
    cfg = study.config(units[2])  # disc=a, gen 1.0, seed 0
    assert (cfg.model.hidden, cfg.model.gen_fraction, cfg.run.seed) == (64, 1.0, 0)
    assert study.config(next(u for u in units if u.cell.name == "uni")).strategy.name == "unigram_generator"


def test_budget_is_matched_and_fractions_become_snapshots(tmp_path):
    study = load_study(write(tmp_path, budget={"flops": 2e13, "fractions": [0.5, 0.25]}))
    cfg = study.config(study.units()[0])
    assert cfg.train.flops == 2e13 and cfg.train.steps is None and cfg.train.snapshot_fractions == [0.25, 0.5]
    assert study.budget.points() == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("keys, named", [
    ({"colour": 1}, "unknown keys ['colour']"),
    ({"axes": {"model.gen_fraktion": [0.5]}}, "cell 'gen_fraktion=0.5': unknown config key 'model.gen_fraktion'"),
    ({"axes": {}, "variants": [{"name": "ts", "overrides": ["strategy=two_stage", "model.gen_fraction=0.5"]}]},
     "cell 'ts': strategy two_stage initialises the discriminator from the generator"),
    ({"variants": [{"name": "u", "overrides": [], "at": {"size": "x"}}]}, "variant 'u': at names unknown axes"),
    ({"budget": {"flops": 1e13, "steps": 5}}, "at most one of"),
    ({"budget": {"fractions": [1.5]}}, "budget.fractions must be distinct numbers in (0, 1)"),
    ({"finetune": {"tasks": ["sst3"]}}, "unknown task 'sst3'"),
    ({"finetune": {"colour": 1}}, "unknown config key 'finetune.colour'"),
    ({"report": [{"kind": "flops"}]}, "needs at least four budget points"),
    ({"report": [{"kind": "line", "x": "size"}]}, "report[0].x 'size' is not an axis"),
    ({"seeds": [0, 0]}, "seeds must be a non-empty list of distinct integers"),
    ({"variants": [{"name": "gen_fraction=0.25", "overrides": []}]}, "cell names must be unique"),
])
def test_bad_study_files_name_the_problem(tmp_path, keys, named):
    with pytest.raises(ConfigError) as err:
        load_study(write(tmp_path, **keys))
    assert named in str(err.value)


def test_scale_replaces_keys_and_merges_finetune(tmp_path):
    path = write(tmp_path, finetune={"tasks": ["hyperbaton"], "seeds": 2},
                 scales={"big": {"axes": {"model.gen_fraction": [1.0]}, "budget": {"steps": 7},
                                 "finetune": {"seeds": 5}}})
    big = load_study(path, "big")
    assert [c.name for c in big.cells] == ["gen_fraction=1"] and big.key == "s-big"
    assert (big.finetune.seeds, big.finetune.tasks) == (5, ["hyperbaton"])
    assert big.config(big.units()[0]).train.steps == 7
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        load_study(path, "huge")


def test_set_replaces_and_appends(tmp_path):
    study = load_study(write(tmp_path, overrides=["train.eval_every=7"]),
                       sets=["seeds=[3, 4]", "overrides+=[train.log_every=3]", "budget={steps: 9}"])
    cfg = study.config(study.units()[0])
    assert study.seeds == [3, 4] and (cfg.train.eval_every, cfg.train.log_every, cfg.train.steps) == (7, 3, 9)
    with pytest.raises(ConfigError, match="unknown keys"):
        load_study(write(tmp_path), sets=["sedes=[1]"])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_study_files_load_at_both_scales(name):
    tiny = load_study(experiment_path(f"studies/{name}.yaml"))
    paper = load_study(experiment_path(f"studies/{name}.yaml"), "paper")
    assert len(tiny.seeds) >= 2 and tiny.report and paper.finetune.suite == "glue"
    assert paper.config(paper.units()[0]).model.hidden >= 256  # ELECTRA-Small or larger


def test_fine_tuning_recipes_are_checked_and_multiply_the_points(tmp_path):
    from electra_lab.studies.unit_run import points

    recipes = {"lr3e-4": ["lr=3e-4"], "lr1e-4_bc": ["lr=1e-4", "adam_bias_correction=true"]}
    study = load_study(write(tmp_path, budget={"fractions": [0.5]}, finetune={"train_sizes": [100, 1000],
                                                                                "recipes": recipes}))
    unit = study.units()[0]
    got = points(study, unit)
    assert len(got) == 2 * 2 * 2 and len({p.name for p in got}) == 8  # fractions x sizes x recipes, named apart
    assert {p.recipe for p in got} == set(recipes)
    with pytest.raises(ConfigError, match=r"finetune.recipes.fast: .*lrr"):
        load_study(write(tmp_path, finetune={"recipes": {"fast": ["lrr=1e-3"]}}))
    with pytest.raises(ConfigError, match="finetune.recipes.fast must be a list"):
        load_study(write(tmp_path, finetune={"recipes": {"fast": "lr=1e-3"}}))


def test_the_headline_scale_study_states_its_protocol_and_tunes_every_encoder_alike():
    study = load_study(experiment_path("studies/headline_scale.yaml"))
    assert len(study.seeds) >= 3 and len(study.budget.points()) >= 4 and len(study.finetune.recipes) >= 2
    assert study.finetune.floor and study.finetune.tasks is None  # random init gets the same recipes; whole suite
    assert "dev" in study.protocol and "test" in study.protocol


def test_the_headline_levers_study_keeps_stage_one_corpus_budget_and_the_recipe_chosen_on_dev():
    levers = load_study(experiment_path("studies/headline_levers.yaml"))
    stage1 = load_study(experiment_path("studies/headline_scale.yaml"))
    modern = next(c for c in stage1.cells if c.coords["corpus"] == "modern")
    corpus = [o for o in modern.overrides if o.startswith("data.sources=")]
    assert corpus and all(levers.config(u).data.sources == stage1.config(
        next(v for v in stage1.units() if v.cell is modern)).data.sources for u in levers.units())
    assert levers.budget.flops == stage1.budget.flops
    assert "lr=3e-4" in levers.finetune.options and "ft3e-4" in stage1.finetune.recipes
    assert "dev" in levers.protocol and "test" in levers.protocol


def test_the_headline_study_compares_the_dev_chosen_electra_with_mlm_at_equal_flops_over_three_by_three_seeds():
    headline = load_study(experiment_path("studies/headline.yaml"))
    levers = load_study(experiment_path("studies/headline_levers.yaml"))
    chosen = next(u for u in levers.units() if u.cell.name == "gen1-anneal")
    by_cell = {u.cell.name: headline.config(u) for u in headline.units() if u.seed == 0}
    assert by_cell["electra"].model == levers.config(chosen).model
    assert by_cell["electra"].strategy == levers.config(chosen).strategy
    assert by_cell["electra"].data.sources == levers.config(chosen).data.sources == by_cell["mlm"].data.sources
    assert by_cell["mlm"].strategy.name == "mlm" and by_cell["mlm"].masking.style == "bert"
    assert len(headline.seeds) >= 3 and headline.finetune.seeds_at(1.0) >= 3 and headline.finetune.seeds_at(0.0) >= 3
    assert headline.finetune.floor and headline.finetune.tasks is None and len(headline.budget.points()) >= 4
    versus = next(item for item in headline.report if item.kind == "versus")
    assert versus.cells == ["electra", "mlm"]


def test_the_vocabulary_lever_changes_only_the_vocabulary_of_every_unit_the_floor_included():
    vocab = load_study(experiment_path("studies/headline_vocab.yaml"))
    levers = load_study(experiment_path("studies/headline_levers.yaml"))
    base = levers.config(levers.units()[0])
    units = vocab.units()
    assert {u.cell.name for u in units} >= {"random-init", "mlm-v2k", "electra-v2k"}
    for unit in units:
        cfg = vocab.config(unit)
        assert cfg.data.vocab_size == 2048 and base.data.vocab_size == 8192
        assert cfg.data.sources == base.data.sources and cfg.train.flops == base.train.flops
    assert vocab.budget.flops == levers.budget.flops and vocab.finetune.options == levers.finetune.options
