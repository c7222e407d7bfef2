#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ in build-fuzz/ with clang-22 and runs
# each for SECONDS (default 600) from a seed corpus made of the test files and
# of fuzz/seeds.py's inputs that amplify.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   TARGET: frontend safetensors inputs
#
# Needs clang-22 and libclang-rt-22-dev (apt-get install clang-22
# libclang-rt-22-dev); `make test` does not. Per target, under
# build-fuzz/fuzz-out/TARGET/: corpus/ (seeds plus what libFuzzer found),
# crash-*/timeout-*/oom-*/slow-unit-* artifacts and fuzz.log. One summary
# line per target, with the executions, coverage (cov: edges) and features
# (ft) of libFuzzer's last status line, goes to stdout and is appended,
# dated, to build-fuzz/fuzz-out/summary.txt. Exit status 1 if any target left
# a crash, timeout or OOM. See docs/FUZZING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frontend safetensors inputs)
jobs=${FUZZ_BUILD_JOBS:-1}

for t in "${targets[@]}"; do
  case $t in frontend|safetensors|inputs) ;;
    *) echo "fuzz.sh: unknown target '$t' (frontend, safetensors, inputs)" >&2; exit 2 ;;
  esac
done
command -v clang++-22 >/dev/null || {
  echo "fuzz.sh: clang++-22 not found: apt-get install clang-22 libclang-rt-22-dev" >&2
  exit 2
}

# Assertions stay on (no NDEBUG): -O1 -g rather than Release's -O3 -DNDEBUG.
if [ ! -f build-fuzz/build.ninja ]; then
  launcher=()
  command -v ccache >/dev/null &&
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S . -B build-fuzz \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    "${launcher[@]}" \
    -DMLIR_DIR="$(llvm-config-22 --prefix)/lib/cmake/mlir" \
    -DMODELC_BUILD_FUZZERS=ON
fi
ninja -C build-fuzz -j"$jobs" $(printf 'modelc-fuzz-%s ' "${targets[@]}")

out=build-fuzz/fuzz-out
mkdir -p "$out"

# The generated seeds of fuzz/seeds.py (inputs that amplify: module trees,
# call trees, high ranks, many entries, overflowing sizes), written once.
generated=$out/generated-seeds
rm -rf "$generated"
python3 fuzz/seeds.py "$generated"

# Seeds: copies of the test files and the generated ones (libFuzzer adds to
# the corpus directory).
seed() {
  local t=$1 corpus=$out/$1/corpus
  mkdir -p "$corpus"
  case $t in
    frontend)
      for f in "$generated"/mdl/*.mdl; do
        cp "$f" "$corpus/seed-generated-$(basename "$f")"
      done
      for f in test/Frontend/*.mdl test/Frontend/errors/*.mdl \
               test/e2e/models/*.mdl examples/*/*.mdl; do
        cp "$f" "$corpus/seed-$(echo "${f%.mdl}" | tr / _).mdl"
      done
      # The .mdl files inside split-file tests.
      local split tmp
      split="$(llvm-config-22 --bindir)/split-file"
      for f in test/Frontend/*.test test/Frontend/errors/*.test; do
        grep -q '^#--- .*\.mdl$' "$f" || continue
        tmp=$(mktemp -d)
        "$split" "$f" "$tmp"
        for m in "$tmp"/*.mdl; do
          cp "$m" "$corpus/seed-$(basename "${f%.test}")-$(basename "$m")"
        done
        rm -rf "$tmp"
      done ;;
    safetensors|inputs)
      for f in "$generated"/safetensors/*.safetensors; do
        cp "$f" "$corpus/seed-generated-$(basename "$f")"
      done
      for f in test/e2e/fixtures/*.safetensors; do
        cp "$f" "$corpus/seed-$(basename "$f")"
      done
      local tmp
      tmp=$(mktemp -d)
      python3 test/Runtime/Inputs/st.py malformed "$tmp"
      for f in "$tmp"/*.safetensors; do cp "$f" "$corpus/seed-malformed-$(basename "$f")"; done
      rm -rf "$tmp"
      # The fake model's own input and state dict, as test/Runtime uses them.
      python3 test/Runtime/Inputs/st.py write "$corpus/seed-fake-inputs.safetensors" \
        x:F32:2,2:1,2,3,4
      python3 test/Runtime/Inputs/st.py write "$corpus/seed-fake-state.safetensors" \
        scale:F32::2 count:I64::0 lin.weight:F32:3,2:1,2,3,4,5,6 \
        lin.bias:F32:3:1,2,3 lin.half:F16:2:1.5,1.5 ;;
  esac
}

status=0
for t in "${targets[@]}"; do
  dir=$out/$t
  mkdir -p "$dir"
  seed "$t"
  rm -f "$dir"/crash-* "$dir"/timeout-* "$dir"/oom-* "$dir"/slow-unit-* "$dir"/leak-*
  echo "fuzz.sh: running modelc-fuzz-$t for ${seconds}s (log: $dir/fuzz.log)" >&2
  # -fork keeps going after a crash so that one run can find several; every
  # artifact lands in $dir.
  if [ "$t" = frontend ]; then dict=mdl.dict; else dict=safetensors.dict; fi
  set +e
  (cd "$dir" && "$root/build-fuzz/bin/modelc-fuzz-$t" corpus -dict="$root/fuzz/$dict" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -artifact_prefix="$root/$dir/" -print_final_stats=1 > fuzz.log 2>&1)
  set -e
  # The fork mode's status lines, the last one the final figures:
  # "#EXECS: cov: EDGES ft: FEATURES corp: N exec/s: R oom/timeout/crash: ...".
  last=$(grep -E '^#[0-9]+: cov: ' "$dir/fuzz.log" | tail -1 || true)
  execs=$(echo "$last" | grep -oE '^#[0-9]+' | tr -d '#' || true)
  cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || true)
  ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || true)
  crashes=$(find "$dir" -maxdepth 1 -name 'crash-*' | wc -l)
  timeouts=$(find "$dir" -maxdepth 1 -name 'timeout-*' | wc -l)
  ooms=$(find "$dir" -maxdepth 1 -name 'oom-*' | wc -l)
  slow=$(find "$dir" -maxdepth 1 -name 'slow-unit-*' | wc -l)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  line="$t: ${seconds}s, ${execs:-0} executions ($(( ${execs:-0} / seconds )) exec/s), cov ${cov:-0}, ft ${ft:-0}, $crashes crashes, $timeouts timeouts, $ooms ooms, $slow slow units, corpus $corpus files"
  echo "$line"
  echo "$(date -u +%FT%TZ) $line" >> "$out/summary.txt"
  [ $((crashes + timeouts + ooms)) -eq 0 ] || status=1
done
exit $status
