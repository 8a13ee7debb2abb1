"""A built (non-editable) install carries everything it needs: the demo's and the study files'
shipped configs resolve inside the installed package and load, from a folder outside the repo."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Run in the installed copy only: the venv's editable finder would otherwise serve any module the
# install lacks from the repository, hiding exactly the omission this test is for.
CHECK = textwrap.dedent("""
    import json, sys
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    from pathlib import Path

    site = Path(sys.argv[1])
    from electra_lab.experiment import load_config
    from electra_lab.studies.demo import demo_configs, pretrain_jobs
    from electra_lab.studies.grid import worker_command
    from electra_lab.studies.shipped_configs import experiment_path, experiments_dir
    from electra_lab.studies.spec import load_study

    demo = demo_configs()
    study = load_study(experiment_path("studies/scale_search.yaml"))
    variants = {u.id: study.config(u).model.hidden for u in study.units()}
    commands = [job.command for job in pretrain_jobs(demo, [])]
    commands += [worker_command(study.path, "default", u, None, None, False) for u in study.units()]
    configs = [arg for command in commands for arg in command if arg.endswith(".yaml")]
    configs.append(str(experiment_path(study.base)))
    modules = [m.__file__ for name, m in sys.modules.items()
               if name.startswith("electra_lab") and getattr(m, "__file__", None)]
    print(json.dumps({"experiments": str(experiments_dir()), "demo": {k: c.run.name for k, c in demo.items()},
                      "variants": variants, "configs": configs, "modules": modules}))
""")


def copy_project(to: Path) -> Path:
    """The files a build reads, copied so that the build's own output (build/, *.egg-info) never
    lands in the working tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("electra_lab", "experiments"):
        shutil.copytree(REPO / name, to / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, to / name)
    return to


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("packaging")
    source, site = copy_project(tmp / "source"), tmp / "site"
    # offline: the venv's setuptools builds it, and nothing else is installed
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True, text=True)
    return site


def test_installed_package_has_every_subpackage_and_config(installed):
    def packages(root: Path) -> set[str]:
        return {str(p.parent.relative_to(root)) for p in root.rglob("__init__.py")}

    assert packages(installed / "electra_lab") == packages(REPO / "electra_lab")  # pyproject's list is complete
    shipped = {str(p.relative_to(REPO / "experiments")) for p in (REPO / "experiments").rglob("*.yaml")}
    assert {str(p.relative_to(installed / "electra_lab/experiments"))
            for p in (installed / "electra_lab/experiments").rglob("*.yaml")} == shipped


def test_installed_demo_and_study_configs_resolve_and_load(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # no experiments/ folder around, not the repo
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CHECK, str(installed)], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["experiments"]) == installed / "electra_lab" / "experiments"
    assert found["demo"] == {"ELECTRA": "demo-electra", "BERT-MLM": "demo-mlm"} and found["variants"]
    assert found["configs"] and all(Path(c).is_relative_to(installed) and Path(c).is_file() for c in found["configs"])
    assert all(Path(m).is_relative_to(installed) for m in found["modules"]), "imported from outside the install"
