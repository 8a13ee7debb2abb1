"""A fine-tuning recipe is chosen per cell and point on dev (mean over pretraining seeds), never on
test, and the report then shows the chosen recipe's test scores."""
import json

import pandas as pd
import pytest

from electra_lab.studies.recipe_selection import select_recipes
from electra_lab.studies.report import write_report
from electra_lab.studies.spec import load_study
from electra_lab.studies.unit_run import CELL_FORMAT


def rows(cell, recipe, dev, test, seeds=(0, 1)):
    return [{"unit": f"{cell}_s{s}", "cell": cell, "seed": s, "fraction": 1.0, "train_size": 16, "recipe": recipe,
             "pretrain_flops": 1e9, "suite_score": test + 0.01 * s, "dev_score": dev + 0.01 * s, "run_id": None}
            for s in seeds]


def test_the_best_mean_dev_wins_even_when_another_recipe_tests_better():
    frame = pd.DataFrame([*rows("a", "slow", dev=0.70, test=0.60), *rows("a", "fast", dev=0.65, test=0.90),
                          *rows("b", "slow", dev=0.50, test=0.55), *rows("b", "fast", dev=0.80, test=0.52)])
    kept, table = select_recipes(frame, ["slow", "fast"])
    assert sorted(set(zip(kept["cell"], kept["recipe"], strict=True))) == [("a", "slow"), ("b", "fast")]
    assert len(kept) == 4 and list(kept.columns) == list(frame.columns)
    assert table.set_index("cell")["chosen"].to_dict() == {"a": "slow", "b": "fast"}
    assert table.set_index("cell").loc["a", "dev: slow"] == pytest.approx(0.705)


def test_ties_go_to_the_first_recipe_in_the_file_and_no_recipes_keeps_everything():
    tied = pd.DataFrame([*rows("a", "x", dev=0.7, test=0.1), *rows("a", "y", dev=0.7, test=0.9)])
    assert set(select_recipes(tied, ["y", "x"])[0]["recipe"]) == {"y"}
    plain = pd.DataFrame(rows("a", "", dev=0.7, test=0.6))
    kept, table = select_recipes(plain, [])
    assert kept.equals(plain) and table.empty


def test_the_report_shows_the_dev_chosen_recipes_test_scores(study_env):
    recipes = {"slow": ["lr=1e-4"], "fast": ["lr=1e-3"]}
    path = study_env("r", axes={"model.gen_fraction": [0.5]}, budget={"steps": 4},
                     finetune={**yaml_finetune(study_env), "recipes": recipes})
    study = load_study(path)
    cells = study.results / "cells"
    cells.mkdir(parents=True)
    for seed in (0, 1):  # "fast" tests better but "slow" is better on dev
        evaluations = [{"fraction": 1.0, "train_size": 16, "recipe": r, "pretrain_flops": 1e9, "suite_score": test,
                        "dev_score": dev, "tasks": {"sst2": {"median": test, "std": 0.0, "scores": [test]}}}
                       for r, dev, test in (("slow", 0.8, 0.6 + seed / 100), ("fast", 0.7, 0.9))]
        (cells / f"gen_fraction=0.5_s{seed}.json").write_text(json.dumps({
            "format": CELL_FORMAT, "unit": f"gen_fraction=0.5_s{seed}", "cell": "gen_fraction=0.5", "seed": seed,
            "coords": {"gen_fraction": "0.5"}, "evaluations": evaluations}))
    text = write_report(study, "cells")
    summary = pd.read_csv(study.results / "summary.csv")
    suite = summary[(summary["score"] == "suite_score")].iloc[0]
    assert suite["mean"] == pytest.approx(0.605) and suite["n"] == 2
    assert "Fine-tuning recipe chosen on dev" in text
    assert pd.read_csv(study.results / "recipes_chosen_on_dev.csv")["chosen"].tolist() == ["slow"]
    assert len(pd.read_csv(study.results / "evaluations.csv")) == 4  # every recipe's rows stay on record


def yaml_finetune(study_env):
    import yaml

    return yaml.safe_load(study_env("base").read_text())["finetune"]
