//===- Cuda.h - the CUDA driver, loaded at run time, and the mgpu* shim ---===//
//
// A model library never links libcuda: it opens libcuda.so.1 with dlopen on
// first use, so that it loads and runs on the CPU on a machine with no GPU
// or driver (CudaDriver.h). CudaShim.cpp defines the mgpu*
// functions that the host code MLIR generates for `modelc --target=cuda`
// calls (module loading, kernel launches, device memory), as MLIR's
// CudaRuntimeWrappers do, with two differences: nothing touches CUDA before
// the runtime asks (the library's constructor only records the kernels'
// binary), and errors are not printed but kept per thread, so that a forward
// call reports the first one.
//
// Device pointers are CUdeviceptr values, held as uint64_t.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_CUDA_H
#define MODELC_RUNTIME_CUDA_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt::cuda {

/// True when this library holds CUDA code: the compiler defined
/// modelc_generated_cuda_forward_eval/train (weak in the runtime).
bool libraryHasCuda();

/// Loads the driver (once per process), checks that `ordinal` names a
/// device and retains its primary context. On failure `error` says why,
/// e.g. "the CUDA driver libcuda.so.1 could not be loaded (...)".
bool openDevice(int ordinal, std::string &error);

/// Makes the primary context of `ordinal` (opened with openDevice) current
/// in the calling thread for the scope, then restores the previous one.
class DeviceScope {
public:
  explicit DeviceScope(int ordinal);
  ~DeviceScope();
  DeviceScope(const DeviceScope &) = delete;
  DeviceScope &operator=(const DeviceScope &) = delete;

private:
  void *previous = nullptr;
  bool restore = false;
};

// Device memory, in the current context (a DeviceScope). Each failure sets
// `error` to "CUDA error in <function>: <CUDA_ERROR_NAME>: <description>".
bool allocate(uint64_t nbytes, uint64_t &ptr, std::string &error);
/// Frees `ptr` (0 is a no-op); errors are ignored.
void release(uint64_t ptr);
bool upload(uint64_t dst, const void *src, size_t nbytes, std::string &error);
bool download(void *dst, uint64_t src, size_t nbytes, std::string &error);
/// Waits for all work of the current context.
bool synchronize(std::string &error);

/// Brackets one call of the generated CUDA code by the calling thread:
/// begin() clears the thread's CUDA error and starts recording the memory
/// the generated code allocates with mgpuMemAlloc; end() returns the first
/// error of the mgpu* functions during the call (false, with `error`), and
/// in `allocations` the memory allocated and not freed by the generated
/// code (its results), which the caller frees with release() once it has
/// copied them.
void beginGeneratedCall();
bool endGeneratedCall(std::vector<uint64_t> &allocations, std::string &error);

} // namespace modelc::rt::cuda

#endif
