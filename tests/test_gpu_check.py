"""scripts/gpu_check.sh, the one-call GPU readiness check, run here on the CPU with tiny budgets
(GPU_CHECK_DEVICE=cpu GPU_CHECK_TINY=1): every step leaves its log and outputs, the pretraining
reads only the cache prepared beforehand, and a failing step is recorded while the rest go on."""
import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import write_tiny_corpus

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
STEPS = ["env", "cuda-tests", "bench-tiny", "budget", "pretrain-electra", "pretrain-bert", "compare"]


def run_script(tmp_path, *args, **env):
    corpus = tmp_path / "texts"
    if not corpus.exists():
        write_tiny_corpus(corpus)
    full_env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_TINY": "1",
                "ELECTRA_LAB_CACHE": str(tmp_path / "build-cache"),
                "GPU_CHECK_OVERRIDES": f"data.sources=['local:{corpus}'] data.tokenizer=wordpiece data.vocab_size=128 "
                                       "data.valid_fraction=0.2", **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=600)


def summary(out: Path) -> dict[str, int]:
    with open(out / "summary.tsv") as f:
        return {row["step"]: int(row["exit_code"]) for row in csv.DictReader(f, delimiter="\t")}


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.slow
def test_every_step_leaves_its_outputs_and_reads_only_the_prepared_cache(tmp_path):
    prepared = tmp_path / "carried-cache"
    done = run_script(tmp_path, "--prepare-cache", prepared)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.name for p in prepared.iterdir()} == {"corpus", "tokenizers", "blocks"}  # no downloads: small to carry
    before = tree(prepared)

    out = tmp_path / "out"
    done = run_script(tmp_path, out, GPU_CHECK_CACHE=str(prepared), ELECTRA_LAB_CACHE=str(tmp_path / "unused"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(out) == {step: 0 for step in STEPS}
    assert str(out / "summary.tsv") in done.stdout  # it says where things are
    for step in STEPS:
        assert (out / step / "log.txt").stat().st_size > 0, step
    assert '"cuda_available": false' in (out / "env" / "log.txt").read_text()
    assert "passed" in (out / "cuda-tests" / "log.txt").read_text() and (out / "cuda-tests" / "junit.xml").exists()
    bench = json.loads((out / "bench-tiny" / "tiny-cpu.json").read_text())
    assert bench["runs"]["framework"]["tokens_per_s"] > 0 and (out / "bench-tiny" / "tiny-cpu.md").exists()

    budget = json.loads((out / "budget" / "flops.json").read_text())
    assert budget["steps"] == 3
    comparison = json.loads((out / "compare" / "comparison.json").read_text())
    assert set(comparison["runs"]) == {"electra-small", "bert-small"}
    for name, run in comparison["runs"].items():
        # equal FLOPs: each run spends the budget (the tiny corpus's vocabulary is smaller than the
        # configured 128, so a step costs a little less than counted and a run may take one more)
        assert budget["pretrain_flops"] <= run["pretrain_flops"] <= 1.5 * budget["pretrain_flops"], name
        run_dir = Path(run["run_dir"])
        assert (run_dir / "export" / "encoder" / "config.json").exists() and not list(run_dir.glob("checkpoint*"))
    assert comparison["runs"]["bert-small"]["steps"] > comparison["runs"]["electra-small"]["steps"]  # MLM is cheaper
    assert tree(prepared) == before  # the data came from the carried cache: nothing built, nothing fetched
    assert not (tmp_path / "unused").exists()


def test_a_failing_step_is_recorded_and_the_others_still_run(tmp_path):
    out = tmp_path / "out"
    done = run_script(tmp_path, out, GPU_CHECK_ONLY="env budget pretrain-electra compare",
                      GPU_CHECK_OVERRIDES="model.hiden=3")  # every step after env stops at config load
    assert done.returncode == 1, done.stdout + done.stderr
    codes = summary(out)
    assert list(codes) == ["env", "budget", "pretrain-electra", "compare"]
    assert codes["env"] == 0 and codes["budget"] == 2 and codes["pretrain-electra"] != 0 and codes["compare"] != 0
    assert "model.hiden" in (out / "budget" / "log.txt").read_text()
