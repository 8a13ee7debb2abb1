"""Who runs what: claims on an Optuna storage, shared by every worker of a grid or a sweep.

Each piece of work (a grid cell x seed, a sweep trial) is an Optuna trial. It is created WAITING
and a worker takes it by moving it to RUNNING; the storage does that atomically and tells the loser
(`BaseStorage.set_trial_state_values` returns False, or raises for a finished trial), for a journal
file and for an RDB (PostgreSQL, MySQL, sqlite) alike, so workers on one machine or many never run
one trial twice. The winner records its host, pid and process start time and keeps a heartbeat;
a RUNNING trial whose process is gone (same host) or whose heartbeat is stale (another host) is
failed by the next start, and its work is offered again.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from electra_lab.errors import ElectraLabError

DEFAULT_STORAGE = "optuna.journal"  # a journal file in the working folder: no server, safe across processes
OWNER = "owner"  # trial user attr: {"host", "pid", "start"}
HEARTBEAT = "heartbeat"  # trial user attr: epoch seconds of the owner's last sign of life
STALE_AFTER_S = 600.0  # a claim from another host with no heartbeat for this long is dead


class StorageUnavailable(ElectraLabError, RuntimeError):
    """The Optuna storage URL cannot be opened (a bad URL, an unreachable server, a missing driver)."""


def open_storage(url: str | None = None):
    """An Optuna storage: a journal file path (default optuna.journal here) or an RDB URL."""
    import optuna

    url = url or DEFAULT_STORAGE
    try:
        if "://" not in url:
            Path(url).parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(
                url, lock_obj=optuna.storages.journal.JournalFileOpenLock(url))
            return optuna.storages.JournalStorage(backend)
        return _open_rdb(optuna, url)
    except (OSError, ImportError, ValueError) as exc:
        raise StorageUnavailable(f"cannot open the Optuna storage {url!r}: {exc}") from None
    except Exception as exc:  # sqlalchemy's OperationalError and kin: the server is not there
        if type(exc).__module__.startswith("sqlalchemy"):
            raise StorageUnavailable(f"cannot open the Optuna storage {url!r}: {exc.__class__.__name__}: "
                                     f"{str(exc).splitlines()[0]}") from None
        raise


def _open_rdb(optuna, url: str, attempts: int = 8):
    """RDBStorage, retried while another runner is creating the schema: on PostgreSQL two runners
    creating tables at once make one fail with an IntegrityError, table by table, so a single
    retry can meet the next table still being created (seen under load)."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as exc:
            if type(exc).__name__ != "IntegrityError" or attempt == attempts - 1:
                raise
            time.sleep(0.25 * (attempt + 1))  # the winner's CREATE TABLEs take milliseconds each


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux), so a reused pid is not mistaken for the owner."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start(os.getpid())}


def owner_alive(trial, now: float | None = None, stale_after: float = STALE_AFTER_S) -> bool:
    """Is the process that claimed this RUNNING trial still there?"""
    now = time.time() if now is None else now
    owner = trial.user_attrs.get(OWNER)
    if not owner:  # claimed a moment ago, owner not written yet; or by a process that died in between
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - started < 60
    if owner.get("host") == socket.gethostname():
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return owner.get("start") is None or process_start(int(owner["pid"])) == owner.get("start")
    return now - float(trial.user_attrs.get(HEARTBEAT, 0)) < stale_after


def _sqlite_claim_lock(storage):
    """sqlite ignores SELECT ... FOR UPDATE, so two processes can both see a trial WAITING and both
    move it to RUNNING (measured: tests/studies/test_ledger.py); a file lock beside the database
    makes the check-and-set one step. A journal file and PostgreSQL/MySQL need none."""
    from electra_lab.tracking import sqlite_file_lock

    url = getattr(getattr(storage, "_backend", storage), "url", "")  # optuna wraps an RDB in a cache
    return sqlite_file_lock(url, ".claim.lock")


def claim(study, trial_id: int) -> bool:
    """Take a WAITING trial; True for exactly one caller, however many race for it."""
    import optuna

    try:
        with _sqlite_claim_lock(study._storage):
            won = study._storage.set_trial_state_values(trial_id, optuna.trial.TrialState.RUNNING)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    if won:
        study._storage.set_trial_user_attr(trial_id, OWNER, me())
        study._storage.set_trial_user_attr(trial_id, HEARTBEAT, time.time())
    return won


def fail_dead(study, stale_after: float = STALE_AFTER_S) -> list[int]:
    """Mark every RUNNING trial whose owner is gone as FAIL; returns their numbers."""
    import optuna

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if owner_alive(trial, stale_after=stale_after):
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, "failed_because", "its worker died")
            study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished meanwhile
    return failed


class Heartbeat:
    """A daemon thread that keeps a claimed trial's heartbeat fresh while the work runs."""

    def __init__(self, study, trial_id: int, every: float = 30.0):
        self.study, self.trial_id, self.every = study, trial_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{trial_id}")

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.study._storage.set_trial_user_attr(self.trial_id, HEARTBEAT, time.time())
            except Exception:  # a finished trial or a storage hiccup: the next beat tries again
                pass

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
