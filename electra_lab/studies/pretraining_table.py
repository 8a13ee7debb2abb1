"""The report's `pretraining` item: each cell's held-out pretraining metrics at the end of its run
(generator MLM accuracy and entropy, discriminator AUC, ...) as mean ± std over pretraining seeds.

Read from the cell files, which keep the run's last held-out evaluation (cell["pretrain"]["heldout"])
after runs/ and the MLflow store are gone. A metric a cell's strategy does not log (BERT-MLM has no
discriminator) or a cell written before the record existed shows as "-".
"""
from __future__ import annotations

import pandas as pd

from electra_lab.studies.spec import FLOOR, Study
from electra_lab.studies.unit_run import readable_cells


def heldout_frame(study: Study) -> pd.DataFrame:
    """One row per pretrained unit: cell, seed and its held-out metrics at the end of pretraining."""
    rows = []
    for cell in readable_cells(study):
        if cell.get("random_init"):
            continue
        heldout = cell.get("pretrain", {}).get("heldout") or {}
        rows.append({"cell": cell["cell"], "seed": int(cell["seed"]),
                     **{k: float(v) for k, v in heldout.items() if k != "step"}})
    return pd.DataFrame(rows, columns=["cell", "seed"] if not rows else None)


def phase_switches(study: Study) -> dict[str, list[tuple[str, float]]]:
    """Per cell, the phases that begin after its first step, as (phase, FLOPs spent before it),
    from the first of its cell files that recorded them (every seed of a cell has the same budget)."""
    switches: dict[str, list[tuple[str, float]]] = {}
    for cell in readable_cells(study):
        later = [(p["phase"], float(p["flops"])) for p in cell.get("pretrain", {}).get("phases", []) if p["step"] > 0]
        if later and cell["cell"] not in switches:
            switches[cell["cell"]] = later
    return switches


def pretraining_table(study: Study, metrics: list[str], order: list[str]) -> pd.DataFrame:
    """Cells (rows, in study order) x metrics: "mean ± std (n=seeds)" over the seeds that logged it."""
    frame = heldout_frame(study)
    cells = [c for c in order if c != FLOOR and c in set(frame["cell"])]
    table = []
    for cell in cells:
        seeds = frame[frame["cell"] == cell]
        row = {"cell": cell}
        for metric in metrics:
            values = seeds[metric].dropna() if metric in seeds else pd.Series(dtype=float)
            std = values.std() if len(values) > 1 else 0.0
            row[metric] = f"{values.mean():.3f} ± {std:.3f} (n={len(values)})" if len(values) else "-"
        table.append(row)
    return pd.DataFrame(table, columns=["cell", *metrics])
