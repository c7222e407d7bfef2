#!/bin/sh
# build-fake.sh OUT.so [cflags...]: compile fake_model.c as the compiler's
# object file would be (PIC, hidden symbols) and link it with modelc-link,
# the exact link step of `modelc`.
set -eu
out=$1
shift
cc -c -fPIC -fvisibility=hidden -O1 "$@" "$(dirname "$0")/fake_model.c" -o "$out.o"
modelc-link --prefix Fake -o "$out" "$out.o"
