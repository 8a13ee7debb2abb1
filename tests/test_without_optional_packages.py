"""Training and benchmarking need neither MLflow, Optuna nor datasets: a GPU machine's image may
lack them (scripts/gpu_check.sh runs there), so `electra-lab pretrain --no-tracking` and `bench`
must not import them, not even at module level of something they import on the way."""
import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import tiny_run_overrides, write_tiny_corpus

ROOT = Path(__file__).resolve().parents[1]
ABSENT = ("mlflow", "optuna", "datasets")

# Every finder on sys.meta_path is wrapped so that it does not find the absent packages: `import
# mlflow` fails, importlib.util.find_spec("mlflow") is None and importlib.metadata has no record of
# it, as on a machine without them (transformers probes optional packages so). Then one CLI command
# runs in that interpreter and reports which absent packages it would have loaded.
HIDE_AND_RUN = f"""
import importlib.abc, sys
ABSENT = {ABSENT!r}

class Hidden(importlib.abc.MetaPathFinder):
    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            return None
        return self.inner.find_spec(name, path, target)

    def find_distributions(self, context=None):  # importlib.metadata: no installed-package record either
        name = (getattr(context, "name", None) or "").lower().replace("-", "_")
        if name in ABSENT:
            return iter(())
        inner = getattr(self.inner, "find_distributions", None)
        return inner(context) if inner and context is not None else inner() if inner else iter(())

    def invalidate_caches(self):
        getattr(self.inner, "invalidate_caches", lambda: None)()

sys.meta_path[:] = [Hidden(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
try:
    import mlflow
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the hook did not hide mlflow")

from electra_lab import cli
code = cli.main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in ABSENT)
print("LOADED", loaded)
sys.exit(code or (3 if loaded else 0))
"""


def run_hidden(argv, tmp_path):
    env = {**os.environ, "ELECTRA_LAB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", HIDE_AND_RUN, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_pretrain_without_tracking_needs_no_optional_package(tmp_path):
    overrides = tiny_run_overrides(write_tiny_corpus(tmp_path / "texts"), tmp_path / "runs", steps=2)
    done = run_hidden(["pretrain", "--no-tracking", "experiments/pretrain/tiny_electra.yaml", *overrides], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "LOADED []" in done.stdout
    assert json.loads((tmp_path / "runs" / "tiny-electra" / "summary.json").read_text())["steps"] == 2


def test_bench_needs_no_optional_package(tmp_path):
    done = run_hidden(["bench", "--size", "tiny", "--device", "cpu", "--steps", "1", "--warmup", "0",
                       "--interleave", "0", "--batch-size", "2", "--seq-len", "16", "--peak-sizes", "64",
                       "--threads", "1", "--out-dir", str(tmp_path / "bench"), "--name", "hidden"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "LOADED []" in done.stdout and (tmp_path / "bench" / "hidden.json").exists()


def test_the_hook_does_hide_a_package_a_command_needs(tmp_path):
    # the check above can fail: with tracking on, pretrain needs mlflow and must stop for want of it
    overrides = tiny_run_overrides(write_tiny_corpus(tmp_path / "texts"), tmp_path / "runs", steps=2)
    done = run_hidden(["pretrain", "experiments/pretrain/tiny_electra.yaml", *overrides,
                       f"run.tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"], tmp_path)
    assert done.returncode != 0 and "mlflow" in done.stderr
