# The ARM64 runtime, cross-built beside the host's when Debian's cross
# toolchain is there (g++-aarch64-linux-gnu; scripts/setup.sh installs it):
# a runtime-only build of this tree (MODELC_RUNTIME_ONLY) in
# <build>/aarch64/ with cmake/aarch64-linux-gnu.cmake, whose archive and
# link files go to <build>/lib/aarch64-linux-gnu/, where
# `modelc --mtriple=aarch64-linux-gnu` looks for them, and whose modelc-run
# runs the ARM64 end-to-end tests under qemu-aarch64
# (test/e2e/lit.local.cfg, modelc_target=aarch64).
#
# Sets MODELC_HAVE_AARCH64 (the cross runtime is built) and
# MODELC_QEMU_AARCH64 (qemu-aarch64, to run what it builds).
include(ExternalProject)

option(MODELC_AARCH64 "Cross-build the ARM64 runtime when g++-aarch64-linux-gnu is installed" ON)
find_program(MODELC_AARCH64_CXX aarch64-linux-gnu-g++)
find_program(MODELC_QEMU_AARCH64 qemu-aarch64)
set(MODELC_HAVE_AARCH64 OFF)
# Not in the sanitizer build: its runtime is the host's, instrumented.
if(MODELC_AARCH64 AND MODELC_AARCH64_CXX AND NOT MODELC_ENABLE_SANITIZERS)
  set(MODELC_HAVE_AARCH64 ON)
  set(MODELC_AARCH64_BINARY_DIR ${CMAKE_BINARY_DIR}/aarch64)
  set(MODELC_AARCH64_LIB_DIR ${CMAKE_BINARY_DIR}/lib/aarch64-linux-gnu)
  ExternalProject_Add(modelc_runtime_aarch64
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${MODELC_AARCH64_BINARY_DIR}
    CMAKE_GENERATOR ${CMAKE_GENERATOR}
    CMAKE_ARGS
      -DMODELC_RUNTIME_ONLY=ON
      -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/aarch64-linux-gnu.cmake
      -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
      -DCMAKE_C_COMPILER_LAUNCHER=${CMAKE_C_COMPILER_LAUNCHER}
      -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
      -DMODELC_RUNTIME_LIB_DIR=${MODELC_AARCH64_LIB_DIR}
    # Rebuilt whenever the main build is, so that a runtime change reaches
    # it (ninja in the sub-build decides what is out of date).
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    BUILD_BYPRODUCTS ${MODELC_AARCH64_LIB_DIR}/libmodelc_runtime.a
                     ${MODELC_AARCH64_BINARY_DIR}/bin/modelc-run
    USES_TERMINAL_BUILD ON)
  message(STATUS "modelc: cross-building the ARM64 runtime with ${MODELC_AARCH64_CXX}")
else()
  message(STATUS "modelc: no ARM64 runtime (needs g++-aarch64-linux-gnu); "
                 "--mtriple=aarch64-linux-gnu cannot link libraries")
endif()
