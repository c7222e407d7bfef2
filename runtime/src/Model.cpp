//===- Model.cpp - a model's life: creation, devices, state ---------------===//
//
// Creating and destroying an instance, moving its state between the CPU
// and a GPU, and copying single state entries in and out. Running forward
// is Forward.cpp's.
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "CpuCheck.h"
#include "Cuda.h"
#include "Entries.h"
#include "GeneratedSymbols.h"
#include "Optimizer.h"
#include "Rng.h"
#include "Train.h"
#include "support/Format.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace modelc::rt {

void *allocateAligned(uint64_t nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment.
  uint64_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0)
    rounded = 64;
  if (rounded < nbytes)
    return nullptr;
  return std::aligned_alloc(64, rounded);
}

namespace {
/// The largest CUDA ordinal accepted: deviceName() has a string for each.
constexpr int kMaxCudaOrdinal = 255;
} // namespace

bool parseDevice(const char *device, int &ordinal, std::string &error) {
  ordinal = kCpu;
  if (!device || std::strcmp(device, "cpu") == 0)
    return true;
  if (std::strncmp(device, "cuda", 4) != 0 ||
      (device[4] != '\0' && device[4] != ':')) {
    error = format("unknown device '%s' (expected 'cpu' or 'cuda')", device);
    return false;
  }
  if (!cuda::libraryHasCuda()) {
    error = format("cannot use device '%s': this model was compiled for the "
                   "CPU only (compile it with --target=cuda)", device);
    return false;
  }
  if (device[4] == '\0') {
    ordinal = 0;
    return true;
  }
  const char *digits = device + 5;
  size_t length = std::strlen(digits);
  bool ok = length > 0 && length <= 3;
  int value = 0;
  for (size_t i = 0; ok && i < length; ++i) {
    ok = digits[i] >= '0' && digits[i] <= '9';
    value = value * 10 + (digits[i] - '0');
  }
  if (!ok || value > kMaxCudaOrdinal) {
    error = format("unknown device '%s' (expected 'cpu', 'cuda' or 'cuda:N', "
                   "N a device number)", device);
    return false;
  }
  ordinal = value;
  return true;
}

const char *deviceName(int ordinal) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int i = 0; i <= kMaxCudaOrdinal; ++i)
      v.push_back(format("cuda:%d", i));
    return v;
  }();
  if (ordinal < 0 || ordinal > kMaxCudaOrdinal)
    return "cpu";
  return names[static_cast<size_t>(ordinal)].c_str();
}

namespace {

/// parseDevice, then opens the driver and the device when it is a GPU.
bool openTarget(const char *device, int &ordinal, std::string &error) {
  if (!parseDevice(device, ordinal, error))
    return false;
  std::string why;
  if (ordinal != kCpu && !cuda::openDevice(ordinal, why)) {
    error = format("cannot use device '%s': %s", device, why.c_str());
    return false;
  }
  return true;
}

/// Frees the device memory of `model` (on the GPU `ordinal`).
void releaseDeviceMemory(modelc_model &model, int ordinal) {
  if (ordinal == kCpu)
    return;
  cuda::DeviceScope scope(ordinal);
  for (uint64_t p : model.deviceState)
    cuda::release(p);
  for (DeviceBuffer &b : model.deviceInputs)
    cuda::release(b.ptr);
  model.deviceState.clear();
  model.deviceInputs.clear();
}

/// Copies the device state of `model` into its staging memory.
bool downloadState(const modelc_model &model, std::string &error) {
  int ordinal = model.device;
  if (ordinal == kCpu)
    return true;
  const ModelDesc &desc = *model.desc;
  cuda::DeviceScope scope(ordinal);
  for (size_t i = 0; i < desc.states.size(); ++i) {
    std::string why;
    if (!cuda::download(model.stateData[i], model.deviceState[i],
                        desc.states[i].nbytes, why)) {
      error = format("cannot copy state '%s' from %s: %s",
                     desc.states[i].name.c_str(), deviceName(ordinal),
                     why.c_str());
      return false;
    }
  }
  return true;
}

/// Moves the state from the staging memory to `ordinal` (or just switches
/// to the CPU), freeing the old device memory: on failure nothing changes.
bool placeState(modelc_model &model, int ordinal, std::string &error) {
  const ModelDesc &desc = *model.desc;
  std::vector<uint64_t> fresh;
  if (ordinal != kCpu) {
    cuda::DeviceScope scope(ordinal);
    for (size_t i = 0; i < desc.states.size(); ++i) {
      const StateDesc &state = desc.states[i];
      uint64_t ptr = 0;
      std::string why;
      bool ok = cuda::allocate(state.nbytes, ptr, why);
      if (ok)
        fresh.push_back(ptr);
      if (ok && !cuda::upload(ptr, model.stateData[i], state.nbytes, why))
        ok = false;
      if (!ok) {
        error = format("cannot move state '%s' (%llu bytes) to %s: %s",
                       state.name.c_str(),
                       static_cast<unsigned long long>(state.nbytes),
                       deviceName(ordinal), why.c_str());
        for (uint64_t p : fresh)
          cuda::release(p);
        return false;
      }
    }
  }
  releaseDeviceMemory(model, model.device);
  model.deviceState = std::move(fresh);
  model.deviceInputs.assign(ordinal == kCpu ? 0 : desc.inputs.size(),
                            DeviceBuffer());
  model.device = ordinal;
  return true;
}

} // namespace

modelc_model *createModel(const char *device, uint64_t seed,
                          std::string &error) {
  int ordinal;
  if (!openTarget(device, ordinal, error))
    return nullptr;
  const ModelDesc *desc = linkedModelDesc(error);
  if (!desc)
    return nullptr;
  // Before anything runs the generated code: never SIGILL.
  if (!cpuCanRun(desc->cpu, desc->cpuFeatures, error))
    return nullptr;
  auto *model = new (std::nothrow) modelc_model();
  if (!model) {
    error = "out of memory";
    return nullptr;
  }
  model->desc = desc;
  model->outputs.resize(desc->outputs.size());
  Rng rng(seed);
  for (const StateDesc &state : desc->states) {
    void *data = allocateAligned(state.nbytes);
    if (!data) {
      error = format("out of memory allocating state '%s' (%llu bytes)",
                     state.name.c_str(),
                     static_cast<unsigned long long>(state.nbytes));
      delete model;
      return nullptr;
    }
    model->stateData.push_back(data);
    initializeState(state, rng, data);
  }
  // After the state's draws, so that adding dropout changes no initial value.
  model->randomStream = static_cast<int64_t>(rng.next());
  if (!desc->derived.empty() && !cpuEntries(*desc).prepare) {
    error = "invalid model library: it lists derived values but has no prepare entry";
    delete model;
    return nullptr;
  }
  for (const TensorDesc &d : desc->derived) {
    uint64_t nbytes = 0;
    void *data = computeNumBytes(d.shape, d.dtype, nbytes) ? allocateAligned(nbytes) : nullptr;
    if (!data) {
      error = format("out of memory allocating '%s' (%llu bytes)", d.name.c_str(),
                     static_cast<unsigned long long>(nbytes));
      delete model;
      return nullptr;
    }
    model->derivedData.push_back(data);
  }
  if (modelc_generated_weights_size != 0 &&
      !loadStateDict(*model, modelc_generated_weights, modelc_generated_weights_size,
                     /*strict=*/true, "the weights compiled in with --weights", error)) {
    delete model;
    return nullptr;
  }
  if (!placeState(*model, ordinal, error) || !initTraining(*model, error)) {
    delete model;
    return nullptr;
  }
  return model;
}

bool moveToDevice(modelc_model &model, const char *device, std::string &error) {
  int ordinal;
  if (!openTarget(device, ordinal, error))
    return false;
  if (ordinal == model.device)
    return true;
  model.derivedStale = true; // the state comes back from the device changed
  return downloadState(model, error) && placeState(model, ordinal, error);
}

bool readStateEntry(const modelc_model &model, size_t index, void *dst,
                    std::string &error) {
  const StateDesc &state = model.desc->states[index];
  int ordinal = model.device;
  if (ordinal == kCpu) {
    if (state.nbytes)
      std::memcpy(dst, model.stateData[index], state.nbytes);
    return true;
  }
  cuda::DeviceScope scope(ordinal);
  std::string why;
  if (cuda::download(dst, model.deviceState[index], state.nbytes, why))
    return true;
  error = format("cannot copy '%s' from %s: %s", state.name.c_str(),
                 deviceName(ordinal), why.c_str());
  return false;
}

bool writeStateEntry(modelc_model &model, size_t index, const void *src,
                     std::string &error) {
  const StateDesc &state = model.desc->states[index];
  int ordinal = model.device;
  model.derivedStale = true;
  if (ordinal == kCpu) {
    if (state.nbytes)
      std::memcpy(model.stateData[index], src, state.nbytes);
    return true;
  }
  cuda::DeviceScope scope(ordinal);
  std::string why;
  if (cuda::upload(model.deviceState[index], src, state.nbytes, why))
    return true;
  error = format("cannot copy '%s' to %s: %s", state.name.c_str(),
                 deviceName(ordinal), why.c_str());
  return false;
}

bool syncStateToHost(const modelc_model &model, std::string &error) {
  return downloadState(model, error);
}

int64_t findState(const modelc_model &model, const char *name,
                  std::string &error) {
  if (!name) {
    error = "the state name is NULL";
    return -1;
  }
  auto it = model.desc->stateIndex.find(name);
  if (it == model.desc->stateIndex.end()) {
    error = format("'%s' is not a parameter or buffer of %s", name,
                   model.desc->name.c_str());
    return -1;
  }
  return static_cast<int64_t>(it->second);
}

} // namespace modelc::rt

modelc_model::~modelc_model() {
  modelc::rt::releaseDeviceMemory(*this, device);
  for (void *p : stateData)
    std::free(p);
  for (void *p : derivedData)
    std::free(p);
  for (auto &out : outputs)
    std::free(out.data);
  std::free(gradData);
}
