#!/usr/bin/env bash
# scripts/gpu-check.sh - issue 5's check on a machine with an NVIDIA GPU
# (docs/GPU-CHECK.md). Builds nothing: it uses build/bin and build/lib as
# they are.
#
#   scripts/gpu-check.sh --prepare   # on the BUILD machine, after building:
#                                    # fills build/gpu-check/ (see below)
#   scripts/gpu-check.sh             # on the GPU machine: nvidia-smi, the whole
#                                    # e2e suite with --param modelc_target=cuda,
#                                    # bench/gpu.py, a summary; exit 1 if any e2e
#                                    # test (or a benchmark check) failed
#   scripts/gpu-check.sh --dry-run   # without a GPU: the same steps on the CPU
#                                    # device (MODELC_GPU_CHECK_ALLOW_NO_GPU=1 too)
#
# Without a GPU or driver (and without --dry-run) it says so and exits 2 at
# once. Options: --skip-e2e, --skip-bench, --time-limit S (whole run, default
# 450), --log-dir D (full logs; default a new folder under /tmp).
#
# Why --prepare: build/bin/modelc links LLVM/MLIR 22 from this machine's
# packages, which a GPU machine of another image may lack, and that machine
# may have neither lit nor FileCheck and no network. --prepare puts into
# build/gpu-check/: lit (copied from LLVM 22), FileCheck/not/count (with a
# stub libz3 that they load but never call), every e2e `modelc` command's
# result recorded by scripts/gpu_check_modelc.py (the suite is run here with
# --target=cuda, kernels on the CPU), and every benchmark model compiled with
# --target=cuda (bench/gpu.py --prepare). Carry build/bin, build/lib and
# build/gpu-check to the GPU machine. There, the real modelc is used when it
# runs; otherwise the recorded results are (a command that was not recorded
# fails, saying to rerun --prepare).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${MODELC_BUILD_DIR:-$ROOT/build}
BUNDLE=$BUILD/gpu-check
PY=${PYTHON:-python3}
MODE=gpu
SKIP_E2E=0
SKIP_BENCH=0
TIME_LIMIT=450
LOG_DIR=
[ "${MODELC_GPU_CHECK_ALLOW_NO_GPU:-0}" = 1 ] && MODE=dry
while [ $# -gt 0 ]; do
  case $1 in
    --prepare) MODE=prepare ;;
    --dry-run) MODE=dry ;;
    --skip-e2e) SKIP_E2E=1 ;;
    --skip-bench) SKIP_BENCH=1 ;;
    --time-limit) TIME_LIMIT=$2; shift ;;
    --log-dir) LOG_DIR=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option '$1' (--help)" >&2; exit 64 ;;
  esac
  shift
done

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( TIME_LIMIT - $(elapsed) )); }
say() { echo "gpu-check: $*"; }
die() { echo "gpu-check: error: $*" >&2; exit "${2:-1}"; }

[ -n "$LOG_DIR" ] || LOG_DIR=$(mktemp -d /tmp/gpu-check.XXXXXX)
mkdir -p "$LOG_DIR"
WORK=$(mktemp -d /tmp/gpu-check-work.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

need_binaries() {  # modelc itself may be missing or unable to run: see --prepare
  local f
  for f in modelc-run st-compare; do
    [ -x "$BUILD/bin/$f" ] || die "$BUILD/bin/$f is missing: build first (make build) or carry build/bin"
  done
}

modelc_works() { "$BUILD/bin/modelc" --version >/dev/null 2>&1; }

# ---- the GPU -----------------------------------------------------------------
# Asks the driver itself (libcuda.so.1, cuInit, cuDeviceGetCount), as the
# modelc runtime does; prints the reason when there is no usable GPU.
gpu_probe() {
  "$PY" - <<'EOF'
import ctypes, sys
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print(f"the CUDA driver libcuda.so.1 could not be loaded ({e}); is an NVIDIA driver installed?")
    sys.exit(1)
r = cuda.cuInit(0)
if r != 0:
    print(f"cuInit failed with CUDA error {r}")
    sys.exit(1)
n = ctypes.c_int(0)
cuda.cuDeviceGetCount(ctypes.byref(n))
if n.value == 0:
    print("the CUDA driver found no device")
    sys.exit(1)
names = []
for i in range(n.value):
    d = ctypes.c_int(0)
    cuda.cuDeviceGet(ctypes.byref(d), i)
    buf = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(buf, 256, d)
    names.append(f"cuda:{i} {buf.value.decode()}")
print("; ".join(names))
EOF
}

# ---- lit and the LLVM test tools ----------------------------------------------
# Prints a command that runs lit (with lit.llvm importable), or nothing.
find_lit() {
  local d
  if command -v lit-22 >/dev/null 2>&1; then echo lit-22; return; fi
  for d in /usr/lib/llvm-*/utils/lit /usr/lib/llvm-*/build/utils/lit "$BUNDLE/lit"; do
    if [ -f "$d/lit/main.py" ] && [ -f "$d/lit/llvm/config.py" ]; then
      printf 'import sys\nsys.path.insert(0, "%s")\nfrom lit.main import main\nmain()\n' "$d" > "$WORK/lit.py"
      echo "$PY $WORK/lit.py"
      return
    fi
  done
  if "$PY" -c "import lit.main, lit.llvm" >/dev/null 2>&1; then echo "$PY -m lit.main"; return; fi
  if command -v lit >/dev/null 2>&1; then echo lit; return; fi
}

# A folder with FileCheck, not and count that run here, or nothing.
find_llvm_tools() {
  local d
  for d in /usr/lib/llvm-22/bin $(dirname "$(command -v FileCheck 2>/dev/null || echo /nonexistent/x)"); do
    if [ -x "$d/FileCheck" ] && [ -x "$d/not" ] && [ -x "$d/count" ] \
        && "$d/FileCheck" --version >/dev/null 2>&1; then
      echo "$d"; return
    fi
  done
  if [ -x "$BUNDLE/tools/libexec/FileCheck" ]; then
    mkdir -p "$WORK/llvm-bin"
    for t in FileCheck not count; do
      printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
        "$BUNDLE/tools/lib" "$BUNDLE/tools/libexec/$t" > "$WORK/llvm-bin/$t"
      chmod +x "$WORK/llvm-bin/$t"
    done
    if "$WORK/llvm-bin/FileCheck" --version >/dev/null 2>&1; then echo "$WORK/llvm-bin"; return; fi
  fi
}

# The e2e suite's lit configuration for this tree, wherever it lies: a site
# config in $WORK that points at $ROOT/test/lit.cfg.py, its tools folder
# holding a `modelc` wrapper (scripts/gpu_check_modelc.py) and modelc-run,
# st-compare from build/bin (through a CPU shim in record and dry-run modes).
setup_suite() {  # $1: record | replay | dry ; $2: llvm tools dir
  local how=$1 tools=$2 real_works=0
  modelc_works && real_works=1
  mkdir -p "$WORK/bin" "$WORK/obj" "$WORK/lit/test/e2e" "$BUNDLE/e2e-cache"
  local mode=replay
  [ "$how" = record ] && mode=record
  cat > "$WORK/bin/modelc" <<EOF
#!/bin/sh
MODELC_GPU_CHECK_REAL="$BUILD/bin/modelc" MODELC_GPU_CHECK_CACHE="$BUNDLE/e2e-cache" \\
MODELC_GPU_CHECK_MODE=$mode MODELC_GPU_CHECK_ROOT="$ROOT" MODELC_GPU_CHECK_REAL_WORKS=$real_works \\
exec "$PY" "$ROOT/scripts/gpu_check_modelc.py" "\$@"
EOF
  ln -sf "$BUILD/bin/st-compare" "$WORK/bin/st-compare"
  ln -sf "$BUILD/bin/mdl-opt" "$WORK/bin/mdl-opt"
  if [ "$how" = replay ]; then
    ln -sf "$BUILD/bin/modelc-run" "$WORK/bin/modelc-run"
  else  # no GPU here: the same commands with the CPU device
    cat > "$WORK/bin/modelc-run" <<EOF
#!/bin/sh
# gpu-check: no GPU here; drop --device cuda[:N] so that the CUDA libraries run on the CPU
n=\$#; i=0; skip=0
for a in "\$@"; do
  i=\$((i+1))
  if [ \$skip = 1 ]; then skip=0
  elif [ "\$a" = --device ]; then skip=1
  else case \$a in --device=*) ;; *) set -- "\$@" "\$a" ;; esac
  fi
done
shift \$n
exec "$BUILD/bin/modelc-run" "\$@"
EOF
  fi
  chmod +x "$WORK/bin/modelc" "$WORK/bin/modelc-run"
  cat > "$WORK/lit/test/lit.site.cfg.py" <<EOF
# Written by scripts/gpu-check.sh for $ROOT
config.modelc_src_root = "$ROOT"
config.modelc_obj_root = "$WORK/obj"
config.modelc_tools_dir = "$WORK/bin"
config.llvm_tools_dir = "$tools"
config.modelc_sanitizers = "OFF"
import lit.llvm
lit.llvm.initialize(lit_config, config)
lit_config.load_config(config, "$ROOT/test/lit.cfg.py")
EOF
}

# Runs the e2e suite; writes the log; sets E2E_PASS, E2E_FAIL, E2E_STATUS.
run_e2e() {  # $1: record | replay | dry ; $2: seconds
  local how=$1 secs=$2 lit tools rc
  E2E_PASS=0; E2E_FAIL=0; E2E_STATUS=
  lit=$(find_lit)
  if [ -z "$lit" ]; then
    E2E_STATUS="NOT RUN: no lit here (no lit-22, no LLVM utils/lit, no python lit, and no $BUNDLE/lit: run --prepare on the build machine)"
    return 1
  fi
  tools=$(find_llvm_tools)
  if [ -z "$tools" ]; then
    say "FileCheck, not and count: NOT FOUND (nor in $BUNDLE/tools): the tests that pipe into FileCheck will fail"
    mkdir -p "$WORK/fake-llvm"
    tools=$WORK/fake-llvm  # lit.llvm needs the names to exist; these say why they fail
    for t in FileCheck not count; do
      printf '#!/bin/sh\necho "%s: not available on this machine (scripts/gpu-check.sh)" >&2\nexit 127\n' "$t" > "$tools/$t"
      chmod +x "$tools/$t"
    done
  else
    say "lit: $lit; FileCheck/not/count: $tools"
  fi
  if [ "$how" = replay ] && ! modelc_works; then
    say "build/bin/modelc does not run here ($("$BUILD/bin/modelc" --version 2>&1 | head -1)); replaying the results recorded by --prepare ($(ls "$BUNDLE/e2e-cache" 2>/dev/null | wc -l) commands)"
  fi
  setup_suite "$how" "$tools"
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  say "e2e suite: $lit -sv -j $jobs --param modelc_target=cuda (time limit ${secs} s; log $LOG_DIR/e2e.log)"
  timeout -k 10 "$secs" $lit -sv -j "$jobs" --param modelc_target=cuda "$WORK/lit/test/e2e" \
    > "$LOG_DIR/e2e.log" 2>&1
  rc=$?
  E2E_PASS=$(grep -Eo '^ *Passed *: *[0-9]+' "$LOG_DIR/e2e.log" | grep -Eo '[0-9]+' | tail -1)
  E2E_FAIL=$(grep -Eo '^ *(Failed|Unresolved|Timed Out) *: *[0-9]+' "$LOG_DIR/e2e.log" \
    | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  E2E_PASS=${E2E_PASS:-0}
  grep -E '^(FAIL|UNRESOLVED|TIMEOUT):' "$LOG_DIR/e2e.log" | sed 's/^/  /'
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    E2E_STATUS="TIMED OUT after ${secs} s ($E2E_PASS passed before)"; return 1
  fi
  if [ "$E2E_PASS" = 0 ] && [ "$E2E_FAIL" = 0 ]; then
    E2E_STATUS="lit ran no test (exit $rc): see $LOG_DIR/e2e.log"
    tail -20 "$LOG_DIR/e2e.log"
    return 1
  fi
  E2E_STATUS="$E2E_PASS passed, $E2E_FAIL failed"
  [ $rc = 0 ] && [ "$E2E_FAIL" = 0 ]
}

# ---- --prepare (on the build machine) --------------------------------------------
if [ $MODE = prepare ]; then
  need_binaries
  modelc_works || die "$BUILD/bin/modelc does not run here: --prepare runs on the build machine"
  mkdir -p "$BUNDLE/tools/libexec" "$BUNDLE/tools/lib"
  # lit, from LLVM 22 (pure Python)
  for d in /usr/lib/llvm-22/utils/lit /usr/lib/llvm-22/build/utils/lit; do
    if [ -f "$d/lit/main.py" ]; then
      rm -rf "$BUNDLE/lit"; mkdir -p "$BUNDLE/lit"
      cp -r "$d/lit" "$BUNDLE/lit/"
      find "$BUNDLE/lit" -name __pycache__ -prune -exec rm -rf {} +
      break
    fi
  done
  [ -f "$BUNDLE/lit/lit/main.py" ] || say "warning: no LLVM 22 lit found to copy"
  for t in FileCheck not count; do
    cp /usr/lib/llvm-22/bin/$t "$BUNDLE/tools/libexec/" 2>/dev/null || say "warning: no /usr/lib/llvm-22/bin/$t"
  done
  # FileCheck and not name libz3.so.4 but never call it: a stub satisfies the loader
  echo 'void modelc_gpu_check_z3_stub(void) {}' > "$WORK/stub.c"
  cc -shared -fPIC -o "$BUNDLE/tools/lib/libz3.so.4" -Wl,-soname,libz3.so.4 "$WORK/stub.c" \
    || say "warning: cannot build the libz3 stub"
  # every e2e modelc command, recorded (the suite runs here on the CPU)
  rm -rf "$BUNDLE/e2e-cache"
  if run_e2e record 1800; then
    say "e2e (recorded; kernels ran on the CPU): $E2E_STATUS"
  else
    say "e2e (recorded; kernels ran on the CPU): $E2E_STATUS -- see $LOG_DIR/e2e.log"
  fi
  say "recorded $(ls "$BUNDLE/e2e-cache" | wc -l) modelc commands"
  # the benchmark's models, --target=cuda
  "$PY" "$ROOT/bench/gpu.py" --prepare "$BUNDLE/bench" --modelc "$BUILD/bin/modelc" \
    || die "bench/gpu.py --prepare failed"
  say "build/gpu-check: $(du -sh "$BUNDLE" | cut -f1); carry build/bin build/lib build/gpu-check ($(du -shc "$BUILD/bin" "$BUILD/lib" "$BUNDLE" | tail -1 | cut -f1) together)"
  exit 0
fi

# ---- the check ---------------------------------------------------------------
say "$(date '+%Y-%m-%d %H:%M:%S'), $ROOT (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), $(nproc 2>/dev/null) CPUs"
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout 30 nvidia-smi || say "nvidia-smi failed"
else
  say "nvidia-smi: not installed here"
fi
GPU=$(gpu_probe)
GPU_OK=$?
if [ $GPU_OK != 0 ]; then
  if [ $MODE != dry ]; then
    echo "gpu-check: error: no usable GPU on this machine: $GPU" >&2
    echo "gpu-check: (scripts/gpu-check.sh --dry-run runs the same steps on the CPU device)" >&2
    exit 2
  fi
  say "no usable GPU ($GPU): DRY RUN on the CPU device (kernels run as host code; no GPU result)"
else
  say "device: $GPU"
  [ $MODE = dry ] && say "--dry-run on a machine with a GPU: still the CPU device"
fi

need_binaries
E2E_STATUS="skipped (--skip-e2e)"; E2E_OK=1
if [ $SKIP_E2E = 0 ]; then
  if [ $MODE = dry ]; then how=dry; secs=$(( $(left) - 60 )); else how=replay; secs=$(( $(left) > 420 ? 150 : $(left) / 3 )); fi
  [ $secs -lt 30 ] && secs=30
  if run_e2e $how $secs; then E2E_OK=1; else E2E_OK=0; fi
  say "e2e suite (--param modelc_target=cuda$([ $how = dry ] && echo ', CPU device')): $E2E_STATUS"
fi

BENCH_STATUS="skipped (--skip-bench)"; BENCH_OK=1
if [ $SKIP_BENCH = 0 ]; then
  limit=$(( $(left) - 30 ))
  [ $limit -gt 300 ] && limit=300
  if [ $limit -lt 30 ]; then
    BENCH_STATUS="NOT RUN: no time left"; BENCH_OK=0
  else
    pre=()
    [ -f "$BUNDLE/bench/manifest.json" ] && pre=(--prebuilt "$BUNDLE/bench")
    if [ $MODE = dry ]; then
      args=(--device cpu --quick --target cuda --results "$LOG_DIR/GPU-RESULTS.dry-run.md")
    else
      args=(--device cuda)
    fi
    say "bench: $PY bench/gpu.py ${args[*]} ${pre[*]} --time-limit $limit (log $LOG_DIR/bench.log)"
    PYTHONUNBUFFERED=1 timeout -k 10 $(( limit + 60 )) "$PY" "$ROOT/bench/gpu.py" "${args[@]}" \
      "${pre[@]}" --modelc "$BUILD/bin/modelc" --modelc-run "$BUILD/bin/modelc-run" \
      --time-limit "$limit" 2>&1 | tee "$LOG_DIR/bench.log"
    rc=${PIPESTATUS[0]}
    case $rc in
      0) BENCH_STATUS="ok" ;;
      124|137) BENCH_STATUS="TIMED OUT"; BENCH_OK=0 ;;
      *) BENCH_STATUS="FAILED (exit $rc): $(grep '^FAILED\|^FATAL' "$LOG_DIR/bench.log" | head -3 | tr '\n' ' ')"; BENCH_OK=0 ;;
    esac
    [ $MODE != dry ] && [ -f "$ROOT/bench/GPU-RESULTS.md" ] && BENCH_STATUS="$BENCH_STATUS; bench/GPU-RESULTS.md written"
  fi
fi

echo
echo "==== gpu-check summary ($(elapsed) s$([ $MODE = dry ] && echo ', DRY RUN without a GPU'))"
echo "device:    ${GPU}"
echo "e2e suite: $E2E_STATUS"
echo "benchmark: $BENCH_STATUS"
echo "logs:      $LOG_DIR"
[ $E2E_OK = 1 ] && [ $BENCH_OK = 1 ] && exit 0
exit 1
