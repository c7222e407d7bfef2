#!/bin/sh
# needed-symbols.sh RUNTIME.a OBJECT...: every symbol the OBJECTs (what
# `modelc -c` writes) leave undefined, one a line, with where a model.so
# finds it: "runtime" (defined by the runtime archive), "libc" (libc.so.6 or
# libm.so.6, what a model.so may need at run time) or "MISSING". Exits 1 when
# one is missing: a runtime entry point (__kmpc_*, mgpu*, _mlir_*) that the
# compiler started to call and the runtime does not define.
set -eu
archive=$1
shift
tmp=${TMPDIR:-/tmp}/needed-symbols.$$
trap 'rm -f "$tmp".*' EXIT
nm --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u > "$tmp.runtime"
nm -D --defined-only "$(cc -print-file-name=libc.so.6)" "$(cc -print-file-name=libm.so.6)" |
  awk 'NF == 3 { sub(/@.*/, "", $3); print $3 }' | sort -u > "$tmp.libc"
for object in "$@"; do nm -u "$object"; done | awk '{ print $NF }' | sort -u > "$tmp.needed"
test -s "$tmp.runtime" && test -s "$tmp.libc" && test -s "$tmp.needed"
status=0
while read -r symbol; do
  if grep -qxF "$symbol" "$tmp.runtime"; then
    echo "$symbol runtime"
  elif grep -qxF "$symbol" "$tmp.libc"; then
    echo "$symbol libc"
  else
    echo "$symbol MISSING"
    status=1
  fi
done < "$tmp.needed"
exit $status
