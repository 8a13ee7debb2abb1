#!/usr/bin/env bash
# GPU readiness check, in one call of a lent GPU machine (under 10 minutes; no network there, and
# torch / transformers / tokenizers / pandas / matplotlib but no mlflow, optuna or datasets):
#   env             the machine, torch and CUDA as this process sees them
#   cuda-tests      the test suite's CUDA paths (tests/test_cuda_paths.py, tests/test_device.py)
#   bench-<size>    `electra-lab bench --device cuda` at small and base size, few steps
#   budget          the FLOPs of GPU_CHECK_ELECTRA_STEPS steps of ELECTRA-Small: both runs below get them
#   pretrain-electra, pretrain-bert
#                   ELECTRA-Small and BERT-Small at those equal FLOPs, --no-tracking, on packed data
#                   from a prebuilt cache (GPU_CHECK_CACHE), so nothing is downloaded
#   compare         both runs side by side (compare/comparison.json)
# Each step writes <out>/<step>/log.txt and its outputs beside it; a failing step does not stop the
# others; <out>/summary.tsv has every step's exit code (124: timed out or no time left). The script
# exits 1 when any step failed.
#
# Usage:
#   scripts/gpu_check.sh [OUT]                 OUT defaults to results/gpu/<date>
#   scripts/gpu_check.sh --prepare-cache DIR   (on a machine with network) build the packed data the
#                                              pretraining steps read and copy just it (corpus,
#                                              tokenizer, blocks) into DIR; carry DIR to the GPU
# Environment:
#   GPU_CHECK_CACHE=DIR        prebuilt data cache for the pretraining steps (becomes ELECTRA_LAB_CACHE)
#   GPU_CHECK_DEVICE=cuda      cuda | cpu (cpu: a self-test of this script on a machine without a GPU)
#   GPU_CHECK_TINY=1           tiny model, budgets and bench shapes: seconds, for the self-test
#   GPU_CHECK_OVERRIDES="..."  extra config overrides for both pretraining runs and --prepare-cache
#   GPU_CHECK_ELECTRA_STEPS=N  the equal budget, in ELECTRA-Small steps (default 500; tiny: 3)
#   GPU_CHECK_BENCH_SIZES="small base" (tiny: "tiny"); GPU_CHECK_BENCH_STEPS=10; GPU_CHECK_INTERLEAVE=3
#   GPU_CHECK_ONLY="step ..."  run only these steps (e.g. to rerun one that failed)
#   GPU_CHECK_DEADLINE=540     seconds for the whole script; a step gets what is left of it
#   GPU_CHECK_STEP_TIMEOUT=200 seconds per step at most
#   GPU_CHECK_PYTHON           interpreter (default .venv/bin/python when present, else python3)
#   GPU_CHECK_PYTHONPATH=DIR   extra import path, e.g. a carried folder with pytest when the image lacks it
#   GPU_CHECK_KEEP_CHECKPOINTS=1  keep the runs' checkpoint.pt (dropped by default: optimiser state is
#                              most of a run's bytes, and the exported encoder is what a later look needs)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -n "${GPU_CHECK_PYTHON:-}" ]]; then PY="$GPU_CHECK_PYTHON"
elif [[ -x .venv/bin/python ]]; then PY="$ROOT/.venv/bin/python"
else PY=python3; fi
export PYTHONPATH="$ROOT${GPU_CHECK_PYTHONPATH:+:$GPU_CHECK_PYTHONPATH}${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

DEVICE="${GPU_CHECK_DEVICE:-cuda}"
TINY="${GPU_CHECK_TINY:-0}"
ELECTRA_CONFIG=experiments/pretrain/electra_small.yaml
BERT_CONFIG=experiments/pretrain/bert_small.yaml
read -ra EXTRA <<< "${GPU_CHECK_OVERRIDES:-}"

# overrides of both pretraining runs (and of --prepare-cache, whose blocks they must find)
run_overrides() {
  if [[ "$TINY" == 1 ]]; then
    echo model.layers=1 model.hidden=32 model.heads=2 model.ffn=64 model.embedding_size=16 \
      model.max_position=64 data.seq_len=32 train.batch_size=4 train.eval_every=2 train.eval_batches=1 \
      train.log_every=1 train.threads=1 optim.warmup_steps=1
  else
    # a few hundred steps never reach the file's 10,000-step warmup: warm up over a tenth of the run;
    # no checkpoint before the end (one is ~200 MB of optimiser state written in the lease's time)
    echo optim.warmup_fraction=0.1 train.eval_every=100 train.log_every=20 train.checkpoint_every=1000000
  fi
  echo "${EXTRA[@]}"
}
read -ra RUN_OVERRIDES <<< "$(run_overrides | tr '\n' ' ')"
if [[ -n "${GPU_CHECK_CACHE:-}" && "${1:-}" != "--prepare-cache" ]]; then
  export ELECTRA_LAB_CACHE="$(cd "$GPU_CHECK_CACHE" && pwd)"
fi

if [[ "${1:-}" == "--prepare-cache" ]]; then
  DEST="${2:?--prepare-cache needs a folder}"
  mkdir -p "$DEST"
  DEST="$(cd "$DEST" && pwd)"
  echo "building the pretraining data in ${ELECTRA_LAB_CACHE:-~/.cache/electra_lab}, copying it to $DEST"
  "$PY" - "$DEST" "$ELECTRA_CONFIG" "$BERT_CONFIG" "${RUN_OVERRIDES[@]}" <<'EOF'
import shutil, sys
from pathlib import Path

from electra_lab.experiment import load_config
from electra_lab.paths import cache_root
from electra_lab.train.pretrain import prepare_data

dest, configs, overrides = Path(sys.argv[1]), sys.argv[2:4], sys.argv[4:]
for config in configs:
    meta = prepare_data(load_config(config, overrides)).meta
    for folder, key in (("corpus", meta["corpus_key"]), ("tokenizers", meta["tokenizer_key"]),
                        ("blocks", meta["blocks_key"])):
        shutil.copytree(cache_root() / folder / key, dest / folder / key, dirs_exist_ok=True)
        print(f"{config}: {folder}/{key}")
EOF
  du -sh "$DEST"
  exit 0
fi

# ---------------------------------------------------------------- the steps

env_report() {
  command -v nvidia-smi > /dev/null && nvidia-smi || echo "no nvidia-smi"
  git -C "$ROOT" rev-parse HEAD 2> /dev/null || echo "no git commit here"
  "$PY" - <<'EOF'
import json, platform, sys
import torch
cuda = torch.cuda.is_available()
print(json.dumps({
    "python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
    "torch_cuda": torch.version.cuda, "cuda_available": cuda,
    "device": torch.cuda.get_device_name(0) if cuda else None,
    "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
    "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
}, indent=2))
for name in ("transformers", "tokenizers", "pandas", "matplotlib", "pytest", "mlflow", "optuna", "datasets"):
    try:
        module = __import__(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except ImportError:
        print(f"{name} missing")
EOF
}

cuda_tests() {
  if ! "$PY" -c "import pytest" 2> /dev/null; then
    echo "pytest is not installed for $PY: carry it, e.g. pip install --target build/pydeps pytest,"
    echo "carry build/pydeps and set GPU_CHECK_PYTHONPATH=build/pydeps"
    return 127
  fi
  # only these files: the rest of the suite imports packages the GPU image may lack (nbformat, mlflow)
  "$PY" -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/cuda-tests/junit.xml" \
    tests/test_cuda_paths.py tests/test_device.py
}

bench() {
  local size="$1" shape=()
  if [[ "$TINY" == 1 ]]; then
    shape=(--steps 1 --warmup 0 --interleave 0 --batch-size 2 --seq-len 16 --peak-sizes 64 --threads 1)
  else
    shape=(--steps "${GPU_CHECK_BENCH_STEPS:-10}" --interleave "${GPU_CHECK_INTERLEAVE:-3}")
  fi
  "$PY" -m electra_lab.cli bench --size "$size" --device "$DEVICE" "${shape[@]}" \
    --out-dir "$OUT/bench-$size" --name "$size-$DEVICE"
}

budget() {
  local steps="${GPU_CHECK_ELECTRA_STEPS:-$([[ "$TINY" == 1 ]] && echo 3 || echo 500)}"
  "$PY" -m electra_lab.cli flops "$ELECTRA_CONFIG" "${RUN_OVERRIDES[@]}" "train.steps=$steps" \
    | tee "$OUT/budget/flops.json"
}

pretrain() {
  local config="$1" dir="$2"
  local flops
  flops="$("$PY" -c "import json, sys; print(json.load(open(sys.argv[1]))['pretrain_flops'])" "$OUT/budget/flops.json")"
  "$PY" -m electra_lab.cli pretrain --no-tracking "$config" "${RUN_OVERRIDES[@]}" "train.flops=$flops" \
    "train.device=$DEVICE" "train.progress=false" "run.output_dir=$dir/runs"
  [[ "${GPU_CHECK_KEEP_CHECKPOINTS:-0}" == 1 ]] || find "$dir/runs" \( -name "checkpoint*.pt" -o -name "checkpoint*.pt.sha256" \) -delete
}

compare() {
  "$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
runs = {}
for step in ("pretrain-electra", "pretrain-bert"):
    for summary in sorted((out / step / "runs").glob("*/summary.json")):
        s = json.loads(summary.read_text())
        final = s.get("final", {})
        runs[s["run_name"]] = {
            "steps": s["steps"], "pretrain_flops": s["pretrain_flops"], "wall_seconds": round(s["wall_seconds"], 1),
            "tokens_per_second": round(s["tokens"] / s["wall_seconds"]) if s["wall_seconds"] else None,
            **{k: v for k, v in final.items() if k.startswith("eval/")}, "run_dir": s["run_dir"]}
if len(runs) != 2:
    sys.exit(f"expected two finished runs, found {sorted(runs)}")
budget = json.loads((out / "budget" / "flops.json").read_text())["pretrain_flops"]
(out / "compare" / "comparison.json").write_text(json.dumps({"equal_flops_budget": budget, "runs": runs}, indent=2))
for name, r in runs.items():
    print(f"{name}: {r['steps']} steps, {r['pretrain_flops']:.3g} FLOPs, {r['wall_seconds']} s, "
          f"{r['tokens_per_second']} tok/s, eval loss {r.get('eval/loss')}")
EOF
}

# ---------------------------------------------------------------- running them

# `--step FUNCTION ARGS...`: how step() below runs a function under `timeout` (which runs programs,
# not shell functions): this script again, its settings rebuilt from the same environment
if [[ "${1:-}" == "--step" ]]; then
  shift
  OUT="$GPU_CHECK_RUNNING_IN"
  "$@"
  exit 0
fi

OUT="${1:-results/gpu/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export GPU_CHECK_RUNNING_IN="$OUT"
SUMMARY="$OUT/summary.tsv"
printf 'step\texit_code\tseconds\tlog\n' > "$SUMMARY"
DEADLINE="${GPU_CHECK_DEADLINE:-540}"
STEP_TIMEOUT="${GPU_CHECK_STEP_TIMEOUT:-200}"
STARTED=$SECONDS
FAILED=0

wanted() { [[ -z "${GPU_CHECK_ONLY:-}" || " $GPU_CHECK_ONLY " == *" $1 "* ]]; }

# step NAME FUNCTION ARGS...: run it with its output in OUT/NAME/log.txt, within what is left of
# the deadline (a hung step cannot eat the lease); record its exit code and keep going
step() {
  local name="$1"; shift
  wanted "$name" || return 0
  local dir="$OUT/$name" left=$(( DEADLINE - (SECONDS - STARTED) )) began=$SECONDS rc=0
  mkdir -p "$dir"
  local limit=$(( left < STEP_TIMEOUT ? left : STEP_TIMEOUT ))
  if (( limit < 15 )); then
    echo "no time left for this step (GPU_CHECK_DEADLINE=$DEADLINE)" > "$dir/log.txt"
    rc=124
  else
    echo "== $name (at most ${limit}s): $*"
    timeout --kill-after=10 "$limit" bash "${BASH_SOURCE[0]}" --step "$@" > "$dir/log.txt" 2>&1 || rc=$?
  fi
  (( rc == 0 )) || FAILED=1
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$(( SECONDS - began ))" "$dir/log.txt" >> "$SUMMARY"
  echo "   $name: exit $rc, $(( SECONDS - began ))s, log $dir/log.txt"
}

echo "gpu_check: device $DEVICE, python $PY, output $OUT, data cache ${ELECTRA_LAB_CACHE:-default}"
step env env_report
step cuda-tests cuda_tests
read -ra BENCH_SIZES <<< "${GPU_CHECK_BENCH_SIZES:-$([[ "$TINY" == 1 ]] && echo tiny || echo small base)}"
for size in "${BENCH_SIZES[@]}"; do step "bench-$size" bench "$size"; done
step budget budget
step pretrain-electra pretrain "$ELECTRA_CONFIG" "$OUT/pretrain-electra"
step pretrain-bert pretrain "$BERT_CONFIG" "$OUT/pretrain-bert"
step compare compare

echo
echo "gpu_check: everything is under $OUT; exit codes in $SUMMARY:"
column -t -s $'\t' "$SUMMARY" 2> /dev/null || cat "$SUMMARY"
exit "$FAILED"
