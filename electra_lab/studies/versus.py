"""The headline comparison inside one study: a challenger cell A against a reference cell B.

At each budget point both cells were pretrained to the same fraction of the same FLOPs budget, so a
row compares them at equal compute. Per score (the suite and each task) it gives both means with
their spread over pretraining seeds and the gap A - B in standard errors of the difference. Beside
it, the FLOPs at which A's mean suite curve first reaches B's final score (the paper's "ELECTRA
matches BERT with a quarter of the compute"), interpolated in log FLOPs between measured points.
"""
from __future__ import annotations

import math

import pandas as pd

from electra_lab.studies.provenance import frame_markdown


def gap_in_se(a_mean: float, a_std: float, a_n: int, b_mean: float, b_std: float, b_n: int) -> float:
    """(a - b) / se of the difference of two means (unequal variances); NaN when the se is 0."""
    se = math.sqrt(a_std ** 2 / a_n + b_std ** 2 / b_n)
    return (a_mean - b_mean) / se if se > 0 else math.nan


def versus_rows(stats: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Long table, one row per labelled-set size, budget fraction and score present for both cells.
    stats: report.summarise's frame (cell, fraction, train_size, score, mean, std, n, pretrain_flops)."""
    keys = ["train_size", "fraction", "score"]
    cols = [*keys, "mean", "std", "n", "pretrain_flops"]
    pair = stats[stats["cell"] == a][cols].merge(stats[stats["cell"] == b][cols], on=keys, suffixes=("_a", "_b"))
    gaps = [gap_in_se(r.mean_a, r.std_a, r.n_a, r.mean_b, r.std_b, r.n_b) for r in pair.itertuples()]
    return pair.assign(difference=pair["mean_a"] - pair["mean_b"], gap_se=gaps).sort_values(keys).reset_index(drop=True)


def flops_to_reach(stats: pd.DataFrame, a: str, b: str, train_size: int) -> dict:
    """Where A's mean suite curve first reaches B's final mean suite score.

    Returns target (B's final mean), b_flops (B's FLOPs there), a_flops (None if A never reaches it
    within its budget), how ("interpolated" between two measured points, "at or before the first
    point" when A's first point already reaches it, "not reached"), and a_best (A's best mean)."""
    suite = stats[(stats["score"] == "suite_score") & (stats["train_size"] == train_size)]
    curve_a = suite[suite["cell"] == a].sort_values("pretrain_flops")
    curve_b = suite[suite["cell"] == b].sort_values("fraction")
    if curve_a.empty or curve_b.empty:
        raise ValueError(f"cells {a!r} and {b!r} both need suite scores at {train_size} labels")
    final_b = curve_b.iloc[-1]
    target, b_flops = float(final_b["mean"]), float(final_b["pretrain_flops"])
    out = {"target": target, "b_flops": b_flops, "a_flops": None, "how": "not reached",
           "a_best": float(curve_a["mean"].max())}
    previous = None
    for row in curve_a.itertuples():
        if row.mean >= target:
            if previous is None:
                out.update(a_flops=float(row.pretrain_flops), how="at or before the first point")
            else:
                share = (target - previous.mean) / (row.mean - previous.mean)
                log_flops = math.log10(previous.pretrain_flops) + share * (
                    math.log10(row.pretrain_flops) - math.log10(previous.pretrain_flops))
                out.update(a_flops=10 ** log_flops, how="interpolated")
            break
        previous = row
    return out


def versus_markdown(stats: pd.DataFrame, a: str, b: str) -> tuple[str, pd.DataFrame]:
    """The Markdown section body and the long CSV frame for a `versus` report item."""
    rows = versus_rows(stats, a, b)
    if rows.empty:
        return f"No budget point has scores for both {a!r} and {b!r} yet.\n", rows
    rows = rows.assign(text=[f"{d:+.3f} [{g:+.1f} se]" if math.isfinite(g) else f"{d:+.3f} [se 0]"
                             for d, g in zip(rows["difference"], rows["gap_se"], strict=True)])
    wide = rows.pivot_table(index=["train_size", "fraction"], columns="score", values="text", aggfunc="first")
    suite = rows[rows["score"] == "suite_score"].set_index(["train_size", "fraction"])
    for cell, side in ((b, "b"), (a, "a")):  # inserted at 0: a's column ends first
        spread = suite.loc[wide.index, [f"mean_{side}", f"std_{side}", f"n_{side}"]].itertuples(index=False)
        wide.insert(0, f"{cell} (suite)", [f"{m:.3f} ± {s:.3f} (n={n})" for m, s, n in spread])
    wide.insert(0, "FLOPs", [f"{f:.3g}" for f in suite.loc[wide.index, "pretrain_flops_a"]])
    scores = [c for c in wide.columns if c not in ("FLOPs", f"{a} (suite)", f"{b} (suite)")]
    ordered = ["FLOPs", f"{a} (suite)", f"{b} (suite)", *(["suite_score"] if "suite_score" in scores else []),
               *sorted(c for c in scores if c != "suite_score")]
    wide = wide[ordered].reset_index()
    lines = [f"Each score column: {a} minus {b} at the same budget point (equal pretraining FLOPs), "
             "[gap in standard errors of the difference over pretraining seeds].\n", frame_markdown(wide), ""]
    for size in sorted(rows["train_size"].unique()):
        reach = flops_to_reach(stats, a, b, int(size))
        if reach["a_flops"] is None:
            lines.append(f"- {size} labels: {a} does not reach {b}'s final suite score {reach['target']:.3f} "
                         f"(at {reach['b_flops']:.3g} FLOPs) within its budget; "
                         f"its best mean is {reach['a_best']:.3f}.")
        else:
            lines.append(f"- {size} labels: {a} reaches {b}'s final suite score {reach['target']:.3f} at "
                         f"{reach['a_flops']:.3g} FLOPs ({reach['how']}), {reach['a_flops'] / reach['b_flops']:.2f}x "
                         f"the {reach['b_flops']:.3g} FLOPs {b} used.")
    return "\n".join(lines) + "\n", rows
