#!/usr/bin/env bash
# Every benchmark at GPU-sized workloads, in at most about 10 minutes, with the figures written to
# benchmarks/RESULTS.md (or, when $OUT is set, to $OUT/RESULTS_gpu.md and $OUT/gpu.log, to be
# merged into RESULTS.md by hand) under a heading that names the device.
#
#   bash benchmarks/gpu.sh            # on a GPU node, from the repository root
#   bash benchmarks/gpu.sh --quick    # CPU-sized smoke run of the same script (about 5 minutes)
#
# Needs tsmodels importable (an installed environment, or run from the repository root: the
# script puts the root on PYTHONPATH) and, for the reference columns, the test extra's anchors
# (astropy, celerite2, nifty-ls). On a machine without network, carry them as wheels in .whl/
# (see benchmarks/RESULTS.md, "GPU runs"): they are installed into /tmp/site first. A benchmark
# whose anchor is missing is skipped with a note, never fails the whole run; each has a time
# limit so the total stays bounded.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
PY=${PYTHON:-python3}
command -v "$PY" > /dev/null || PY=python
export TSMODELS_CACHE_DIR=${TSMODELS_CACHE_DIR:-$(mktemp -d /tmp/tsmodels-gpu-cache-XXXX)}

if [[ -n "${OUT:-}" ]]; then RES="$OUT/RESULTS_gpu.md"; LOG="$OUT/gpu.log"; else RES=""; LOG=$(mktemp /tmp/gpu-log-XXXX); fi
: > "$LOG"

DEVICE=$("$PY" -c 'import jax; d = jax.devices()[0]; print(f"{d.platform}: {d.device_kind} x{jax.device_count()}")' 2>/dev/null || echo "unknown device")
GPUNAME=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
STAMP=$(date -u +%Y-%m-%d)
VERSIONS=$("$PY" -c 'import jax, numpy; print(f"jax {jax.__version__}, numpy {numpy.__version__}")' 2>/dev/null)

if (( QUICK )); then
  LS="--n-objects 100 --repeat 1 --quick"; GP="--sizes 100 1000 --fits 100 --min-time 0.2"
  FIT="--n-fit 200 --n-scipy 20 --n-sample 20 --n-numpyro 2 --warmup 100 --samples 100 --chains 2"
  LAT="--tasks fit_drw lombscargle --objects 100"; PIPE="--n 600 --chunk-size 300 --anchor-n 20"
  LIMIT=(300 300 300 300 300)
else
  LS="--n-objects 20000 --repeat 2"; GP="--sizes 1000 10000 100000 --fits 10000 --min-time 0.5"
  FIT="--n-fit 20000 --n-scipy 100 --n-sample 2000 --n-numpyro 5"
  LAT="--tasks fit_drw fit_multiband_drw sample_drw lombscargle lombscargle_multiband --objects 2000"
  PIPE="--n 50000 --chunk-size 25000 --anchor-n 200"
  LIMIT=(120 100 150 110 120)
fi

run() {  # name, limit, command...
  local name=$1 limit=$2; shift 2
  echo "### $name" >> "$LOG"
  echo "\`$*\`" >> "$LOG"
  echo '```' >> "$LOG"
  local t0=$SECONDS
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo '```' >> "$LOG"
  if (( rc == 124 )); then echo "(stopped at its ${limit} s limit)" >> "$LOG"; elif (( rc )); then echo "(exit code $rc: see the output above)" >> "$LOG"; fi
  echo "($((SECONDS - t0)) s)" >> "$LOG"; echo >> "$LOG"
  echo "$name: rc=$rc, $((SECONDS - t0)) s"
}

T0=$SECONDS
run "bench_lombscargle.py" "${LIMIT[0]}" "$PY" benchmarks/bench_lombscargle.py $LS
run "bench_gp.py" "${LIMIT[1]}" "$PY" benchmarks/bench_gp.py $GP
run "bench_fitting.py" "${LIMIT[2]}" "$PY" benchmarks/bench_fitting.py $FIT
run "bench_latency.py" "${LIMIT[3]}" "$PY" benchmarks/bench_latency.py $LAT
run "bench_pipeline.py" "${LIMIT[4]}" "$PY" benchmarks/bench_pipeline.py $PIPE

{
  echo
  echo "## gpu.sh run $STAMP on $DEVICE${GPUNAME:+ ($GPUNAME)}"
  echo
  echo "Written by \`benchmarks/gpu.sh$( ((QUICK)) && echo ' --quick')\` in $((SECONDS - T0)) s; $VERSIONS; float64 unless a table says otherwise."
  echo "Reference packages ran on the node's CPUs ($(nproc) cores)."
  echo
  cat "$LOG"
} > "${RES:-/tmp/gpu-section.md}"
if [[ -n "$RES" ]]; then echo "wrote $RES"
elif (( QUICK )); then echo "smoke run: wrote /tmp/gpu-section.md (RESULTS.md untouched)"
else cat /tmp/gpu-section.md >> benchmarks/RESULTS.md; echo "appended to benchmarks/RESULTS.md"; fi
