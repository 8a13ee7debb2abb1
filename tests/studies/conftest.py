"""A tiny study on local data: a six-document corpus, a GLUE-layout SST-2 folder, 2-4 training
steps, fine-tuning on 16 examples. Every grid/sweep test runs the real runner and worker processes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_run_overrides, write_tiny_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def study_env(tmp_path, monkeypatch):
    """(write(name, **keys) -> path, run(*cli args) -> CompletedProcess), in a private folder and cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.chdir(tmp_path)
    corpus = write_tiny_corpus(tmp_path / "corpus")
    write_varied_sst2(tmp_path / "glue", n=64)
    base = {
        "base": "pretrain/tiny_electra.yaml",
        "overrides": tiny_run_overrides(corpus, tmp_path / "unused", steps=None),
        "seeds": [0],
        "budget": {"steps": 4, "fractions": [0.5]},
        "finetune": {"suite": "glue", "tasks": ["sst2"], "glue_dir": str(tmp_path / "glue"), "train_sizes": [16],
                     "dev": 16, "test": 16, "seeds": 1,
                     "options": ["epochs={sst2: 1}", "batch_size=8", "device=cpu", "max_length=32"]},
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "output_dir": str(tmp_path / "runs"),
        "results_dir": str(tmp_path / "results"),
        "workers": 1,
    }

    def write(name: str, **keys) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, **base, **keys}))
        return path

    return write


def write_varied_sst2(folder: Path, n: int) -> None:
    """SST-2 in GLUE's TSV layout, both labels, every sentence distinct (a loader that drops
    duplicates keeps them all)."""
    good, bad = ["good", "great", "fun", "fine"], ["bad", "dull", "awful", "poor"]
    rows = ["sentence\tlabel"] + [f"the movie {i} was {(good if i % 2 == 0 else bad)[i // 2 % 4]}\t{1 - i % 2}"
                                  for i in range(n)]
    (folder / "SST-2").mkdir(parents=True)
    for split in ("train", "dev"):
        (folder / "SST-2" / f"{split}.tsv").write_text("\n".join(rows) + "\n")


def cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`electra-lab ARGS` as a user runs it, in the current folder."""
    return subprocess.run([sys.executable, "-m", "electra_lab.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=os.getcwd(), **kwargs)


def mlflow_runs(uri: str, experiment: str):
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=[experiment])
