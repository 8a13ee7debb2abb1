"""Real servers for the tests that need them: a PostgreSQL cluster and an MLflow tracking server on
loopback, each started in its own process group and stopped with it.

PostgreSQL comes from the machine (initdb/postgres on PATH, or Debian's /usr/lib/postgresql/N/bin;
`.ci/run` installs the package where it is missing). It refuses to run as root, so under root the
cluster belongs to the `postgres` account (or `nobody`)."""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder holding initdb and postgres, or None when the machine has no PostgreSQL server."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    return None


def _server_account() -> pwd.struct_passwd | None:
    """The account the cluster runs as: None (this one) unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a postgres nor a nobody account exists for PostgreSQL")


def _as(account):
    if account is None:
        return None

    def demote():
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    return demote


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to the process group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def wait_until(ready, what: str, process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@dataclass
class Postgres:
    port: int
    user: str = "electra"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server():
    """A fresh cluster (trust auth, loopback only, fsync off) for the duration; yields a Postgres."""
    import psycopg

    bin_dir = postgres_bin()
    assert bin_dir is not None, "no PostgreSQL server on this machine (callers skip first)"
    account = _server_account()
    home = Path(tempfile.mkdtemp(prefix="electra-lab-pg-"))  # not under pytest's 0700 root folder
    data = home / "data"
    try:
        if account is not None:
            os.chown(home, account.pw_uid, account.pw_gid)
        log = home / "server.log"
        init = subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "electra", "--auth=trust", "-E", "UTF8",
                               "--no-sync"], preexec_fn=_as(account), capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stderr
        port = free_port()
        with open(log, "w") as out:
            if account is not None:
                os.chown(log, account.pw_uid, account.pw_gid)
            server = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(home),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_as(account), start_new_session=True)

        def ready() -> bool:
            try:
                psycopg.connect(host="127.0.0.1", port=port, user="electra", dbname="postgres").close()
                return True
            except psycopg.OperationalError:
                return False

        try:
            wait_until(ready, "PostgreSQL", server, log)
            yield Postgres(port)
        finally:
            stop_group(server)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(backend_store_uri: str, artifacts: Path):
    """`mlflow server` on a free loopback port, artifacts served through it; yields its URL."""
    port = free_port()
    artifacts.mkdir(parents=True, exist_ok=True)
    log = artifacts.parent / "mlflow-server.log"
    mlflow = Path(sys.executable).with_name("mlflow")
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", backend_store_uri, "--artifacts-destination", str(artifacts)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, "mlflow server", server, log, timeout=180)
        yield url
    finally:
        stop_group(server)
