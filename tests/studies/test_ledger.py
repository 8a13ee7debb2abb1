"""Claims on an Optuna storage: one winner per trial however many processes race, dead owners failed."""
import subprocess
import sys
import time

import optuna
import pytest

from electra_lab.studies.ledger import OWNER, StorageUnavailable, claim, fail_dead, open_storage, owner_alive

RACER = """
import sys, time, optuna
from electra_lab.studies.ledger import claim, open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="race", storage=open_storage(sys.argv[1]))
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
won = [t.number for t in study.get_trials(deepcopy=False) if claim(study, t._trial_id)]
print(won)
"""


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_each_trial_is_won_by_exactly_one_of_many_racing_processes(tmp_path, kind):
    url = str(tmp_path / "claims.journal") if kind == "journal" else f"sqlite:///{tmp_path / 'claims.db'}"
    study = optuna.create_study(study_name="race", storage=open_storage(url))
    for i in range(5):
        study.enqueue_trial({}, user_attrs={"unit": f"u{i}"})
    start = time.time() + 6  # every racer is imported and waiting by then
    racers = [subprocess.Popen([sys.executable, "-c", RACER, url, str(start)], stdout=subprocess.PIPE, text=True)
              for _ in range(4)]
    won = [eval(p.communicate(timeout=120)[0].strip()) for p in racers]
    assert sorted(n for numbers in won for n in numbers) == [0, 1, 2, 3, 4]
    trials = study.get_trials()
    assert all(t.state == optuna.trial.TrialState.RUNNING and t.user_attrs[OWNER]["pid"] for t in trials)


def test_a_running_trial_whose_process_died_is_failed_and_a_live_one_kept(tmp_path):
    study = optuna.create_study(study_name="dead", storage=open_storage(str(tmp_path / "j.journal")))
    for _ in range(2):
        study.enqueue_trial({})
    dead, alive = study.get_trials()
    assert claim(study, alive._trial_id)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert claim(study, dead._trial_id)
    study._storage.set_trial_user_attr(dead._trial_id, OWNER, {**study.trials[0].user_attrs[OWNER],
                                                               "pid": int(child.stdout)})  # a pid now gone
    assert not owner_alive(study.get_trials()[0]) and owner_alive(study.get_trials()[1])
    assert fail_dead(study) == [0]
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING]
    assert not claim(study, dead._trial_id)  # a finished trial cannot be taken


def test_another_hosts_claim_is_dead_only_when_its_heartbeat_is_stale(tmp_path):
    study = optuna.create_study(study_name="remote", storage=open_storage(str(tmp_path / "j.journal")))
    study.enqueue_trial({})
    (trial,) = study.get_trials()
    claim(study, trial._trial_id)
    study._storage.set_trial_user_attr(trial._trial_id, OWNER, {"host": "elsewhere", "pid": 1, "start": None})
    fresh = study.get_trials()[0]
    assert owner_alive(fresh, stale_after=60)
    assert not owner_alive(fresh, now=time.time() + 120, stale_after=60)


def test_an_unreachable_rdb_is_a_clear_error():
    with pytest.raises(StorageUnavailable, match="cannot open the Optuna storage"):
        open_storage("postgresql://nobody@127.0.0.1:9/none")


def schema_race(monkeypatch, failures: int) -> list[str]:
    """RDBStorage that fails `failures` times as a runner losing the schema-creation race does."""
    from sqlalchemy.exc import IntegrityError

    calls = []

    def storage(url, engine_kwargs=None):
        calls.append(url)
        if len(calls) <= failures:
            raise IntegrityError("CREATE TABLE studies", {}, Exception('duplicate key "pg_type_typname_nsp_index"'))
        return "opened"

    monkeypatch.setattr(optuna.storages, "RDBStorage", storage)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    return calls


def test_losing_the_schema_race_table_after_table_is_retried(monkeypatch):
    calls = schema_race(monkeypatch, failures=3)  # the winner was still creating later tables twice over
    assert open_storage("postgresql://x@h/db") == "opened"
    assert len(calls) == 4


def test_a_schema_race_that_never_ends_is_a_clear_error(monkeypatch):
    schema_race(monkeypatch, failures=100)
    with pytest.raises(StorageUnavailable, match="IntegrityError"):
        open_storage("postgresql://x@h/db")
