"""`electra-lab bench-finetune`: seconds per fine-tuning evaluation point, the old code path
against the new defaults, alternated in one process.

An evaluation point is what the studies run per pretrained checkpoint: finetune_suite on movie
polarity, BBC topic and hyperbaton, one seed, 1,000 / 500 / 1,000 examples, at least 200 updates,
at most 8 dev passes, one thread. "before" is that call with tasks.finetune.LEGACY_SPEED_OPTIONS
(the code path before the speed options), "after" the same call with the defaults. Rounds run
before, after, before, after, ..., so a machine whose speed drifts slows both alike; the per-round
ratio's median is the figure to read. Fine-tuning is seeded, so every round of one side gives the
same scores; before and after differ by the dropout masks and batch composition, i.e. by seed
noise, which the scores shown let a reader judge.

Without --model the point runs on a random-init tiny ELECTRA (bench/tiny_encoder.py): cost depends
on the shape, vocabulary and token lengths, not on the weights, so it measures cost as well as a
pretrained one; its scores are those of an untrained encoder.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

POINT_TASKS = ("movie_polarity", "bbc_topic", "hyperbaton")
POINT_OPTIONS = ("caps={train: 1000, dev: 500, test: 1000}", "min_updates=200", "max_dev_evals=8", "cpu_threads=1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="encoder folder (Hugging Face); default: a random-init tiny ELECTRA")
    p.add_argument("--repeats", type=int, default=2, help="rounds of (before, after)")
    p.add_argument("--out", type=Path, default=Path("results/bench/finetune-cost"),
                   help="output stem: writes OUT.json and OUT.md")
    p.add_argument("--tasks", nargs="+", default=list(POINT_TASKS), help="the point's tasks")
    p.add_argument("--seeds", type=int, default=1, help="fine-tuning seeds per task")
    p.add_argument("--probe", action="store_true", help="also time the frozen-encoder probe (a proxy) once")
    p.add_argument("--work-dir", type=Path, default=None,
                   help="where the tiny encoder is built (default: <data cache>/bench/tiny-electra-random)")


def run_from_args(args: argparse.Namespace, command: str | None = None) -> int:
    from electra_lab.config import ConfigError
    from electra_lab.errors import ElectraLabError

    if args.repeats < 1 or args.seeds < 1:
        raise ConfigError(f"bench-finetune: --repeats and --seeds must be at least 1, got {args.repeats}, {args.seeds}")
    try:
        results = run_finetune_cost(
            model=args.model, repeats=args.repeats, tasks=tuple(args.tasks), seeds=args.seeds, probe=args.probe,
            work_dir=args.work_dir, command=command or shlex.join(["electra-lab", *sys.argv[1:]]))
    except FileNotFoundError as error:  # a --model folder without a model or tokenizer
        raise ElectraLabError(f"bench-finetune: {error}") from error
    json_path, md_path = write_report(results, args.out)
    s = results["summary"]
    print(json.dumps({"before_s": s["before_median_s"], "after_s": s["after_median_s"],
                      "ratio": s["ratio_of_medians"], "ratio_rounds_median": s["ratio_rounds_median"],
                      "cpu": results["machine"]["cpu"], "avx512_bf16": results["machine"]["avx512_bf16"],
                      "written": [str(json_path), str(md_path)]}, indent=2))
    return 0


# ---------------------------------------------------------------- measuring


def _cache_state(model_dir: Path, tasks, options) -> dict[str, bool]:
    """Whether each task's token cache entry exists before a call (an 'after' call with a cold
    cache pays for loading and tokenising once)."""
    from electra_lab.tasks import token_cache
    from electra_lab.tasks.registry import get_task

    state = {}
    for name in tasks:
        task = get_task(name)
        if token_cache.cacheable(task):
            caps = options.caps or task.default_caps
            key = token_cache.entry_key(task, model_dir, caps, options.max_length)
            state[name] = token_cache.entry_path(task, key).exists()
    return state


def time_point(model_dir: Path, options, tasks, seeds: int) -> dict:
    """One evaluation point: wall and CPU seconds, per-task seconds and scores."""
    from electra_lab.tasks.finetune import finetune_suite

    cached = _cache_state(model_dir, tasks, options) if options.task_cache else {}
    wall, cpu = time.perf_counter(), time.process_time()
    result = finetune_suite(model_dir, "offline", list(tasks), seeds, options=options, progress=False)
    return {
        "seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu,
        "token_cache_warm": cached,
        "tasks": {name: {"metric": t.metric, "scores": t.scores, "median": t.median,
                         "best_epochs": [r.best_epoch for r in t.runs], "seconds": sum(r.seconds for r in t.runs)}
                  for name, t in result.tasks.items()},
        "score": result.score,
    }


def machine() -> dict:
    import torch

    from electra_lab.bench.report import machine_info
    from electra_lab.studies.provenance import provenance
    from electra_lab.train.device import cpu_has_fast_bf16, resolve_precision

    info = machine_info(torch.device("cpu"))
    info["avx512_bf16"] = "avx512_bf16" in info["cpu_flags"]
    info["amx"] = any(f.startswith("amx") for f in info["cpu_flags"])
    info["torch_bf16_kernels"] = cpu_has_fast_bf16()
    info["auto_precision"] = str(resolve_precision("auto", torch.device("cpu"))).replace("torch.", "")
    info["provenance_machine"] = provenance()["machine"]
    return info


def run_finetune_cost(model: Path | None = None, repeats: int = 2, tasks=POINT_TASKS, seeds: int = 1,
                      probe: bool = False, work_dir: Path | None = None, command: str = "") -> dict:
    """Alternate before/after points `repeats` times; the results dict write_report takes."""
    from electra_lab.bench.tiny_encoder import tiny_encoder_dir
    from electra_lab.paths import cache_root
    from electra_lab.studies.provenance import provenance
    from electra_lab.tasks.finetune import LEGACY_SPEED_OPTIONS, finetune_options

    started = time.time()
    load_before = os.getloadavg()
    random_encoder = model is None
    model_dir = Path(model) if model else tiny_encoder_dir(work_dir or cache_root() / "bench" / "tiny-electra-random")
    sides = {"before": finetune_options([*POINT_OPTIONS, *LEGACY_SPEED_OPTIONS]),
             "after": finetune_options(list(POINT_OPTIONS))}
    rounds = []
    for i in range(repeats):
        rounds.append({side: time_point(model_dir, options, tasks, seeds) for side, options in sides.items()})
        print(f"[bench-finetune] round {i + 1}/{repeats}: before {rounds[-1]['before']['seconds']:.1f} s, "
              f"after {rounds[-1]['after']['seconds']:.1f} s", file=sys.stderr, flush=True)
    results = {
        "name": "finetune-cost", "command": command, "provenance": provenance(command),
        "model_dir": str(model_dir), "random_init_encoder": random_encoder,
        "point": {"tasks": list(tasks), "seeds": seeds, "options": list(POINT_OPTIONS),
                  "before_extra_options": list(LEGACY_SPEED_OPTIONS)},
        "rounds": rounds, "summary": summarise(rounds), "machine": machine(),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "wall_seconds": time.time() - started,
    }
    if probe:
        results["probe"] = time_probe(model_dir, tasks)
    return results


def time_probe(model_dir: Path, tasks) -> dict:
    """The frozen-encoder probe (a proxy, not fine-tuning) on the point's tasks and caps, once."""
    from electra_lab.tasks.base import SplitCaps
    from electra_lab.tasks.probe import probe_suite

    wall = time.perf_counter()
    result = probe_suite(model_dir, "offline", list(tasks), caps=SplitCaps(1000, 500, 1000), cpu_threads=1)
    return {"proxy": result.options["proxy"], "seconds": time.perf_counter() - wall,
            "tasks": {name: {"metric": t.metric, "score": t.median, "seconds": t.runs[0].seconds}
                      for name, t in result.tasks.items()}, "score": result.score}


def summarise(rounds: list[dict]) -> dict:
    before = [r["before"]["seconds"] for r in rounds]
    after = [r["after"]["seconds"] for r in rounds]
    per_round = [b / a for b, a in zip(before, after, strict=True)]
    first = rounds[0]

    def same_scores(side: str) -> bool:
        return all(r[side]["tasks"][t]["scores"] == first[side]["tasks"][t]["scores"]
                   for r in rounds for t in first[side]["tasks"])

    return {
        "before_s": before, "after_s": after,
        "before_median_s": statistics.median(before), "after_median_s": statistics.median(after),
        "ratio_of_medians": statistics.median(before) / statistics.median(after),
        "ratio_rounds": per_round, "ratio_rounds_median": statistics.median(per_round),
        "scores": {side: {t: v["scores"] for t, v in first[side]["tasks"].items()} for side in ("before", "after")},
        "score": {side: first[side]["score"] for side in ("before", "after")},
        "repeats_identical": {side: same_scores(side) for side in ("before", "after")},
    }


# ---------------------------------------------------------------- the record


def write_report(results: dict, out: Path) -> tuple[Path, Path]:
    """OUT.json (everything) and OUT.md (the summary a reader wants)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_name(out.name + ".json"), out.with_name(out.name + ".md")
    json_path.write_text(json.dumps(results, indent=2, default=str))
    md_path.write_text(markdown(results))
    return json_path, md_path


def _pct(score: float) -> str:
    return f"{100 * score:.1f}"


def markdown(r: dict) -> str:
    s, m, point = r["summary"], r["machine"], r["point"]
    tasks = list(s["scores"]["before"])
    encoder = ("a random-init tiny ELECTRA (4 layers, hidden 128, WordPiece 8,192 trained on Austen; cost depends on "
               "the shape and token lengths, not on the weights, so it measures cost as a pretrained one would; its "
               "scores are an untrained encoder's)" if r["random_init_encoder"] else f"`{r['model_dir']}`")
    lines = [
        "# Fine-tuning evaluation point: cost before and after", "",
        f"One point = `finetune_suite(model, \"offline\", tasks={tasks}, seeds={point['seeds']}, "
        f"options={list(point['options'])})` on {encoder}.", "",
        f"before = the same call with `{' '.join(point['before_extra_options'])}` (the code path before the speed "
        "options); after = the defaults. Rounds alternate before, after, ... in one process.", "",
        "| round | before (s) | after (s) | ratio | after's token cache |", "|---:|---:|---:|---:|---|"]
    for i, rd in enumerate(r["rounds"], 1):
        warm = rd["after"]["token_cache_warm"]
        cache = "warm" if warm and all(warm.values()) else "cold" if warm and not any(warm.values()) else \
            ", ".join(f"{k} {'warm' if v else 'cold'}" for k, v in warm.items()) or "n/a"
        lines.append(f"| {i} | {rd['before']['seconds']:.1f} | {rd['after']['seconds']:.1f} | "
                     f"{s['ratio_rounds'][i - 1]:.2f}x | {cache} |")
    lines += ["", f"**Seconds per evaluation point: before {s['before_median_s']:.1f}, after {s['after_median_s']:.1f} "
              f"(medians); ratio {s['ratio_of_medians']:.2f}x (median of per-round ratios "
              f"{s['ratio_rounds_median']:.2f}x).**", "",
              "Per task (seconds, median over rounds):", "",
              "| task | before (s) | after (s) | ratio |", "|---|---:|---:|---:|"]
    for t in tasks:
        b = statistics.median(rd["before"]["tasks"][t]["seconds"] for rd in r["rounds"])
        a = statistics.median(rd["after"]["tasks"][t]["seconds"] for rd in r["rounds"])
        lines.append(f"| {t} | {b:.1f} | {a:.1f} | {b / a:.2f}x |")
    lines += ["", "Per-task seconds exclude loading the encoder; the point's seconds include it and the task "
              "loading, which the token cache removes once warm.", "",
              "Scores (test metric at the best-dev evaluation, x100; fine-tuning is seeded, so every round of a side "
              "repeats them" + (" exactly" if all(s["repeats_identical"].values()) else ": NOT identical here") +
              "; before and after differ by dropout masks and batch composition, i.e. seed noise):", "",
              "| task | metric | before | after |", "|---|---|---:|---:|"]
    for t in tasks:
        metric = r["rounds"][0]["before"]["tasks"][t]["metric"]
        lines.append(f"| {t} | {metric} | {' / '.join(map(_pct, s['scores']['before'][t]))} | "
                     f"{' / '.join(map(_pct, s['scores']['after'][t]))} |")
    lines.append(f"| mean | | {_pct(s['score']['before'])} | {_pct(s['score']['after'])} |")
    if "probe" in r:
        p = r["probe"]
        lines += ["", f"## Proxy: frozen-encoder probe ({p['proxy']}; NOT fine-tuning)", "",
                  f"Linear probe on mean-pooled frozen features, regularisation chosen on dev: {p['seconds']:.1f} s "
                  "for the point's tasks.", "", "| task | metric | probe score | seconds |", "|---|---|---:|---:|"]
        lines += [f"| {t} | {v['metric']} | {_pct(v['score'])} | {v['seconds']:.1f} |" for t, v in p["tasks"].items()]
    la = r["load_average"]
    lines += ["", "## Machine", "",
              f"- CPU: {m['cpu']} ({m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; flags "
              f"{', '.join(m['cpu_flags'])})",
              f"- avx512_bf16: {'yes' if m['avx512_bf16'] else 'no'}, AMX: {'yes' if m['amx'] else 'no'}; precision "
              f"\"auto\" runs {m['auto_precision']} here (bf16 autocast only where the CPU has bf16 matrix "
              "instructions)",
              f"- torch {m['torch']} ({m['torch_cpu_capability']} kernels), transformers {m['transformers']}, "
              f"Python {m['python']}",
              f"- load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in la['before'])}, after "
              f"{'/'.join(f'{x:.2f}' for x in la['after'])} (a shared machine: above 1 means others were running)",
              f"- commit: `{r['provenance']['commit']}`; date {r['provenance']['date']}",
              f"- command: `{r['command']}`", f"- total wall time {r['wall_seconds']:.0f} s", ""]
    return "\n".join(lines)
