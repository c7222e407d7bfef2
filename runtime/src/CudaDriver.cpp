//===- CudaDriver.cpp - the CUDA driver, loaded at run time ---------------===//
//
// Opens libcuda.so.1 on first use and looks its functions up (CudaDriver.h),
// and implements Cuda.h's devices, contexts and memory copies on them. The
// mgpu* functions that the generated host code calls are CudaShim.cpp's.
//
//===----------------------------------------------------------------------===//
#include "Cuda.h"

#include "CudaDriver.h"
#include "support/Format.h"

#include <dlfcn.h>

#include <algorithm>

namespace modelc::rt::cuda {

namespace {

/// The errors met before a working driver can name them (the driver stub
/// of the toolkit names none), as cuGetErrorName/String would.
const struct {
  CUresult code;
  const char *name, *text;
} kEarlyErrors[] = {
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {35, "CUDA_ERROR_INSUFFICIENT_DRIVER",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

/// "CUDA_ERROR_OUT_OF_MEMORY: out of memory".
std::string describe(const Driver &d, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (!d.cuGetErrorName || d.cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (!d.cuGetErrorString || d.cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  for (const auto &e : kEarlyErrors)
    if (!name && e.code == result) {
      name = e.name;
      text = e.text;
    }
  if (!name)
    return format("CUresult %d", result);
  return text ? format("%s: %s", name, text) : std::string(name);
}

Driver *loadDriver() {
  auto *d = new Driver();
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    d->error = format("the CUDA driver libcuda.so.1 could not be loaded (%s); "
                      "is an NVIDIA driver installed?", why ? why : "unknown");
    return d;
  }
#define MODELC_CUDA_LOOKUP_(member, symbol, params)                            \
  d->member = reinterpret_cast<decltype(d->member)>(dlsym(lib, symbol));       \
  if (!d->member) {                                                            \
    d->error = format("the CUDA driver libcuda.so.1 lacks %s; is it too old?", \
                      symbol);                                                 \
    return d;                                                                  \
  }
  MODELC_CUDA_DRIVER_FUNCTIONS(MODELC_CUDA_LOOKUP_)
#undef MODELC_CUDA_LOOKUP_
  if (CUresult r = d->cuInit(0)) {
    d->error = format("the CUDA driver could not be initialised: cuInit "
                      "failed with %s", describe(*d, r).c_str());
    return d;
  }
  if (CUresult r = d->cuDeviceGetCount(&d->deviceCount)) {
    d->error = format("the CUDA driver could not count the devices: "
                      "cuDeviceGetCount failed with %s", describe(*d, r).c_str());
    return d;
  }
  if (d->deviceCount <= 0) {
    d->error = "the CUDA driver found no device";
    return d;
  }
  d->contexts.assign(static_cast<size_t>(d->deviceCount), nullptr);
  d->ok = true;
  return d;
}

} // namespace

Driver &driver() {
  static Driver *d = loadDriver();
  return *d;
}

std::string cudaError(const char *function, CUresult result) {
  return format("CUDA error in %s: %s", function,
                describe(driver(), result).c_str());
}

bool openDevice(int ordinal, std::string &error) {
  Driver &d = driver();
  if (!d.ok) {
    error = d.error;
    return false;
  }
  if (ordinal < 0 || ordinal >= d.deviceCount) {
    error = format("there is no CUDA device %d (this machine has %d: cuda:0 "
                   "to cuda:%d)", ordinal, d.deviceCount, d.deviceCount - 1);
    return false;
  }
  std::lock_guard<std::mutex> lock(d.mutex);
  CUcontext &context = d.contexts[static_cast<size_t>(ordinal)];
  if (context)
    return true;
  CUdevice device = 0;
  if (CUresult r = d.cuDeviceGet(&device, ordinal)) {
    error = cudaError("cuDeviceGet", r);
    return false;
  }
  if (CUresult r = d.cuDevicePrimaryCtxRetain(&context, device)) {
    context = nullptr;
    error = cudaError("cuDevicePrimaryCtxRetain", r);
    return false;
  }
  return true;
}

DeviceScope::DeviceScope(int ordinal) {
  Driver &d = driver();
  if (!d.ok || ordinal < 0 || ordinal >= d.deviceCount)
    return;
  CUcontext context;
  {
    std::lock_guard<std::mutex> lock(d.mutex);
    context = d.contexts[static_cast<size_t>(ordinal)];
  }
  if (!context || d.cuCtxGetCurrent(&previous) != CUDA_SUCCESS)
    return;
  if (previous != context)
    restore = d.cuCtxSetCurrent(context) == CUDA_SUCCESS;
}

DeviceScope::~DeviceScope() {
  if (restore)
    driver().cuCtxSetCurrent(previous);
}

bool allocate(uint64_t nbytes, uint64_t &ptr, std::string &error) {
  Driver &d = driver();
  if (!d.ok) {
    error = d.error;
    return false;
  }
  // cuMemAlloc refuses 0 bytes; an empty tensor still gets a valid pointer.
  CUdeviceptr p = 0;
  if (CUresult r = d.cuMemAlloc(&p, std::max<uint64_t>(nbytes, 1))) {
    error = cudaError("cuMemAlloc", r);
    return false;
  }
  ptr = p;
  return true;
}

void release(uint64_t ptr) {
  Driver &d = driver();
  if (ptr && d.ok)
    d.cuMemFree(ptr);
}

bool upload(uint64_t dst, const void *src, size_t nbytes, std::string &error) {
  if (nbytes == 0)
    return true;
  CUresult r = driver().cuMemcpyHtoD(dst, src, nbytes);
  if (r != CUDA_SUCCESS)
    error = cudaError("cuMemcpyHtoD", r);
  return r == CUDA_SUCCESS;
}

bool download(void *dst, uint64_t src, size_t nbytes, std::string &error) {
  if (nbytes == 0)
    return true;
  CUresult r = driver().cuMemcpyDtoH(dst, src, nbytes);
  if (r != CUDA_SUCCESS)
    error = cudaError("cuMemcpyDtoH", r);
  return r == CUDA_SUCCESS;
}

bool synchronize(std::string &error) {
  CUresult r = driver().cuCtxSynchronize();
  if (r != CUDA_SUCCESS)
    error = cudaError("cuCtxSynchronize", r);
  return r == CUDA_SUCCESS;
}

} // namespace modelc::rt::cuda
