#!/bin/sh
# build-fake.sh OUT.so [cflags...]: compile fake_model.c as the compiler's
# object file would be (PIC, hidden symbols) and link it as `modelc` links
# every model: `modelc OBJECTS.o --prefix=NAME -o OUT.so` is the link step
# of `modelc model.mdl -o OUT.so` alone (compiler/lowering/emission/Link.cpp).
set -eu
out=$1
shift
cc -c -fPIC -fvisibility=hidden -O1 "$@" "$(dirname "$0")/fake_model.c" -o "$out.o"
modelc "$out.o" --prefix=Fake -o "$out"
