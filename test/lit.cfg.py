# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "modelc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mdl", ".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.modelc_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%modelc_src", config.modelc_src_root))
config.substitutions.append(("%modelc_obj", config.modelc_obj_root))

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# The project's tools first, then LLVM's (FileCheck, not, count, split-file).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.modelc_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(["modelc", "mdl-opt"], [config.modelc_tools_dir])

# The sanitizer build (build-asan/, MODELC_ENABLE_SANITIZERS): every program
# that loads a model.so must itself be built with the sanitizers
# (%sanitizer_cflags for the test programs compiled by the tests), and any
# report fails the test. UBSan is built not to recover; LeakSanitizer is on.
if config.modelc_sanitizers.upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitizers")
    config.substitutions.append(("%sanitizer_cflags", "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"))
    config.environment["ASAN_OPTIONS"] = "halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
    config.environment["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    config.environment["LSAN_OPTIONS"] = "suppressions=" + os.path.join(config.modelc_src_root, "test", "lsan.supp")
else:
    config.substitutions.append(("%sanitizer_cflags", ""))

# C programs of the end-to-end tests that load a model library: compiled by
# %cc_for_target and run by %run_on_target, the host's cc and nothing here;
# the ARM64 run of test/e2e (modelc_target=aarch64) makes them the cross
# compiler and qemu-aarch64.
config.substitutions.append(("%cc_for_target", "cc"))
config.substitutions.append(("%run_on_target", ""))

# "aarch64-cross": the ARM64 runtime was cross-built and qemu-aarch64 runs
# what it builds (cmake/CrossRuntime.cmake): %qemu_aarch64 runs an ARM64
# program, %modelc_run_aarch64 is the ARM64 modelc-run under it, and
# %cc_aarch64 the cross C compiler.
if config.modelc_aarch64_run:
    config.available_features.add("aarch64-cross")
    config.substitutions.append(("%qemu_aarch64", config.modelc_aarch64_qemu))
    # (%modelc_run_aarch64_bin first: the longer name must be replaced before
    # the shorter one it starts with.)
    config.substitutions.append(("%modelc_run_aarch64_bin", config.modelc_aarch64_run.split()[-1]))
    config.substitutions.append(("%modelc_run_aarch64", config.modelc_aarch64_run))
    config.substitutions.append(("%cc_aarch64", config.modelc_aarch64_cc))

# "cuda-toolkit": ptxas and fatbinary are found where `modelc --target=cuda`
# looks for them (findCudaToolkit in compiler/lowering/gpu/Cuda.cpp:
# $CUDA_HOME, $CUDA_PATH, $CUDA_ROOT, ptxas on PATH, /usr/local/cuda).
# Without them --target=cuda cannot compile kernels, so the tests that do
# are unsupported (README.md says so); --cuda-emulate needs no toolkit.
import shutil


def _cuda_toolkit():
    candidates = [os.environ[v] for v in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT") if os.environ.get(v)]
    ptxas = shutil.which("ptxas")
    if ptxas:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(ptxas))))
    candidates.append("/usr/local/cuda")
    return any(all(os.access(os.path.join(d, "bin", t), os.X_OK) for t in ("ptxas", "fatbinary"))
               for d in candidates)


if _cuda_toolkit():
    config.available_features.add("cuda-toolkit")

# "mpi": libmodelc_dist was built (MPI found) and mpirun runs. %mpirun
# starts W ranks on this machine (-np W follows): allowed as root (CI's
# containers), more ranks than cores allowed, ranks not pinned, so that
# two test runs in parallel do not fight over one core.
if config.modelc_have_mpi.upper() in ("ON", "1", "TRUE", "YES") and shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.substitutions.append(("%mpirun", "mpirun --allow-run-as-root --oversubscribe --bind-to none -np"))
    config.substitutions.append(("%mpicc", "mpicc"))

# "python": build/venv (scripts/setup.sh) has numpy and pytest for the
# Python package's tests (test/Python); %python is its interpreter.
_venv_python = os.path.join(config.modelc_obj_root, "venv", "bin", "python")
if os.access(_venv_python, os.X_OK):
    config.available_features.add("python")
    # In place of lit's own %python (the interpreter lit runs on, which
    # need not have pytest): lit applies the first substitution that matches.
    config.substitutions = [(p, r) for p, r in config.substitutions if p != "%python"]
    config.substitutions.insert(0, ("%python", _venv_python))

# "cpu-avx512": this machine runs x86-64-v4 code (AVX-512 F, VL, BW, DQ,
# CD), so that the AVX-512 kernels (modelc --cpu=x86-64-v4) can be run and
# checked; elsewhere those tests are unsupported, never wrong.
def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


if {"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"} <= _cpu_flags():
    config.available_features.add("cpu-avx512")
# "cpu-avx2": this machine runs x86-64-v3 code (AVX2, FMA), the AVX2 kernels
# (modelc --cpu=x86-64-v3), whatever the portable library would pick here.
if {"avx2", "fma", "bmi2"} <= _cpu_flags():
    config.available_features.add("cpu-avx2")
