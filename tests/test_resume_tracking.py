"""A run folder resumed against a tracking store that lacks its MLflow run (the folder was copied to
another machine, or run.tracking_uri changed) goes on under a new run that names the old one,
instead of failing on MLflow's bare "Run with id=... not found"."""
import logging
from pathlib import Path

from .conftest import tiny_run_overrides, write_tiny_corpus

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"


def test_a_run_folder_moved_to_another_store_resumes_under_a_linked_new_run(tmp_path, monkeypatch, caplog):
    import mlflow

    from electra_lab import cli

    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    overrides = tiny_run_overrides(write_tiny_corpus(tmp_path / "texts"), tmp_path / "runs", steps=2)
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("first.db", "second.db"))
    assert cli.main(["pretrain", str(CONFIG), *overrides, f"run.tracking_uri={first}"]) == 0
    id_file = tmp_path / "runs" / "tiny-electra" / "mlflow_run_id"
    old_id = id_file.read_text().strip()

    with caplog.at_level(logging.WARNING, logger="electra_lab.train.pretrain"):
        assert cli.main(["pretrain", str(CONFIG), *overrides, f"run.tracking_uri={second}"]) == 0
    assert f"names MLflow run {old_id}" in caplog.text and "does not hold" in caplog.text
    mlflow.set_tracking_uri(second)
    runs = mlflow.search_runs(experiment_names=["electra-lab"])
    assert len(runs) == 1 and runs["tags.resumed_from_run_id"].iloc[0] == old_id
    assert id_file.read_text().strip() == runs["run_id"].iloc[0] != old_id
    mlflow.set_tracking_uri(first)
    assert mlflow.get_run(old_id).info.status == "FINISHED"  # the old store is left as it was
