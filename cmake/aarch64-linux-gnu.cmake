# CMake toolchain file for ARM64 Linux with Debian's cross toolchain
# (g++-aarch64-linux-gnu): the runtime and modelc-run that libraries built
# with `modelc --mtriple=aarch64-linux-gnu` link and run with
# (README.md, "Cross-compiling for ARM64").
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Programs built here run under qemu-user on x86-64 hosts.
find_program(MODELC_QEMU_AARCH64 qemu-aarch64)
if(MODELC_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MODELC_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
