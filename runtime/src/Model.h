//===- Model.h - a model instance: its state, mode and last outputs -------===//
#ifndef MODELC_RUNTIME_MODEL_H
#define MODELC_RUNTIME_MODEL_H

#include "Alloc.h"
#include "Desc.h"
#include "modelc/modelc.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace modelc::rt {

class Optimizer; // Optimizer.h

/// 64-byte aligned memory (the alignment the generated code assumes for
/// vector loads); never NULL for a successful allocation, even of 0 bytes.
void *allocateAligned(uint64_t nbytes);

/// The device a model's state lives on: kCpu, or the ordinal N of cuda:N.
constexpr int kCpu = -1;

/// Parses "cpu" (or NULL), "cuda" (cuda:0) or "cuda:N" into `ordinal`;
/// refuses anything else, and "cuda" when this library holds no CUDA code,
/// with a message saying why. Does not touch the driver.
bool parseDevice(const char *device, int &ordinal, std::string &error);

/// "cpu" or "cuda:N": a string that lives as long as the library.
const char *deviceName(int ordinal);

/// One block of device memory that grows as needed (forward's inputs).
struct DeviceBuffer {
  uint64_t ptr = 0; // CUdeviceptr; 0 when none
  uint64_t capacity = 0;
};

/// One result of the last forward call, copied into runtime memory.
struct OutputTensor {
  void *data = nullptr; // allocateAligned; freed by the model
  uint64_t capacity = 0;
  std::vector<int64_t> shape;
};

} // namespace modelc::rt

/// The opaque handle of modelc.h. The runtime owns all state memory and
/// hands pointers into it to the generated code.
struct modelc_model {
  /// First, so that it is destroyed last, after everything below has freed
  /// its memory: the last instance's destruction releases the heap.
  modelc::rt::HeapUser heapUser;
  const modelc::rt::ModelDesc *desc = nullptr;
  /// One 64-byte aligned block per desc state: the state itself on the CPU,
  /// staging memory (not kept up to date) while the model is on a GPU.
  std::vector<void *> stateData;
  /// The desc->derived values on the CPU (allocateAligned), and whether they
  /// are older than the state: creation, every write of the state (on any
  /// device) and every move set it; the next CPU forward recomputes them.
  /// (Allocated on the host for a model on a GPU too: it may move back.)
  std::vector<void *> derivedData;
  bool derivedStale = true;
  /// The position of this instance's random stream (desc->rng: dropout),
  /// seeded by create and advanced by the generated code at every draw, so
  /// that instances are independent and one seed repeats the same masks.
  int64_t randomStream = 0;
  /// kCpu or a CUDA ordinal; atomic because device() may be called from
  /// any thread.
  std::atomic<int> device{modelc::rt::kCpu};
  /// On a GPU: one device block per desc state (the state itself), and the
  /// device copies of forward's inputs, reused from call to call.
  std::vector<uint64_t> deviceState;
  std::vector<modelc::rt::DeviceBuffer> deviceInputs;
  std::atomic<bool> training{false};
  std::vector<modelc::rt::OutputTensor> outputs;
  bool hasOutputs = false;
  mutable std::string lastError;
  /// Training (a library with a loss, Train.h): the gradient of every
  /// parameter (desc->parameters order, frozen ones included) in one
  /// 64-byte aligned F32 block, each slice at a 64-byte aligned offset;
  /// zero at creation. Null when the model does not train.
  float *gradData = nullptr;
  /// The sum over the ranks (set_all_reduce; null: one process), called by
  /// generated code through modelc_all_reduce_f32 (Forward.cpp).
  modelc_all_reduce_fn allReduce = nullptr;
  void *allReduceContext = nullptr;
  uint64_t gradBytes = 0;
  /// Per parameter (desc->parameters order): its slice's offset in bytes;
  /// whether it has a gradient (PyTorch's `p.grad is not None`: set by
  /// loss_backward and write_grad, cleared by zero_grad); whether backward
  /// gives it one (`requires_grad`).
  std::vector<uint64_t> gradOffsets;
  std::vector<char> hasGrad, requiresGrad;
  /// The optimizer chosen by set_optimizer (or load_optimizer_state), with
  /// its state; null until then.
  std::unique_ptr<modelc::rt::Optimizer> optimizer;
  /// The thread inside a call that uses the state or the outputs (see
  /// ModelUse), as modelc::rt::currentThreadId(); 0 when none is.
  mutable std::atomic<uintptr_t> user{0};

  modelc_model() = default;
  modelc_model(const modelc_model &) = delete;
  modelc_model &operator=(const modelc_model &) = delete;
  ~modelc_model();
};

namespace modelc::rt {

/// A nonzero number that tells the calling thread from every other live one.
uintptr_t currentThreadId();

/// True while a thread other than the caller is inside a call on `model`.
inline bool usedByAnotherThread(const modelc_model *model) {
  uintptr_t user = model->user.load(std::memory_order_acquire);
  return user != 0 && user != currentThreadId();
}

/// Marks `model` as used by the calling thread for the scope of one ABI
/// call. A model is not thread-safe (modelc.h); this makes a second thread's
/// concurrent call fail cleanly instead of racing: `ok()` is false and the
/// reason is recorded for last_error(NULL) of the refused thread only (the
/// model's own last error belongs to the thread using it).
class ModelUse {
public:
  ModelUse(const modelc_model &model, const char *function);
  ~ModelUse() {
    if (owned)
      model.user.store(0, std::memory_order_release);
  }
  ModelUse(const ModelUse &) = delete;
  ModelUse &operator=(const ModelUse &) = delete;
  bool ok() const { return owned; }

private:
  const modelc_model &model;
  bool owned = false;
};

/// Allocates and initialises every state entry from `seed`, on `device`.
modelc_model *createModel(const char *device, uint64_t seed,
                          std::string &error);

/// Moves the state to `device` (to_device): all or nothing, so that on
/// failure the model is unchanged. `error` has no "to_device: " prefix.
bool moveToDevice(modelc_model &model, const char *device, std::string &error);

/// Copies state entry `index` out to host memory / in from host memory,
/// from or to wherever it lives.
bool readStateEntry(const modelc_model &model, size_t index, void *dst,
                    std::string &error);
bool writeStateEntry(modelc_model &model, size_t index, const void *src,
                     std::string &error);

/// Brings `stateData` up to date with the device state (no-op on the CPU),
/// before the state is serialized.
bool syncStateToHost(const modelc_model &model, std::string &error);

/// Checks the inputs against the description, calls the generated forward
/// function of the current mode and copies its results into `model.outputs`.
bool runForward(modelc_model &model, const modelc_tensor *inputs,
                int32_t numInputs, std::string &error);

/// The index of state `name` in the description, or -1 (with `error` set).
int64_t findState(const modelc_model &model, const char *name,
                  std::string &error);

/// Load a safetensors state dict (all-or-nothing); `source` names the file
/// or "memory" in messages.
bool loadStateDict(modelc_model &model, const unsigned char *bytes,
                   size_t size, bool strict, const std::string &source,
                   std::string &error);

/// The state dict (parameters and persistent buffers) as safetensors bytes,
/// from `stateData`: on a GPU, call syncStateToHost first.
std::string serializeStateDict(const modelc_model &model);

} // namespace modelc::rt

#endif
