//===- Model.h - a model instance: its state, mode and last outputs -------===//
#ifndef MODELC_RUNTIME_MODEL_H
#define MODELC_RUNTIME_MODEL_H

#include "Desc.h"
#include "modelc/modelc.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt {

/// 64-byte aligned memory (the alignment the generated code assumes for
/// vector loads); never NULL for a successful allocation, even of 0 bytes.
void *allocateAligned(uint64_t nbytes);

/// "cpu" (or NULL) is accepted; "cuda"/"cuda:N" and anything else are
/// refused with a message saying why.
bool checkDevice(const char *device, std::string &error);

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
  const modelc::rt::ModelDesc *desc = nullptr;
  std::vector<void *> stateData; // one 64-byte aligned block per desc state
  bool training = false;
  std::vector<modelc::rt::OutputTensor> outputs;
  bool hasOutputs = false;
  mutable std::string lastError;

  modelc_model() = default;
  modelc_model(const modelc_model &) = delete;
  modelc_model &operator=(const modelc_model &) = delete;
  ~modelc_model();
};

namespace modelc::rt {

/// Allocates and initialises every state entry from `seed`.
modelc_model *createModel(const char *device, uint64_t seed,
                          std::string &error);

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

/// The state dict (parameters and persistent buffers) as safetensors bytes.
std::string serializeStateDict(const modelc_model &model);

} // namespace modelc::rt

#endif
