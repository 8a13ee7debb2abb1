"""The analysis notebook runs end to end against a real (tiny) tracked pretraining run."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from electra_lab.tracking import Tracker

NOTEBOOK = Path(__file__).resolve().parents[1] / "analysis" / "pretraining_curves.ipynb"


def test_notebook_executes_on_a_tracked_run(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "electra-lab")
    tracker.start("tiny", tags={"kind": "pretrain", "strategy": "joint"})
    for step in (1, 2, 3):
        tracker.log_metrics({"eval/disc_acc": 0.8 + step / 100, "eval/gen_acc": step / 10, "flops": step * 1e9}, step)
    tracker.log_metrics({"pretrain_flops": 3e9}, 3)
    tracker.end()
    monkeypatch.setenv("ELECTRA_LAB_TRACKING_URI", uri)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(str(o.get("data", {}).get("text/plain", "")) for c in nb.cells if c.cell_type == "code"
                      for o in c.outputs)
    assert "tiny" in outputs and "0.83" in outputs  # the run and its last disc accuracy were read back
