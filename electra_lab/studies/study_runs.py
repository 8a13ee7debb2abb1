"""A study in MLflow: one parent run, a nested pretraining run per cell and seed, a nested
evaluation run per fine-tuning point (the random-init floor directly under the parent).

Every evaluation run carries the study, cell, seed, budget fraction and labelled-set size as tags,
the cell's axis values as `axis.<name>` tags, and suite_score / pretrain_flops / per-task metrics,
so `report` can rebuild the study's table from MLflow alone.
"""
from __future__ import annotations

import time
from typing import Any

STUDY_KIND, EVAL_KIND = "study", "evaluation"


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    from electra_lab.tracking import ensure_store

    ensure_store(tracking_uri)
    return MlflowClient(tracking_uri)


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another worker created it a moment ago
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def study_parent_run(tracking_uri: str, experiment: str, key: str, kind: str = STUDY_KIND,
                     params: dict | None = None, tags: dict | None = None) -> str:
    """The study's parent run, created on first use. Several runners may start at once: each looks,
    creates one if there is none, and all then use the earliest (a loser's extra run is deleted)."""
    from electra_lab.tracking import store_lock

    with store_lock(tracking_uri):  # on sqlite, runners starting together take turns here
        return _study_parent_run(tracking_uri, experiment, key, kind, params, tags)


def _study_parent_run(tracking_uri, experiment, key, kind, params, tags) -> str:
    from electra_lab.config import flatten
    from electra_lab.tracking import git_commit

    client = _client(tracking_uri)
    exp = _experiment_id(client, experiment)
    query = f"tags.kind = '{kind}' and tags.study = '{key}'"

    def existing():
        return client.search_runs([exp], query, order_by=["attributes.start_time ASC"], max_results=10)

    runs = existing()
    mine = None
    if not runs:
        mine = client.create_run(exp, run_name=key, tags={"kind": kind, "study": key, "git_commit": git_commit(),
                                                          **{k: str(v) for k, v in (tags or {}).items()}})
        runs = existing()
    chosen = min(runs, key=lambda r: (r.info.start_time, r.info.run_id))
    if mine is not None and mine.info.run_id != chosen.info.run_id:
        client.delete_run(mine.info.run_id)
    if mine is not None and mine.info.run_id == chosen.info.run_id and params:
        for name, value in flatten(params).items():
            client.log_param(chosen.info.run_id, name, str(value)[:6000])
    return chosen.info.run_id


def log_evaluation(tracking_uri: str, experiment: str, parent_run_id: str | None, name: str, tags: dict[str, Any],
                   params: dict[str, Any], metrics: dict[str, float]) -> str:
    """One finished evaluation as a nested run (FINISHED at once)."""
    from electra_lab.config import flatten
    from electra_lab.tracking import git_commit

    client = _client(tracking_uri)
    all_tags = {"kind": EVAL_KIND, "git_commit": git_commit(), **{k: str(v) for k, v in tags.items()}}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(_experiment_id(client, experiment), run_name=name, tags=all_tags)
    from mlflow.entities import Metric, Param

    now = int(time.time() * 1000)
    flat = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
    values = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None]
    for i in range(0, max(len(flat), len(values)), 100):
        client.log_batch(run.info.run_id, metrics=values[i:i + 100], params=flat[i:i + 100])
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def evaluation_runs(tracking_uri: str, experiment: str, key: str):
    """Every finished evaluation run of the study, as a pandas frame (mlflow.search_runs)."""
    import mlflow

    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        import pandas as pd

        return pd.DataFrame()
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.search_runs([found.experiment_id], filter_string=f"tags.kind = '{EVAL_KIND}' and "
                              f"tags.study = '{key}' and attributes.status = 'FINISHED'", max_results=50000)


def find_runs(tracking_uri: str, experiment: str, tags: dict[str, str], status: str | None = None) -> list:
    """The experiment's runs carrying all these tags (and this status), as mlflow Run objects."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    terms = [f"tags.{k} = '{v}'" for k, v in tags.items()] + ([f"attributes.status = '{status}'"] if status else [])
    return client.search_runs([found.experiment_id], " and ".join(terms), max_results=5000)


def set_status(tracking_uri: str, run_id: str, status: str) -> None:
    """RUNNING while a runner works on the study, FINISHED once every unit is done."""
    client = _client(tracking_uri)
    if status == "RUNNING":
        client.update_run(run_id, status=status)
    else:
        client.set_terminated(run_id, status)  # sets the end time too
