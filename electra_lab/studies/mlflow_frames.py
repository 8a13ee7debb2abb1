"""MLflow runs as pandas frames, for notebooks and reports."""
from __future__ import annotations

import pandas as pd

from electra_lab.config import DEFAULT_TRACKING_URI


def runs_frame(tracking_uri: str = DEFAULT_TRACKING_URI, experiment: str = "electra-lab",
               kind: str | None = None) -> pd.DataFrame:
    """One row per run: params.*, metrics.* (last values) and tags.*; kind filters on tags.kind."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    frame = mlflow.search_runs(experiment_names=[experiment])
    if kind is not None and "tags.kind" in frame:
        frame = frame[frame["tags.kind"] == kind]
    return frame.reset_index(drop=True)


def metric_history(run_id: str, keys: list[str], tracking_uri: str = DEFAULT_TRACKING_URI) -> pd.DataFrame:
    """Long frame (key, step, value) plus the FLOPs spent at each step, for plotting against FLOPs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    rows = [(key, m.step, m.value) for key in [*keys, "flops"] for m in client.get_metric_history(run_id, key)]
    frame = pd.DataFrame(rows, columns=["key", "step", "value"])
    flops = frame[frame["key"] == "flops"].groupby("step")["value"].last().rename("flops")
    return frame[frame["key"] != "flops"].join(flops, on="step")
