#!/usr/bin/env bash
# `make demo`: compiles the seed's TinyModel and shows what the compiler made
# of it: every state entry with its kind, shape and initializer, then the
# evaluation and training functions in the mdl dialect.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "\$ build/bin/modelc examples/tiny/tiny.mdl --emit=mdl"
build/bin/modelc examples/tiny/tiny.mdl --emit=mdl
echo
echo "State dict (PyTorch's names and order):"
build/bin/modelc examples/tiny/tiny.mdl --emit=mdl |
  sed -n 's/^ *mdl\.\(param\|buffer\) @"\{0,1\}\([^" ]*\)"\{0,1\} : \(tensor<[^>]*>\).*/  \2  \3  (\1)/p'
