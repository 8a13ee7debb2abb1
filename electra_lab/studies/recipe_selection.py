"""Choosing a fine-tuning recipe on dev: with finetune.recipes every point is fine-tuned with each
recipe, and each cell (random init included) keeps, per budget point and labelled-set size, the
recipe whose dev score, averaged over pretraining seeds, is best. Test scores never enter the choice,
and every encoder gets the same tuning budget (the same recipes)."""
from __future__ import annotations

import pandas as pd

POINT = ["cell", "fraction", "train_size"]


def select_recipes(frame: pd.DataFrame, order: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows of each point's chosen recipe, the choice table: per point the chosen recipe and
    every recipe's mean dev score). A frame without recipes comes back whole, with an empty table.
    `order`: the recipes in file order, which breaks ties."""
    if not (frame["recipe"] != "").any():
        return frame, pd.DataFrame()
    dev = frame.groupby([*POINT, "recipe"])["dev_score"].mean().unstack("recipe")
    dev = dev[[r for r in order if r in dev.columns]]
    if dev.isna().all(axis=1).any():
        missing = dev.index[dev.isna().all(axis=1)].tolist()
        raise ValueError(f"no dev score to choose a fine-tuning recipe for {missing}: those evaluations predate "
                         "recipes, or their tasks report no dev metric")
    chosen = dev.idxmax(axis=1, skipna=True).rename("recipe")  # the first maximum: file order breaks ties
    table = dev.add_prefix("dev: ").assign(chosen=chosen).reset_index()
    keep = frame.merge(chosen.reset_index(), on=[*POINT, "recipe"], how="inner")
    return keep[frame.columns], table
