"""What a study cost, from its cell files: core-hours per unit and in all.

A unit's cost is the wall time of the invocation that finished it times its torch threads (the
cell's train.threads); a unit resumed after an interruption counts only that last invocation, so
the sum is a lower bound when any unit was resumed.
"""
from __future__ import annotations

from electra_lab.studies.spec import Study
from electra_lab.studies.unit_run import readable_cells


def study_cost(study: Study) -> dict[str, float]:
    """{"units", "core_hours", "wall_minutes_per_unit"} over the study's finished cell files."""
    core_seconds, wall_seconds, units = 0.0, 0.0, 0
    for cell in readable_cells(study):
        if "wall_seconds_this_invocation" not in cell:
            continue
        wall = float(cell["wall_seconds_this_invocation"])
        threads = int(cell.get("params", {}).get("train.threads") or 1)
        core_seconds += wall * threads
        wall_seconds += wall
        units += 1
    return {"units": units, "core_hours": round(core_seconds / 3600, 2),
            "wall_minutes_per_unit": round(wall_seconds / 60 / units, 1) if units else 0.0}
