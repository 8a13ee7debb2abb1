"""A run that cannot write its folder or reach its tracking server stops before any data is built,
with an error naming the folder or the server."""
import os
import socket
from pathlib import Path

import pytest

from electra_lab.train.preflight import RunSetupError, check_output_dir, check_tracking_uri

from .conftest import tiny_run_overrides, write_tiny_corpus

CONFIG = Path(__file__).resolve().parents[1] / "experiments" / "pretrain" / "tiny_electra.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the next test covers the check")
def test_a_read_only_output_folder_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(RunSetupError, match=f"run folder {locked / 'run'} is not writable"):
            check_output_dir(locked / "run")
    finally:
        locked.chmod(0o700)


def test_a_file_where_the_run_folder_should_be_is_named(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(RunSetupError, match="is not writable"):
        check_output_dir(tmp_path / "runs" / "tiny")
    check_output_dir(tmp_path / "ok" / "tiny")
    assert (tmp_path / "ok" / "tiny").is_dir() and not list((tmp_path / "ok" / "tiny").iterdir())


def test_an_unreachable_tracking_server_is_named_within_seconds():
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RunSetupError, match=f"MLflow tracking server {uri} cannot be reached"):
        check_tracking_uri(uri, timeout_s=2)
    check_tracking_uri("sqlite:////tmp/electra-lab-preflight/deeper/mlflow.db")  # folders the store creates


def test_pretrain_stops_before_building_data(tmp_path, monkeypatch, capsys):
    from electra_lab import cli

    monkeypatch.setenv("ELECTRA_LAB_CACHE", str(tmp_path / "cache"))
    overrides = tiny_run_overrides(write_tiny_corpus(tmp_path / "texts"), tmp_path / "runs", steps=2)
    code = cli.main(["pretrain", str(CONFIG), *overrides, f"run.tracking_uri=http://127.0.0.1:{free_port()}"])
    assert code == 1 and "cannot be reached" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "blocks").exists()  # nothing was built
