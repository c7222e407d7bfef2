//===- Cuda.cpp - the CUDA driver, loaded at run time, and the mgpu* shim -===//
//
// No CUDA header is needed: the few driver types are declared here (handles
// are pointers, CUdeviceptr is a 64-bit integer, CUresult an int), and each
// driver function is looked up with dlsym under its ABI name (the _v2 names
// where cuda.h #defines them).
//
//===----------------------------------------------------------------------===//
#include "Cuda.h"

#include "GeneratedSymbols.h"
#include "support/Format.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace modelc::rt::cuda {

namespace {

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
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 1;
constexpr unsigned CU_EVENT_DISABLE_TIMING = 2;
/// Dynamic shared memory a kernel gets without opting in.
constexpr int32_t kDefaultSharedMemory = 48 * 1024;

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

/// The driver, opened once per process and never closed.
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

/// Opens the driver on first use (thread-safe, once).
Driver &driver() {
  static Driver *d = loadDriver();
  return *d;
}

std::string cudaError(const char *function, CUresult result) {
  return format("CUDA error in %s: %s", function,
                describe(driver(), result).c_str());
}

/// The CUDA error state of the generated call running in this thread.
struct CallState {
  bool active = false;
  bool failed = false;
  std::string error;
  std::vector<uint64_t> allocations; // mgpuMemAlloc'ed, not yet freed
};

CallState &callState() {
  static thread_local CallState state;
  return state;
}

void fail(std::string message) {
  CallState &s = callState();
  if (!s.failed) {
    s.failed = true;
    s.error = std::move(message);
  }
}

/// Records the first failure of the call; true on success.
bool check(const char *function, CUresult result) {
  if (result == CUDA_SUCCESS)
    return true;
  fail(cudaError(function, result));
  return false;
}

/// The driver, when the current call may still use it: not after an error
/// (no launch on garbage), and only when it is loaded.
Driver *usable() {
  if (callState().failed)
    return nullptr;
  Driver &d = driver();
  if (!d.ok) {
    fail("CUDA is not available: " + d.error);
    return nullptr;
  }
  return &d;
}

CUdeviceptr devicePointer(const void *p) {
  return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p));
}

/// What mgpuModuleLoad returns: the kernels' binary, loaded into each
/// context on first use.
struct GpuModule {
  const void *data = nullptr;
  std::mutex mutex;
  struct Loaded {
    CUcontext context;
    CUmodule module;
    std::unordered_map<std::string, CUfunction> functions;
  };
  std::vector<Loaded> loaded;
};

} // namespace

bool libraryHasCuda() {
  return modelc_generated_cuda_forward_eval != nullptr &&
         modelc_generated_cuda_forward_train != nullptr;
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

void beginGeneratedCall() {
  CallState &s = callState();
  s.active = true;
  s.failed = false;
  s.error.clear();
  s.allocations.clear();
}

bool endGeneratedCall(std::vector<uint64_t> &allocations, std::string &error) {
  CallState &s = callState();
  s.active = false;
  allocations.swap(s.allocations);
  s.allocations.clear();
  if (!s.failed)
    return true;
  error = s.error;
  s.failed = false;
  s.error.clear();
  return false;
}

} // namespace modelc::rt::cuda

//===----------------------------------------------------------------------===//
// The functions the host code generated by MLIR's gpu-to-llvm calls. Their
// signatures are those of mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp
// (MLIR 22); they are hidden, bound inside model.so.
//===----------------------------------------------------------------------===//

using namespace modelc::rt::cuda;

#define MODELC_MGPU extern "C" __attribute__((visibility("hidden")))

/// Called by the library's constructor: records the binary, touches no CUDA.
MODELC_MGPU void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  auto *module = new (std::nothrow) GpuModule();
  if (module)
    module->data = data;
  return module;
}

/// PTX text (a NUL-terminated string), which cuModuleLoadData compiles.
MODELC_MGPU void *mgpuModuleLoadJIT(void *data, int /*optLevel*/) {
  return mgpuModuleLoad(data, data ? std::strlen(static_cast<char *>(data)) + 1 : 0);
}

/// Called by the library's destructor.
MODELC_MGPU void mgpuModuleUnload(void *handle) {
  auto *module = static_cast<GpuModule *>(handle);
  if (!module)
    return;
  // Modules were loaded only if the driver was (it is never unloaded).
  if (!module->loaded.empty()) {
    Driver &d = driver();
    CUcontext previous = nullptr;
    bool havePrevious = d.cuCtxGetCurrent(&previous) == CUDA_SUCCESS;
    for (GpuModule::Loaded &l : module->loaded)
      if (d.cuCtxSetCurrent(l.context) == CUDA_SUCCESS)
        d.cuModuleUnload(l.module);
    if (havePrevious)
      d.cuCtxSetCurrent(previous);
  }
  delete module;
}

/// The kernel `name`, its module loaded into the current context if needed.
MODELC_MGPU void *mgpuModuleGetFunction(void *handle, const char *name) {
  Driver *d = usable();
  auto *module = static_cast<GpuModule *>(handle);
  if (!d)
    return nullptr;
  if (!module || !name) {
    fail("CUDA error: the kernels' module was not loaded (out of memory when "
         "the library was loaded?)");
    return nullptr;
  }
  CUcontext context = nullptr;
  if (!check("cuCtxGetCurrent", d->cuCtxGetCurrent(&context)))
    return nullptr;
  if (!context) {
    check("cuCtxGetCurrent", CUDA_ERROR_INVALID_CONTEXT);
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(module->mutex);
  GpuModule::Loaded *loaded = nullptr;
  for (GpuModule::Loaded &l : module->loaded)
    if (l.context == context)
      loaded = &l;
  if (!loaded) {
    CUmodule m = nullptr;
    if (!check("cuModuleLoadData", d->cuModuleLoadData(&m, module->data)))
      return nullptr;
    module->loaded.push_back({context, m, {}});
    loaded = &module->loaded.back();
  }
  auto it = loaded->functions.find(name);
  if (it != loaded->functions.end())
    return it->second;
  CUfunction function = nullptr;
  if (!check("cuModuleGetFunction",
             d->cuModuleGetFunction(&function, loaded->module, name)))
    return nullptr;
  loaded->functions.emplace(name, function);
  return function;
}

MODELC_MGPU void mgpuLaunchKernel(void *function, intptr_t gridX,
                                  intptr_t gridY, intptr_t gridZ,
                                  intptr_t blockX, intptr_t blockY,
                                  intptr_t blockZ, int32_t smem, void *stream,
                                  void **params, void **extra,
                                  size_t /*paramsCount*/) {
  Driver *d = usable();
  if (!d)
    return;
  intptr_t sizes[] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  for (intptr_t size : sizes)
    if (size < 0 || static_cast<uintptr_t>(size) > 0xffffffffu) {
      fail(modelc::rt::format("CUDA error in cuLaunchKernel: a grid or block "
                              "size is out of range (%lld)",
                              static_cast<long long>(size)));
      return;
    }
  if (smem < 0) {
    check("cuLaunchKernel", CUDA_ERROR_INVALID_VALUE);
    return;
  }
  if (smem > kDefaultSharedMemory &&
      !check("cuFuncSetAttribute",
             d->cuFuncSetAttribute(function,
                                   CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                   smem)))
    return;
  check("cuLaunchKernel",
        d->cuLaunchKernel(function, static_cast<unsigned>(gridX),
                          static_cast<unsigned>(gridY),
                          static_cast<unsigned>(gridZ),
                          static_cast<unsigned>(blockX),
                          static_cast<unsigned>(blockY),
                          static_cast<unsigned>(blockZ),
                          static_cast<unsigned>(smem), stream, params, extra));
}

/// Everything runs on the legacy default stream, in order.
MODELC_MGPU void *mgpuStreamCreate() { return nullptr; }

MODELC_MGPU void mgpuStreamDestroy(void * /*stream*/) {}

MODELC_MGPU void mgpuStreamSynchronize(void *stream) {
  if (Driver *d = usable())
    check("cuStreamSynchronize", d->cuStreamSynchronize(stream));
}

MODELC_MGPU void mgpuStreamWaitEvent(void *stream, void *event) {
  if (Driver *d = usable())
    check("cuStreamWaitEvent", d->cuStreamWaitEvent(stream, event, 0));
}

MODELC_MGPU void *mgpuEventCreate() {
  CUevent event = nullptr;
  if (Driver *d = usable())
    if (!check("cuEventCreate", d->cuEventCreate(&event, CU_EVENT_DISABLE_TIMING)))
      event = nullptr;
  return event;
}

MODELC_MGPU void mgpuEventDestroy(void *event) {
  Driver &d = driver();
  if (event && d.ok)
    d.cuEventDestroy(event);
}

MODELC_MGPU void mgpuEventSynchronize(void *event) {
  if (Driver *d = usable())
    check("cuEventSynchronize", d->cuEventSynchronize(event));
}

MODELC_MGPU void mgpuEventRecord(void *event, void *stream) {
  if (Driver *d = usable())
    check("cuEventRecord", d->cuEventRecord(event, stream));
}

/// Device memory of the generated code; the runtime frees what is left of
/// it after the call (the results).
MODELC_MGPU void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/,
                               bool isHostShared) {
  Driver *d = usable();
  if (!d || sizeBytes == 0)
    return nullptr;
  CUdeviceptr ptr = 0;
  bool ok = isHostShared
                ? check("cuMemAllocManaged",
                        d->cuMemAllocManaged(&ptr, sizeBytes, CU_MEM_ATTACH_GLOBAL))
                : check("cuMemAlloc", d->cuMemAlloc(&ptr, sizeBytes));
  if (!ok)
    return nullptr;
  CallState &s = callState();
  if (s.active)
    s.allocations.push_back(ptr);
  return reinterpret_cast<void *>(static_cast<uintptr_t>(ptr));
}

/// Frees even after an error, so that nothing leaks.
MODELC_MGPU void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (!ptr)
    return;
  CallState &s = callState();
  CUdeviceptr p = devicePointer(ptr);
  auto it = std::find(s.allocations.begin(), s.allocations.end(), p);
  if (it != s.allocations.end())
    s.allocations.erase(it);
  Driver &d = driver();
  if (!d.ok)
    return;
  CUresult r = d.cuMemFree(p);
  if (!s.failed)
    check("cuMemFree", r);
}

MODELC_MGPU void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                            void *stream) {
  if (Driver *d = usable())
    check("cuMemcpyAsync", d->cuMemcpyAsync(devicePointer(dst),
                                            devicePointer(src), sizeBytes,
                                            stream));
}

MODELC_MGPU void mgpuMemset32(void *dst, unsigned int value, size_t count,
                              void *stream) {
  if (Driver *d = usable())
    check("cuMemsetD32Async",
          d->cuMemsetD32Async(devicePointer(dst), value, count, stream));
}

MODELC_MGPU void mgpuMemset16(void *dst, unsigned short value, size_t count,
                              void *stream) {
  if (Driver *d = usable())
    check("cuMemsetD16Async",
          d->cuMemsetD16Async(devicePointer(dst), value, count, stream));
}

/// The runtime picks the device of the model being run; nothing to do.
MODELC_MGPU void mgpuSetDefaultDevice(int32_t /*device*/) {}
