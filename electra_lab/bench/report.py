"""The benchmark's record: machine description, JSON and a Markdown summary."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx512_bf16", "amx", "avx512f", "avx2", "avx512_vnni")
                return sorted(f for f in flags if f.startswith(wanted))
    except OSError:
        pass
    return []


KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
              "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "LD_PRELOAD")


def machine_info(device: torch.device) -> dict:
    import transformers

    from electra_lab.tracking import git_commit

    info = {
        "cpu": _cpu_model(), "cpu_flags": _cpu_flags(), "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "platform": platform.platform(), "git_commit": git_commit(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        # settings that change which kernels run: a result is only reproducible with them
        "kernel_env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
    }
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / results["name"]
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(results, indent=2, default=str))
    md_path.write_text(markdown(results))
    return json_path, md_path


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


RUNS_HEADER = ("| run | tokens/s | step median (s) | step p90 (s) | warm-up (s) | page faults/step | peak memory (MiB) "
               "| official GFLOP/s | % of peak (same precision) | executed matmul GFLOP/s | % of peak |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _run_row(run: dict) -> str:
    t, mem = run["step_time_s"], run["memory"]

    def pct(key: str) -> str:
        return f"{100 * run[key]:.1f}" if key in run else "n/a"

    cells = [run["name"], f"{run['tokens_per_s']:,.0f}", f"{t['median_s']:.3f}", f"{t['p90_s']:.3f}",
             f"{run['warmup_s']:.1f}", f"{run.get('page_faults_per_step', float('nan')):,.0f}",
             f"{_mb(mem['peak_bytes'])} (+{_mb(mem['peak_above_baseline_bytes'])})",
             f"{run['official_gflops_per_s']:.1f}", pct("official_fraction_of_peak"),
             f"{run['executed_matmul_gflops_per_s']:.1f}", pct("executed_matmul_fraction_of_peak")]
    return "| " + " | ".join(cells) + " |"


def _peak_table(peaks: dict) -> list[str]:
    sizes = list(next(iter(peaks.values()))["by_size"])
    lines = ["| precision | " + " | ".join(f"n={n}" for n in sizes) + " | peak GFLOP/s |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for dtype, p in peaks.items():
        lines.append(f"| {dtype} | " + " | ".join(f"{v:.0f}" for v in p["by_size"].values())
                     + f" | {p['peak_gflops']:.0f} |")
    return lines


def _profile_section(run: dict) -> list[str]:
    p = run["profile"]
    kernels = ", ".join(p["attention_kernels"]) or "none seen"
    lines = ["", f"## Profile: {run['name']} ({p['steps']} steps, {p['time_kind']}, "
             f"{p['total_ms_per_step']:.0f} ms/step; attention kernel: {kernels})",
             "", "| op | ms/step | % | calls/step |", "|---|---:|---:|---:|"]
    return lines + [f"| {o['op']} | {o['ms_per_step']:.1f} | {o['percent']:.1f} | {o['calls_per_step']:.0f} |"
                    for o in p["top_ops"]]


def _interleaved_section(r: dict) -> list[str]:
    inter = r["interleaved"]
    return ["", f"Interleaved ({inter['rounds']} rounds; each run in its own process, stepped in turn, so each round "
            f"sees one machine state): reference step median {inter['median_step_s']['reference']:.3f} s; "
            + ", ".join(f"{r['runs'][k]['name']} {inter['median_step_s'][k]:.3f} s, ratio {v['median']:.2f}x "
                        f"(rounds {v['min']:.2f}-{v['max']:.2f})" for k, v in inter["ratio"].items())]


def markdown(r: dict) -> str:
    c, m, la = r["config"], r["machine"], r["load_average"]
    fw, ref = r["flops_per_step"]["framework"], r["flops_per_step"]["reference"]
    lines = [f"# Speed benchmark: {r['name']}", "",
             f"ELECTRA-{c['size']} joint step, batch {c['batch_size']} x seq {c['seq_len']}, {c['steps']} timed steps "
             f"after {c['warmup']} warm-up, device {c['device']}, {c['threads']} torch threads, "
             f"framework precision {c['precision']}{', torch.compile' if c['compile'] else ''}.", "",
             f"Data: {r['data_note']}.", "", RUNS_HEADER]
    lines += [_run_row(run) for run in r["runs"].values()]
    if "ratio_framework_over_reference" in r:
        lines += ["", "Throughput relative to the reference (tokens/s ratio): " + ", ".join(
            f"{r['runs'][k]['name']} {v:.2f}x" for k, v in r["ratio_framework_over_reference"].items())]
    if "interleaved" in r:
        lines += _interleaved_section(r)
    lines += [
        "", "tokens/s = timed tokens / timed wall time; GFLOP/s = FLOPs per step / median step time; % of peak = "
        "against the measured matmul peak of the run's own precision (table below). Warm-up includes "
        "torch.compile's compilation when it is on.",
        "", f"FLOPs per step: official (flops.py, the paper's accounting; charged to both runs, so the FLOP/s ratio "
        f"equals the throughput ratio) {fw['official']:.3e}; executed matmuls (3 x forward, lookups free) framework "
        f"{fw['executed_matmul']:.3e} (generator head at {c['max_predictions']} slots/sequence), reference "
        f"{ref['executed_matmul']:.3e} (head at every position). The official count charges each model's embedding "
        "lookup as a dense one-hot product (2 x e x V per token) and backward = forward: on small models that is "
        "far from the arithmetic done (a tiny model can show > 100% of peak), so the executed-matmul column is the "
        "hardware-efficiency number.",
        f"Peak memory: {next(iter(r['runs'].values()))['memory']['memory_kind']}; in brackets the growth over the "
        "process's memory before the run was built.",
        "", "## Matmul peak (square matmul sweep, best of N)", "", *_peak_table(r["matmul_peak_gflops"]),
        *(["", r["matmul_peak_note"] + "."] if r.get("matmul_peak_note") else [])]
    for run in r["runs"].values():
        if "profile" in run:
            lines += _profile_section(run)
    if "data_pipeline" in r:
        lines += ["", "## Data pipeline", "", data_markdown(r["data_pipeline"])]
    before, after = ("/".join(f"{x:.2f}" for x in la[k]) for k in ("before", "after"))
    gpu = f", GPU {m['gpu']}" if "gpu" in m else ""
    busy = la["before"][0] > m["usable_cpus"]  # the run itself loads every core: only the load before it is others'
    kernels = f", {m['torch_cpu_capability']} kernels" if "torch_cpu_capability" in m else ""
    env = "".join(f"{k}={v} " for k, v in m.get("kernel_env", {}).items())  # kernel-selecting variables it ran with
    lines += ["", "## Machine", "",
              f"- CPU: {m['cpu']} ({m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs; "
              f"flags {', '.join(m['cpu_flags'])}){gpu}",
              f"- torch {m['torch']} ({m['torch_threads']} threads{kernels}), transformers {m['transformers']}, "
              f"Python {m['python']}, {m['platform']}",
              f"- load average (1/5/15 min) before {before}, after {after}"
              + (" (above the core count before the run: a shared, busy machine)" if busy else ""),
              f"- git commit: `{m['git_commit']}`",
              f"- command: `{env}{r['command']}`", ""]
    return "\n".join(lines)


def data_markdown(d: dict) -> str:
    cold, warm = d["cold"], d["warm"]
    return "\n".join([
        f"Sources {', '.join(d['sources'])}, tokenizer {d['tokenizer']}, seq_len {d['seq_len']}; "
        f"{d['text_mb']:.2f} MB of text, {d['text_tokens']:,} tokens, {d['blocks']:,} blocks. "
        f"Fresh cache for the cold run ({d['downloads_note']}), the same cache for the warm run.", "",
        "| stage | cold (s) | warm (s) | cold throughput |", "|---|---:|---:|---|",
        f"| corpus build (read, clean, dedup, split, write) | {cold['corpus_s']:.2f} | {warm['corpus_s']:.2f} | "
        f"{d['corpus_mb_per_s']:.2f} MB/s |",
        f"| tokenizer | {cold['tokenizer_s']:.2f} | {warm['tokenizer_s']:.2f} | |",
        f"| tokenise + pack | {cold['pack_s']:.2f} | {warm['pack_s']:.2f} | {d['pack_mb_per_s']:.2f} MB/s, "
        f"{d['pack_tokens_per_s']:,.0f} tokens/s |",
        f"| total | {cold['total_s']:.2f} | {warm['total_s']:.2f} | |"])
