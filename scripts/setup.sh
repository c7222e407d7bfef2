#!/usr/bin/env bash
# Installs what modelc needs to build and test, then configures build/ and
# the sanitizer build build-asan/ (ASan + UBSan: the runtime, modelc-run,
# st-compare and the examples, using build/bin/modelc; see README.md).
# Idempotent: packages already present are not reinstalled, existing build
# directories are reused. MODELC_SANITIZERS=0 skips build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools libfmt-dev
          cmake ninja-build ccache g++ python3 openmpi-bin libopenmpi-dev
          g++-aarch64-linux-gnu qemu-user pkgconf python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -f build/build.ninja ]; then
  cmake -G Ninja -S . -B build \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DMLIR_DIR="$(llvm-config-22 --prefix)/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$(command -v lit-22)" \
    ${MODELC_CMAKE_ARGS:-}
fi

# The Python package's tests (python/tests, run by test/Python) need numpy
# and pytest (not torch: their references are committed fixtures): a virtual
# environment in build/venv, made once and reused.
if [ ! -x build/venv/bin/python ] || ! build/venv/bin/python -c "import numpy, pytest, setuptools" 2>/dev/null; then
  echo "setup: making build/venv (numpy, pytest) for the Python package's tests"
  python3 -m venv build/venv
  build/venv/bin/python -m pip install -q --disable-pip-version-check numpy pytest setuptools wheel
fi

if [ "${MODELC_SANITIZERS:-1}" != 0 ] && [ ! -f build-asan/build.ninja ]; then
  cmake -G Ninja -S . -B build-asan \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DMLIR_DIR="$(llvm-config-22 --prefix)/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$(command -v lit-22)" \
    -DMODELC_ENABLE_SANITIZERS=ON \
    -DMODELC_USE_COMPILER="$PWD/build/bin/modelc" \
    ${MODELC_CMAKE_ARGS:-}
fi
