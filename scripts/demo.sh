#!/usr/bin/env bash
# `make demo`: what modelc makes of the seed's TinyModel, end to end:
#   1. the state dict the compiler derived from tiny.mdl (mdl dialect);
#   2. tiny.mdl compiled into one self-contained shared library, tiny.so;
#   3. modelc-run --info on it;
#   4. examples/tiny/main.c linked against tiny.so and run with a state dict
#      that PyTorch saved, printing the class probabilities.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
fixtures=test/e2e/fixtures

show() { echo "\$ $*"; "$@"; echo; }

echo "State dict of examples/tiny/tiny.mdl (PyTorch's names and order), from"
echo "\$ build/bin/modelc examples/tiny/tiny.mdl --emit=mdl"
build/bin/modelc examples/tiny/tiny.mdl --emit=mdl |
  sed -n 's/^ *mdl\.\(param\|buffer\) @"\{0,1\}\([^" ]*\)"\{0,1\} : \(tensor<[^>]*>\).*/  \2  \3  (\1)/p'
echo

show build/bin/modelc examples/tiny/tiny.mdl -o "$out/tiny.so"
show build/bin/modelc-run "$out/tiny.so" --info

# The link step of an application: the program needs only modelc.h. The
# library has no SONAME, so the program records the name it was linked
# with, "tiny.so", and finds it next to itself through the rpath $ORIGIN.
echo "\$ cd $out && cc ../../examples/tiny/main.c -I ../../runtime/include tiny.so -Wl,-rpath,'\$ORIGIN' -o tiny"
(cd "$out" && cc ../../examples/tiny/main.c -I ../../runtime/include tiny.so -Wl,-rpath,'$ORIGIN' -o tiny)
echo

echo "A deterministic batch of 2 rows, with the weights PyTorch saved:"
show "$out/tiny" "$fixtures/tiny.state.safetensors"
echo "PyTorch's own test inputs (x: [3, 100]); test/Examples/tiny.test checks"
echo "these probabilities against PyTorch's model.eval() output:"
show "$out/tiny" "$fixtures/tiny.state.safetensors" "$fixtures/tiny.inputs.safetensors"
