#!/usr/bin/env bash
# Issue 13, Part 2: the GPU path measured in one go (~8 minutes on one H100/H200), every figure printed
# and written to the results folder given as $1 (at most 8 files, so a device tool can bring them back):
#   throughput.json + profile.txt   planner loop vs plain transformers loop, ~125M and ~350M, seq 2048,
#                                   torch.compile on both: tokens/s and MFU (bench_train_throughput.py)
#   ladder_isoflop.json, ladder_wsd.json   the GPU ladder preset and the WSD ladder on the same budgets,
#                                   through the job system (a worker on cuda:0): wall time, MFU per run, fit
#   adapt.json                      measured adaptation comparison on gpt2 (124M), every method except QLoRA (measured QLoRA runs are not implemented: estimate only)
#   memory.json                     estimated vs measured peak memory, 4 full-size configs (gpu_memory.py)
#   suite.log                       everything printed, with the card, the date and each step's time
#
# Usage:  benchmarks/gpu_suite.sh RESULTS_DIR [--dry-run]
#   --dry-run: CPU only, tiny stand-ins, seconds; checks every python part and prints the GPU commands.
# Missing packages (the GPU image may lack pydantic and bitsandbytes; streamlit is not needed: planner never
# imports it) are installed from wheels in $WHEELS (default .whl in the repo root), made beforehand with:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl pydantic==2.14.3 pydantic-core==<the version pydantic 2.14.3 pins> annotated-types \
#     typing-inspection bitsandbytes
# Step time limits (seconds) can be changed with T_THROUGHPUT, T_LADDER, T_ADAPT, T_MEMORY; the ladders'
# device time with LADDER_HOURS (default 0.02 h = 72 s each at the assumed 35% MFU).
set -uo pipefail

RESULTS=${1:?usage: benchmarks/gpu_suite.sh RESULTS_DIR [--dry-run]}
DRY=${2:-}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-$REPO/.whl}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
LOG="$RESULTS/suite.log"
: >"$LOG"
cd "$REPO" || exit 2
export PYTHONUNBUFFERED=1
# job store, checkpoints and tokenizer cache outside the results folder (only figures come back)
export SCALEPLAN_HOME=${SCALEPLAN_HOME:-$(mktemp -d /tmp/scaleplan-gpu-XXXX)}
FAILED=0

say() { echo "$*" | tee -a "$LOG"; }

# step NAME LIMIT_S OUTPUT_FILE COMMAND...: run one part; a failure is logged and the suite goes on
step() {
    local name=$1 limit=$2 out=$3
    shift 3
    say "=== $name: $* (limit ${limit}s) $(date -u +%H:%M:%S)"
    local start=$SECONDS
    if timeout "$limit" "$@" >"$out" 2>>"$LOG"; then
        say "--- $name done in $((SECONDS - start)) s"
    else
        say "--- $name FAILED (exit $?) after $((SECONDS - start)) s"
        FAILED=$((FAILED + 1))
    fi
    [ -s "$out" ] && tail -n 20 "$out" | tee -a "$LOG" >/dev/null
}

install_missing() {
    if ! "$PY" -c "import pydantic, transformers, torch" 2>/dev/null || { [ "$DRY" != "--dry-run" ] && ! "$PY" -c "import bitsandbytes" 2>/dev/null; }; then
        if [ -d "$WHEELS" ]; then
            say "installing wheels from $WHEELS"
            "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
            export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
        else
            say "missing packages and no wheels folder $WHEELS (see the header of this script)"
        fi
    fi
    "$PY" -c "import pydantic, transformers, torch" || { say "cannot import pydantic/transformers/torch"; exit 2; }
}

install_missing
"$PY" - <<'PYEOF' | tee -a "$LOG"
import datetime, platform, torch, transformers
card = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device"
print(f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; card {card}; torch {torch.__version__}; "
      f"transformers {transformers.__version__}; python {platform.python_version()}")
PYEOF

H=${LADDER_HOURS:-0.02}
if [ "$DRY" = "--dry-run" ]; then  # the same python parts on CPU with tiny stand-ins; designs and estimates only
    step throughput "${T_THROUGHPUT:-120}" "$RESULTS/throughput.log" \
        "$PY" benchmarks/bench_train_throughput.py --device cpu --model tiny --steps 4 --warmup 2 \
        --out "$RESULTS/throughput.json" --profile "$RESULTS/profile.txt"
    step memory "${T_MEMORY:-120}" "$RESULTS/memory.log" "$PY" benchmarks/gpu_memory.py --dry-run --out "$RESULTS/memory.json"
    step ladder-design 60 "$RESULTS/ladder_wsd.json" \
        "$PY" -m planner ladder --device cuda --preset gpu --design wsd --gpu-hours "$H" --design-only --json
    step adapt-estimate 60 "$RESULTS/adapt.json" "$PY" -m planner adapt-estimate --preset gpt2 --method all --json
    say "dry run finished: $FAILED part(s) failed"
    exit $((FAILED > 0))
fi

step throughput "${T_THROUGHPUT:-240}" "$RESULTS/throughput.log" \
    "$PY" benchmarks/bench_train_throughput.py --device cuda --sizes 125e6 350e6 --seq-len 2048 --batch 16 \
    --steps 20 --warmup 5 --out "$RESULTS/throughput.json" --profile "$RESULTS/profile.txt"
step ladder-isoflop "${T_LADDER:-150}" "$RESULTS/ladder_isoflop.json" \
    "$PY" -m planner ladder --device cuda --preset gpu --design isoflop --gpu-hours "$H" --json --timeout "${T_LADDER:-150}"
step ladder-wsd "${T_LADDER:-150}" "$RESULTS/ladder_wsd.json" \
    "$PY" -m planner ladder --device cuda --preset gpu --design wsd --gpu-hours "$H" --json --timeout "${T_LADDER:-150}"
step adapt "${T_ADAPT:-120}" "$RESULTS/adapt.json" \
    "$PY" -m planner adapt --device cuda --preset gpt2 --methods all --steps 20 --base-steps 50 --batch 8 --seq 512 \
    --precision amp --json
step memory "${T_MEMORY:-120}" "$RESULTS/memory.log" \
    "$PY" benchmarks/gpu_memory.py --out "$RESULTS/memory.json"
rm -f "$RESULTS/throughput.log" "$RESULTS/memory.log"  # their tables are in suite.log; keep to 8 files
say "suite finished: $FAILED part(s) failed; results in $RESULTS"
exit $((FAILED > 0))
