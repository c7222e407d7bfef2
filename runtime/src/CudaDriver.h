//===- CudaDriver.h - the CUDA driver API, opened with dlopen --------------===//
//
// Inside the runtime only: CudaDriver.cpp loads the driver and keeps its
// functions here; CudaShim.cpp, the mgpu* functions of the generated host
// code, calls them. No CUDA header is needed: the few driver types are
// declared here (handles are pointers, CUdeviceptr is a 64-bit integer,
// CUresult an int), and each driver function is looked up with dlsym under
// its ABI name (the _v2 names where cuda.h #defines them).
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_CUDADRIVER_H
#define MODELC_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace modelc::rt::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_INVALID_VALUE = 1;
constexpr CUresult CUDA_ERROR_INVALID_CONTEXT = 201;

// X(member, symbol, parameters): every driver function the runtime uses.
#define MODELC_CUDA_DRIVER_FUNCTIONS(X)                                        \
  X(cuInit, "cuInit", (unsigned))                                              \
  X(cuGetErrorName, "cuGetErrorName", (CUresult, const char **))               \
  X(cuGetErrorString, "cuGetErrorString", (CUresult, const char **))           \
  X(cuDeviceGetCount, "cuDeviceGetCount", (int *))                             \
  X(cuDeviceGet, "cuDeviceGet", (CUdevice *, int))                             \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain",                      \
    (CUcontext *, CUdevice))                                                   \
  X(cuCtxGetCurrent, "cuCtxGetCurrent", (CUcontext *))                         \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", (CUcontext))                           \
  X(cuCtxSynchronize, "cuCtxSynchronize", ())                                  \
  X(cuMemAlloc, "cuMemAlloc_v2", (CUdeviceptr *, size_t))                      \
  X(cuMemAllocManaged, "cuMemAllocManaged", (CUdeviceptr *, size_t, unsigned)) \
  X(cuMemFree, "cuMemFree_v2", (CUdeviceptr))                                  \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", (CUdeviceptr, const void *, size_t))      \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", (void *, CUdeviceptr, size_t))            \
  X(cuMemcpyAsync, "cuMemcpyAsync",                                            \
    (CUdeviceptr, CUdeviceptr, size_t, CUstream))                              \
  X(cuMemsetD32Async, "cuMemsetD32Async",                                      \
    (CUdeviceptr, unsigned, size_t, CUstream))                                 \
  X(cuMemsetD16Async, "cuMemsetD16Async",                                      \
    (CUdeviceptr, unsigned short, size_t, CUstream))                           \
  X(cuModuleLoadData, "cuModuleLoadData", (CUmodule *, const void *))          \
  X(cuModuleUnload, "cuModuleUnload", (CUmodule))                              \
  X(cuModuleGetFunction, "cuModuleGetFunction",                                \
    (CUfunction *, CUmodule, const char *))                                    \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", (CUfunction, int, int))          \
  X(cuLaunchKernel, "cuLaunchKernel",                                          \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,   \
     unsigned, CUstream, void **, void **))                                    \
  X(cuStreamSynchronize, "cuStreamSynchronize", (CUstream))                    \
  X(cuStreamWaitEvent, "cuStreamWaitEvent", (CUstream, CUevent, unsigned))     \
  X(cuEventCreate, "cuEventCreate", (CUevent *, unsigned))                     \
  X(cuEventDestroy, "cuEventDestroy_v2", (CUevent))                            \
  X(cuEventRecord, "cuEventRecord", (CUevent, CUstream))                       \
  X(cuEventSynchronize, "cuEventSynchronize", (CUevent))

/// The driver, opened once per process and never closed. Its functions are
/// set only when `ok`.
struct Driver {
  bool ok = false;
  std::string error; // why not ok
  int deviceCount = 0;
  std::mutex mutex;               // guards contexts
  std::vector<CUcontext> contexts; // primary context per ordinal, once retained
#define MODELC_CUDA_MEMBER_(member, symbol, params)                            \
  CUresult(*member) params = nullptr;
  MODELC_CUDA_DRIVER_FUNCTIONS(MODELC_CUDA_MEMBER_)
#undef MODELC_CUDA_MEMBER_
};

/// Opens the driver on first use (thread-safe, once).
Driver &driver();

/// "CUDA error in <function>: <CUDA_ERROR_NAME>: <description>".
std::string cudaError(const char *function, CUresult result);

} // namespace modelc::rt::cuda

#endif
