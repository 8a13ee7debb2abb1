"""Each shipped study file, and the sweep file, runs one tiny cell end to end through the real CLI
(grid, then report), shrunk by --set to local data, 4 steps and a 16-example GLUE-layout task."""
import json

import pandas as pd
import pytest
import yaml

from electra_lab.studies.shipped_configs import experiment_path
from electra_lab.studies.spec import load_study
from tests.studies.conftest import cli

pytestmark = pytest.mark.slow
STUDIES = ["weight_sharing", "generator_size", "training_algorithms", "efficiency", "model_size_vs_compute", "gdes"]


def shrink(study_env, budget) -> list[str]:
    """--set items that put a shipped file on the fixture's tiny data, budget and task."""
    tree = yaml.safe_load(study_env("shrink").read_text())
    flow = lambda value: yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()  # noqa: E731
    return [f"overrides+={flow(tree['overrides'])}", f"budget={flow(budget)}", f"finetune={flow(tree['finetune'])}",
            f"tracking_uri={tree['tracking_uri']}", f"output_dir={tree['output_dir']}",
            f"results_dir={tree['results_dir']}", "workers=1"]


@pytest.mark.parametrize("name", STUDIES)
def test_one_cell_of_each_study_file_runs_and_reports(study_env, name):
    path = experiment_path(f"studies/{name}.yaml")
    sets = [*shrink(study_env, {"steps": 4, "fractions": [0.25, 0.5, 0.75]}), "seeds=[0]"]
    first = load_study(path, sets=sets).cells[0]
    done = cli("grid", str(path), "--only", first.name, "--set", *sets)
    assert done.returncode == 0, done.stderr[-3000:]
    study = load_study(path, sets=sets)
    cell = json.loads((study.results / "cells" / f"{first.slug}_s0.json").read_text())
    assert [e["fraction"] for e in cell["evaluations"]] == [0.25, 0.5, 0.75, 1.0]
    assert all(0.0 <= e["suite_score"] <= 1.0 and e["pretrain_flops"] > 0 for e in cell["evaluations"])
    report = cli("report", str(path), "--set", *sets)
    assert report.returncode == 0, report.stderr[-3000:]
    readme = (study.results / "README.md").read_text()
    assert first.name in readme and "1 of" in readme
    for i, item in enumerate(study.report):
        suffix = "png" if item.kind in ("line", "flops") else "csv"
        produced = study.results / f"{item.kind}_{i}.{suffix}"
        assert produced.stat().st_size > 0, produced
        if item.kind == "pretraining":  # the first cell's own held-out metrics, from its cell file
            row = pd.read_csv(produced).set_index("cell").loc[first.name]
            assert row["gen_acc"].endswith("(n=1)"), row


def test_the_sweep_file_runs_one_trial_and_reports(study_env):
    path = experiment_path("studies/generator_size_sweep.yaml")
    sets = shrink(study_env, {"steps": 4, "fractions": [0.5]})
    done = cli("sweep", str(path), "--trials", "1", "--workers", "1", "--set", *sets)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 trials: complete 1" in done.stdout
    report = cli("report", str(path), "--set", *sets)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "## Best trial" in report.stdout
