"""A sweep's outputs in results/<sweep>/: every trial (CSV, Markdown), the best trial (JSON), and
Optuna's optimisation-history and parameter-vs-objective (slice) plots as PNG."""
from __future__ import annotations

import json
import warnings

from electra_lab.studies.provenance import frame_markdown, provenance, provenance_markdown
from electra_lab.studies.sweep_spec import TEST_SCORE, Sweep


def write_sweep_report(sweep: Sweep, study, command: str | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    out = sweep.results
    out.mkdir(parents=True, exist_ok=True)
    trials = study.trials_dataframe(attrs=("number", "state", "value", "params", "duration",
                                           "intermediate_values"))
    trials.to_csv(out / "trials.csv", index=False)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    parts = [f"# {sweep.key}: {sweep.description.strip() or sweep.name}\n",
             f"Paper: {sweep.paper.strip()}\n" if sweep.paper else "",
             f"Protocol: {sweep.protocol.strip()}\n" if sweep.protocol else "",
             f"Objective: {sweep.objective.measure} {sweep.objective.metric} ({sweep.objective.direction}); "
             f"intermediate: {sweep.intermediate.measure} at budget fractions {sweep.budget.fractions}; pruner "
             f"{sweep.pruner}; sampler {sweep.sampler}. States: "
             + ", ".join(f"{s.name.lower()} {n}" for s, n in _counts(study).items()) + ".\n",
             provenance_markdown(provenance(command))]
    if complete:
        best = study.best_trial
        test = best.user_attrs.get(TEST_SCORE)
        (out / "best_trial.json").write_text(json.dumps({"number": best.number, "value": best.value,
                                                         TEST_SCORE: test, "params": best.params}, indent=2) + "\n")
        if test is None:
            parts.append(f"## Best trial\n\ntrial {best.number}: {best.value:.4f} with {best.params}\n")
        else:  # chosen on dev; its test score is the one test number this sweep reports
            parts.append(f"## Best trial (chosen on dev)\n\ntrial {best.number} with {best.params}: dev "
                         f"{best.value:.4f} (the objective), test {test:.4f} (reported for this trial only)\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna.visualization.matplotlib is marked experimental
            for name, draw in (("optimization_history", optuna.visualization.matplotlib.plot_optimization_history),
                               ("param_vs_objective", optuna.visualization.matplotlib.plot_slice)):
                ax = draw(study)
                figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
                figure.savefig(out / f"{name}.png", dpi=110, bbox_inches="tight")
                plt.close(figure)
                parts.append(f"![{name}]({name}.png)\n")
    shown = trials.drop(columns=[c for c in trials.columns if c.startswith("intermediate")], errors="ignore")
    parts.append("## Trials\n\n" + frame_markdown(shown.astype(str)) + "\n")
    text = "\n".join(p for p in parts if p)
    (out / "README.md").write_text(text)
    return text


def _counts(study) -> dict:
    counts: dict = {}
    for t in study.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts
