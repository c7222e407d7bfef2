#!/usr/bin/env bash
# State dicts saved by modelc load back into PyTorch (the reverse of the e2e
# fixtures). For every test/e2e/models/<m>.mdl:
#
#   trained: compile it, load fixtures/<m>.state, run 3 training-mode calls on
#            fixtures/<m>.inputs, save the state; it must load into the torch
#            module with load_state_dict(strict=True), with PyTorch's dtypes,
#            and equal fixtures/<m>.train.state within the tests' tolerance;
#   fresh:   the state of a freshly created model (no --load-state, one
#            evaluation-mode call) must load the same way; its values are the
#            model's own initialization, so only keys, shapes and dtypes count.
#
# Needs PyTorch (pip install torch numpy safetensors); CI does not run it.
# Usage: tools/check_roundtrip.sh [model ...]     (default: every model)
# Environment: BUILD (default build/), PYTHON (default python3),
#              WORK (scratch directory, default a fresh mktemp -d, removed after).
set -u

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
PYTHON=${PYTHON:-python3}
MODELC=$BUILD/bin/modelc
RUN=$BUILD/bin/modelc-run
GEN=$REPO/tools/gen_fixtures.py
MODELS=$REPO/test/e2e/models
FIXTURES=$REPO/test/e2e/fixtures

for tool in "$MODELC" "$RUN"; do
  [ -x "$tool" ] || { echo "check_roundtrip: $tool not found (build first, or set BUILD)" >&2; exit 2; }
done
"$PYTHON" -c 'import torch, safetensors' 2>/dev/null \
  || { echo "check_roundtrip: $PYTHON cannot import torch and safetensors" >&2; exit 2; }

if [ -n "${WORK:-}" ]; then
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/check_roundtrip.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
fi

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$MODELS"/*.mdl; do names+=("$(basename "$f" .mdl)"); done
fi

failed=()
summary=()
for m in "${names[@]}"; do
  echo "=== $m"
  so=$WORK/$m.so
  log=$WORK/$m.log
  trained=FAIL
  fresh=FAIL
  if ! "$MODELC" "$MODELS/$m.mdl" -o "$so" >"$log" 2>&1; then
    cat "$log"; echo "modelc failed"
  else
    if "$RUN" "$so" --inputs "$FIXTURES/$m.inputs.safetensors" \
         --load-state "$FIXTURES/$m.state.safetensors" --train --repeat 3 \
         --save-state "$WORK/$m.modelc.state.safetensors" >"$log" 2>&1; then
      "$PYTHON" "$GEN" --check-state "$WORK/$m.modelc.state.safetensors" --model "$m" \
        --expect train.state && trained=ok
    else
      cat "$log"; echo "modelc-run (trained) failed"
    fi
    if "$RUN" "$so" --inputs "$FIXTURES/$m.inputs.safetensors" \
         --save-state "$WORK/$m.fresh.state.safetensors" >"$log" 2>&1; then
      "$PYTHON" "$GEN" --check-state "$WORK/$m.fresh.state.safetensors" --model "$m" \
        --keys-only && fresh=ok
    else
      cat "$log"; echo "modelc-run (fresh) failed"
    fi
  fi
  summary+=("$(printf '%-20s trained %-4s fresh %s' "$m" "$trained" "$fresh")")
  [ "$trained" = ok ] && [ "$fresh" = ok ] || failed+=("$m")
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all ${#names[@]} models round-trip"
