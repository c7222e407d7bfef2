//===- Api.cpp - the exported C ABI (modelc.h) -----------------------------===//
//
// Every ABI function is defined here as modelc_rt_<fn>; the link step exports
// each one as <Prefix>_<fn> with --defsym and hides the modelc_rt_ names
// with the version script (docs/ABI.md). Each entry point checks its
// pointers, never lets an exception escape and reports failures through
// Errors.h. Every call that uses the state or the outputs holds a ModelUse,
// so that a second thread calling into the same model at the same time is
// refused instead of racing. entry() is that preamble, once.
//
//===----------------------------------------------------------------------===//
#include "Alloc.h"
#include "Errors.h"
#include "GeneratedSymbols.h"
#include "Model.h"
#include "Optimizer.h"
#include "Run.h"
#include "Train.h"
#include "support/FileIO.h"
#include "support/Format.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>

using namespace modelc::rt;

// The prototypes come from the header, so a signature that drifts from
// modelc.h fails to compile. Default visibility: the aliases made by
// --defsym take the visibility of their target.
#pragma GCC visibility push(default)
MODELC_DECLARE_MODEL(modelc_rt)
#pragma GCC visibility pop

#define MODELC_RT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// Runs `body`, turning an escaping exception (only std::bad_alloc is
/// possible) into a recorded error and `failValue`.
template <typename T, typename Body>
T guarded(const modelc_model *model, T failValue, Body &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    recordError(model, "out of memory");
  } catch (...) {
    recordError(model, "internal error: unexpected exception");
  }
  return failValue;
}

int32_t fail(const modelc_model *model, std::string message) {
  recordError(model, std::move(message));
  return -1;
}

/// Whether an entry point uses the model's state or outputs, and so must
/// hold it for the calling thread (ModelUse), or only reads what never
/// changes (the description) or is atomic (mode, device).
enum class Access { Shared, Exclusive };

/// The preamble of every ABI function that takes a model: refuses a NULL
/// model, naming `function`; with Access::Exclusive, refuses a model another
/// thread is inside of; then runs `body` under `guarded`. Each refusal is
/// recorded (Errors.h) and returns `failValue`.
template <typename T, typename Model, typename Body>
T entry(Model *model, const char *function, Access access, T failValue,
        Body &&body) {
  if (!model) {
    recordError(nullptr, format("%s: the model is NULL", function));
    return failValue;
  }
  std::optional<ModelUse> use;
  if (access == Access::Exclusive && !use.emplace(*model, function).ok())
    return failValue;
  return guarded<T>(model, failValue, body);
}

/// entry() for the functions that return 0 or a count, and -1 on failure.
template <typename Model, typename Body>
int32_t entry(Model *model, const char *function, Access access, Body &&body) {
  return entry<int32_t>(model, function, access, -1, body);
}

void fillIoInfo(const TensorDesc &t, modelc_io_info *info) {
  info->name = t.name.c_str();
  info->dtype = static_cast<int32_t>(t.dtype);
  info->rank = static_cast<int32_t>(t.shape.size());
  info->shape = t.shape.data();
}

int32_t ioInfo(const modelc_model *model, const std::vector<TensorDesc> &list,
               const char *function, int32_t index, modelc_io_info *info) {
  if (!info)
    return fail(model, format("%s: info is NULL", function));
  if (index < 0 || static_cast<size_t>(index) >= list.size())
    return fail(model, format("%s: index %d is out of range (the model has "
                              "%zu)", function, index, list.size()));
  fillIoInfo(list[static_cast<size_t>(index)], info);
  return 0;
}

/// The state `name` if `nbytes` is exactly its size; -1 otherwise.
int64_t stateForCopy(const modelc_model *model, const char *function,
                     const char *name, const void *buffer, size_t nbytes) {
  std::string error;
  int64_t index = findState(*model, name, error);
  if (index < 0)
    return fail(model, format("%s: %s", function, error.c_str()));
  const StateDesc &s = model->desc->states[static_cast<size_t>(index)];
  if (nbytes != s.nbytes)
    return fail(model, format("%s: '%s' is %s %s (%llu bytes), but the "
                              "buffer has %zu bytes", function, name,
                              dtypeName(s.dtype), formatShape(s.shape).c_str(),
                              static_cast<unsigned long long>(s.nbytes), nbytes));
  if (!buffer && nbytes)
    return fail(model, format("%s: the buffer for '%s' is NULL", function, name));
  return index;
}

/// load_state*: `bytes` into the model, `source` naming them in messages.
int32_t loadState(modelc_model *model, const unsigned char *bytes, size_t size,
                  int32_t strict, const std::string &source) {
  std::string error;
  return loadStateDict(*model, bytes, size, strict != 0, source, error)
             ? 0 : fail(model, error);
}

} // namespace

MODELC_RT_EXPORT modelc_model *modelc_rt_create(const char *device,
                                                uint64_t seed) {
  // No model yet: the error goes to the thread's slot only.
  return guarded<modelc_model *>(nullptr, nullptr, [&]() -> modelc_model * {
    std::string error;
    modelc_model *model = createModel(device, seed, error);
    if (!model)
      recordError(nullptr, error);
    return model;
  });
}

MODELC_RT_EXPORT void modelc_rt_destroy(modelc_model *model) { delete model; }

MODELC_RT_EXPORT int32_t modelc_rt_forward(modelc_model *model,
                                           const modelc_tensor *inputs,
                                           int32_t n_inputs) {
  return entry(model, "forward", Access::Exclusive, [&]() -> int32_t {
    std::string error;
    return runForward(*model, inputs, n_inputs, error) ? 0 : fail(model, error);
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_num_inputs(const modelc_model *model) {
  return entry(model, "num_inputs", Access::Shared, [&] {
    return static_cast<int32_t>(model->desc->inputs.size());
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_input_info(const modelc_model *model,
                                              int32_t index,
                                              modelc_io_info *info) {
  return entry(model, "input_info", Access::Shared, [&] {
    return ioInfo(model, model->desc->inputs, "input_info", index, info);
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_num_outputs(const modelc_model *model) {
  return entry(model, "num_outputs", Access::Shared, [&] {
    return static_cast<int32_t>(model->desc->outputs.size());
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_output_info(const modelc_model *model,
                                               int32_t index,
                                               modelc_io_info *info) {
  return entry(model, "output_info", Access::Shared, [&] {
    return ioInfo(model, model->desc->outputs, "output_info", index, info);
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_get_output(const modelc_model *model,
                                              int32_t index,
                                              modelc_tensor *out) {
  return entry(model, "get_output", Access::Exclusive, [&]() -> int32_t {
    if (!out)
      return fail(model, "get_output: out is NULL");
    const auto &outputs = model->desc->outputs;
    if (index < 0 || static_cast<size_t>(index) >= outputs.size())
      return fail(model, format("get_output: index %d is out of range (the "
                                "model has %zu outputs)", index, outputs.size()));
    if (!model->hasOutputs)
      return fail(model, "get_output: no successful forward call yet");
    const OutputTensor &t = model->outputs[static_cast<size_t>(index)];
    out->data = t.data;
    out->dtype = static_cast<int32_t>(outputs[static_cast<size_t>(index)].dtype);
    out->rank = static_cast<int32_t>(t.shape.size());
    out->shape = t.shape.data();
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_set_training(modelc_model *model,
                                                int32_t training) {
  return entry(model, "set_training", Access::Exclusive, [&] {
    model->training = training != 0;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_is_training(const modelc_model *model) {
  return entry(model, "is_training", Access::Shared, [&] {
    return model->training ? 1 : 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_num_states(const modelc_model *model) {
  return entry(model, "num_states", Access::Shared, [&] {
    return static_cast<int32_t>(model->desc->states.size());
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_state_info(const modelc_model *model,
                                              int32_t index,
                                              modelc_state_info *info) {
  return entry(model, "state_info", Access::Shared, [&]() -> int32_t {
    if (!info)
      return fail(model, "state_info: info is NULL");
    const ModelDesc &desc = *model->desc;
    if (index < 0 || static_cast<size_t>(index) >= desc.listingOrder.size())
      return fail(model, format("state_info: index %d is out of range (the "
                                "model has %zu states)", index,
                                desc.listingOrder.size()));
    const StateDesc &s = desc.states[desc.listingOrder[static_cast<size_t>(index)]];
    info->name = s.name.c_str();
    info->kind = static_cast<int32_t>(s.kind);
    info->dtype = static_cast<int32_t>(s.dtype);
    info->rank = static_cast<int32_t>(s.shape.size());
    info->shape = s.shape.data();
    info->numel = s.numel;
    info->nbytes = s.nbytes;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_read_state(const modelc_model *model,
                                              const char *name, void *dst,
                                              size_t nbytes) {
  return entry(model, "read_state", Access::Exclusive, [&]() -> int32_t {
    int64_t index = stateForCopy(model, "read_state", name, dst, nbytes);
    if (index < 0)
      return -1;
    std::string error;
    if (!readStateEntry(*model, static_cast<size_t>(index), dst, error))
      return fail(model, "read_state: " + error);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_write_state(modelc_model *model,
                                               const char *name,
                                               const void *src, size_t nbytes) {
  return entry(model, "write_state", Access::Exclusive, [&]() -> int32_t {
    int64_t index = stateForCopy(model, "write_state", name, src, nbytes);
    if (index < 0)
      return -1;
    std::string error;
    if (!writeStateEntry(*model, static_cast<size_t>(index), src, error))
      return fail(model, "write_state: " + error);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_load_state(modelc_model *model,
                                              const char *path,
                                              int32_t strict) {
  return entry(model, "load_state", Access::Exclusive, [&]() -> int32_t {
    if (!path)
      return fail(model, "load_state: path is NULL");
    std::string bytes, error;
    if (!readSafeTensorsFile(path, bytes, error))
      return fail(model, format("'%s': %s", path, error.c_str()));
    return loadState(model, reinterpret_cast<const unsigned char *>(bytes.data()),
                     bytes.size(), strict, format("'%s'", path));
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_load_state_from_memory(modelc_model *model,
                                                          const void *data,
                                                          size_t size,
                                                          int32_t strict) {
  return entry(model, "load_state_from_memory", Access::Exclusive, [&]() -> int32_t {
    if (!data)
      return fail(model, "load_state_from_memory: data is NULL");
    return loadState(model, static_cast<const unsigned char *>(data), size, strict,
                     "memory");
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_save_state(const modelc_model *model,
                                              const char *path) {
  return entry(model, "save_state", Access::Exclusive, [&]() -> int32_t {
    if (!path)
      return fail(model, "save_state: path is NULL");
    std::string error;
    if (!syncStateToHost(*model, error))
      return fail(model, "save_state: " + error);
    if (!writeFileAtomically(path, serializeStateDict(*model), error))
      return fail(model, format("cannot save the state to '%s': %s", path,
                                error.c_str()));
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_save_state_to_memory(const modelc_model *model,
                                                        void **data,
                                                        size_t *size) {
  return entry(model, "save_state_to_memory", Access::Exclusive, [&]() -> int32_t {
    if (!data || !size)
      return fail(model, "save_state_to_memory: data or size is NULL");
    std::string error;
    if (!syncStateToHost(*model, error))
      return fail(model, "save_state_to_memory: " + error);
    std::string bytes = serializeStateDict(*model);
    void *buffer = std::malloc(bytes.size());
    if (!buffer)
      return fail(model, "out of memory");
    std::memcpy(buffer, bytes.data(), bytes.size());
    *data = buffer;
    *size = bytes.size();
    return 0;
  });
}

MODELC_RT_EXPORT void modelc_rt_free_buffer(void *buffer) { std::free(buffer); }

MODELC_RT_EXPORT int32_t modelc_rt_to_device(modelc_model *model,
                                             const char *device) {
  return entry(model, "to_device", Access::Exclusive, [&]() -> int32_t {
    if (!device)
      return fail(model, "to_device: device is NULL");
    std::string error;
    return moveToDevice(*model, device, error) ? 0
                                               : fail(model, "to_device: " + error);
  });
}

MODELC_RT_EXPORT const char *modelc_rt_device(const modelc_model *model) {
  return entry<const char *>(model, "device", Access::Shared, nullptr,
                             [&] { return deviceName(model->device); });
}

MODELC_RT_EXPORT const char *modelc_rt_last_error(const modelc_model *model) {
  return lastError(model);
}

MODELC_RT_EXPORT int32_t modelc_rt_trim(const modelc_model *model) {
  // Shared: the heap has its own lock and frees only blocks no call holds,
  // so trimming while another thread runs this model is safe.
  return entry(model, "trim", Access::Shared, [] {
    releaseHeap();
    return 0;
  });
}

//===- Training -------------------------------------------------------------===//

namespace {

/// checkCanTrain, recording its error: false when `model` cannot train.
bool canTrain(const modelc_model *model, const char *function, bool onCpu) {
  std::string error;
  if (checkCanTrain(*model, function, onCpu, error))
    return true;
  recordError(model, error);
  return false;
}

/// entry() for the training functions: also refuses a model that cannot
/// train (checkCanTrain).
template <typename Model, typename Body>
int32_t trainingEntry(Model *model, const char *function, Access access, bool onCpu,
                      Body &&body) {
  return entry(model, function, access, [&]() -> int32_t {
    return canTrain(model, function, onCpu) ? body() : -1;
  });
}

/// The parameter `name` of a model that trains if `nbytes` is exactly its
/// gradient's size; -1 otherwise.
int64_t parameterForCopy(const modelc_model *model, const char *function, const char *name,
                         const void *buffer, size_t nbytes) {
  std::string error;
  int64_t p = findParameter(*model, function, name, error);
  if (p < 0)
    return fail(model, error);
  const StateDesc &s = model->desc->states[model->desc->parameters[static_cast<size_t>(p)]];
  if (nbytes != s.nbytes)
    return fail(model, format("%s: the gradient of '%s' is F32 %s (%llu bytes), but the "
                              "buffer has %zu bytes", function, name,
                              formatShape(s.shape).c_str(),
                              static_cast<unsigned long long>(s.nbytes), nbytes));
  if (!buffer && nbytes)
    return fail(model, format("%s: the buffer for '%s' is NULL", function, name));
  return p;
}

/// load_optimizer_state*: `bytes` into the model, `source` naming them.
int32_t loadOptimizer(modelc_model *model, const unsigned char *bytes, size_t size,
                      const std::string &source) {
  std::string error;
  std::unique_ptr<Optimizer> optimizer =
      Optimizer::deserialize(*model, bytes, size, source, error);
  if (!optimizer)
    return fail(model, error);
  model->optimizer = std::move(optimizer);
  return 0;
}

/// The optimizer state file of a model that has an optimizer.
int32_t serializeOptimizer(const modelc_model *model, const char *function,
                           std::string &bytes) {
  if (!canTrain(model, function, /*onCpu=*/false))
    return -1;
  if (!model->optimizer)
    return fail(model, format("%s: no optimizer yet (call set_optimizer first)", function));
  bytes = model->optimizer->serialize(*model);
  return 0;
}

/// loss_backward, recording its error.
int32_t backward(modelc_model *model, const modelc_tensor *inputs, int32_t n_inputs,
                 float *loss) {
  std::string error;
  return lossBackward(*model, inputs, n_inputs, loss, error) ? 0 : fail(model, error);
}

/// step: the optimizer's update, on the CPU. For a model on a GPU it runs
/// on the host's copy of the parameters: they come down, are updated and
/// go back up (the optimizer's state stays on the host).
int32_t optimizerStep(modelc_model *model, const char *function) {
  if (!canTrain(model, function, /*onCpu=*/!libraryTrainsOnCuda()))
    return -1;
  if (!model->optimizer)
    return fail(model, format("%s: no optimizer yet (call set_optimizer first)", function));
  std::string error;
  if (model->device != kCpu)
    for (size_t index : model->desc->parameters)
      if (!readStateEntry(*model, index, model->stateData[index], error))
        return fail(model, format("%s: %s", function, error.c_str()));
  model->optimizer->step(*model);
  if (model->device != kCpu)
    for (size_t index : model->desc->parameters)
      if (!writeStateEntry(*model, index, model->stateData[index], error))
        return fail(model, format("%s: %s", function, error.c_str()));
  return 0;
}

} // namespace

MODELC_RT_EXPORT int32_t modelc_rt_set_optimizer(modelc_model *model, const char *name,
                                                 const char *options_json) {
  return trainingEntry(model, "set_optimizer", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    std::string error;
    std::unique_ptr<Optimizer> optimizer =
        Optimizer::create(*model->desc, name, options_json, error);
    if (!optimizer)
      return fail(model, "set_optimizer: " + error);
    model->optimizer = std::move(optimizer);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_set_hyperparameter(modelc_model *model, const char *name,
                                                      double value) {
  return trainingEntry(model, "set_hyperparameter", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    if (!model->optimizer)
      return fail(model, "set_hyperparameter: no optimizer yet (call set_optimizer first)");
    std::string error;
    if (!model->optimizer->setHyperparameter(name, value, error))
      return fail(model, "set_hyperparameter: " + error);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_zero_grad(modelc_model *model) {
  return trainingEntry(model, "zero_grad", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    zeroGrad(*model);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_loss_backward(modelc_model *model,
                                                 const modelc_tensor *inputs,
                                                 int32_t n_inputs, float *loss) {
  return entry(model, "loss_backward", Access::Exclusive,
               [&] { return backward(model, inputs, n_inputs, loss); });
}

MODELC_RT_EXPORT int32_t modelc_rt_forward_backward(modelc_model *model,
                                                    const modelc_tensor *inputs,
                                                    int32_t n_inputs,
                                                    const modelc_tensor *grad_outputs,
                                                    int32_t n_grad_outputs) {
  return entry(model, "forward_backward", Access::Exclusive, [&]() -> int32_t {
    std::string error;
    return forwardBackward(*model, inputs, n_inputs, grad_outputs, n_grad_outputs, error)
               ? 0
               : fail(model, error);
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_step(modelc_model *model) {
  return entry(model, "step", Access::Exclusive,
               [&] { return optimizerStep(model, "step"); });
}

MODELC_RT_EXPORT int32_t modelc_rt_train_step(modelc_model *model,
                                              const modelc_tensor *inputs,
                                              int32_t n_inputs, float *loss) {
  return entry(model, "train_step", Access::Exclusive, [&]() -> int32_t {
    // The checks before zero_grad, so that refused inputs change nothing.
    // (A failed shape check of the generated code leaves the gradients
    // zeroed, as the script's zero_grad() would have.)
    if (!canTrain(model, "train_step", /*onCpu=*/!libraryTrainsOnCuda()))
      return -1;
    if (!model->optimizer)
      return fail(model, "train_step: no optimizer yet (call set_optimizer first)");
    std::string error;
    if (!checkInputs(model->desc->lossInputs, inputs, n_inputs, "train_step", error))
      return fail(model, error);
    zeroGrad(*model);
    if (backward(model, inputs, n_inputs, loss) != 0)
      return -1;
    return optimizerStep(model, "train_step");
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_read_grad(const modelc_model *model, const char *name,
                                             void *dst, size_t nbytes) {
  return trainingEntry(model, "read_grad", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    int64_t p = parameterForCopy(model, "read_grad", name, dst, nbytes);
    if (p < 0)
      return -1;
    if (nbytes)
      std::memcpy(dst, gradientOf(*model, static_cast<size_t>(p)), nbytes);
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_write_grad(modelc_model *model, const char *name,
                                              const void *src, size_t nbytes) {
  return trainingEntry(model, "write_grad", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    int64_t p = parameterForCopy(model, "write_grad", name, src, nbytes);
    if (p < 0)
      return -1;
    if (nbytes)
      std::memcpy(gradientOf(*model, static_cast<size_t>(p)), src, nbytes);
    model->hasGrad[static_cast<size_t>(p)] = 1;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_set_requires_grad(modelc_model *model, const char *name,
                                                     int32_t flag) {
  return trainingEntry(model, "set_requires_grad", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    std::string error;
    int64_t p = findParameter(*model, "set_requires_grad", name, error);
    if (p < 0)
      return fail(model, error);
    model->requiresGrad[static_cast<size_t>(p)] = flag != 0;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_requires_grad(const modelc_model *model, const char *name) {
  return trainingEntry(model, "requires_grad", Access::Exclusive, /*onCpu=*/false,
                       [&]() -> int32_t {
    std::string error;
    int64_t p = findParameter(*model, "requires_grad", name, error);
    if (p < 0)
      return fail(model, error);
    return model->requiresGrad[static_cast<size_t>(p)] ? 1 : 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_save_optimizer_state(const modelc_model *model,
                                                        const char *path) {
  return entry(model, "save_optimizer_state", Access::Exclusive, [&]() -> int32_t {
    if (!path)
      return fail(model, "save_optimizer_state: path is NULL");
    std::string bytes, error;
    if (serializeOptimizer(model, "save_optimizer_state", bytes) != 0)
      return -1;
    if (!writeFileAtomically(path, bytes, error))
      return fail(model, format("cannot save the optimizer state to '%s': %s", path,
                                error.c_str()));
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_load_optimizer_state(modelc_model *model,
                                                        const char *path) {
  return entry(model, "load_optimizer_state", Access::Exclusive, [&]() -> int32_t {
    if (!path)
      return fail(model, "load_optimizer_state: path is NULL");
    if (!canTrain(model, "load_optimizer_state", /*onCpu=*/false))
      return -1;
    std::string bytes, error;
    if (!readSafeTensorsFile(path, bytes, error))
      return fail(model, format("'%s': %s", path, error.c_str()));
    return loadOptimizer(model, reinterpret_cast<const unsigned char *>(bytes.data()),
                         bytes.size(), format("'%s'", path));
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_save_optimizer_state_to_memory(const modelc_model *model,
                                                                  void **data,
                                                                  size_t *size) {
  return entry(model, "save_optimizer_state_to_memory", Access::Exclusive,
               [&]() -> int32_t {
    if (!data || !size)
      return fail(model, "save_optimizer_state_to_memory: data or size is NULL");
    std::string bytes;
    if (serializeOptimizer(model, "save_optimizer_state_to_memory", bytes) != 0)
      return -1;
    void *buffer = std::malloc(bytes.size());
    if (!buffer)
      return fail(model, "out of memory");
    std::memcpy(buffer, bytes.data(), bytes.size());
    *data = buffer;
    *size = bytes.size();
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_load_optimizer_state_from_memory(modelc_model *model,
                                                                    const void *data,
                                                                    size_t size) {
  return entry(model, "load_optimizer_state_from_memory", Access::Exclusive,
               [&]() -> int32_t {
    if (!data)
      return fail(model, "load_optimizer_state_from_memory: data is NULL");
    if (!canTrain(model, "load_optimizer_state_from_memory", /*onCpu=*/false))
      return -1;
    return loadOptimizer(model, static_cast<const unsigned char *>(data), size, "memory");
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_num_loss_inputs(const modelc_model *model) {
  return entry(model, "num_loss_inputs", Access::Shared, [&]() -> int32_t {
    if (!model->desc->hasLoss)
      return fail(model, "num_loss_inputs: the model has no loss method");
    return static_cast<int32_t>(model->desc->lossInputs.size());
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_loss_input_info(const modelc_model *model, int32_t index,
                                                   modelc_io_info *info) {
  return entry(model, "loss_input_info", Access::Shared, [&]() -> int32_t {
    if (!model->desc->hasLoss)
      return fail(model, "loss_input_info: the model has no loss method");
    return ioInfo(model, model->desc->lossInputs, "loss_input_info", index, info);
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_grad_buffer(modelc_model *model, void **data,
                                               size_t *nbytes) {
  return entry(model, "grad_buffer", Access::Exclusive, [&]() -> int32_t {
    if (!data || !nbytes)
      return fail(model, "grad_buffer: data or nbytes is NULL");
    if (!canTrain(model, "grad_buffer", /*onCpu=*/false))
      return -1;
    *data = model->gradData;
    *nbytes = model->gradBytes;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_grad_offset(const modelc_model *model, const char *name,
                                               size_t *offset) {
  return entry(model, "grad_offset", Access::Shared, [&]() -> int32_t {
    if (!offset)
      return fail(model, "grad_offset: offset is NULL");
    if (!canTrain(model, "grad_offset", /*onCpu=*/false))
      return -1;
    std::string error;
    int64_t p = findParameter(*model, "grad_offset", name, error);
    if (p < 0)
      return fail(model, error);
    *offset = model->gradOffsets[static_cast<size_t>(p)];
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_set_all_reduce(modelc_model *model, modelc_all_reduce_fn fn,
                                                   void *context) {
  return entry(model, "set_all_reduce", Access::Exclusive, [&]() -> int32_t {
    model->allReduce = fn;
    model->allReduceContext = fn ? context : nullptr;
    return 0;
  });
}

MODELC_RT_EXPORT int32_t modelc_rt_uses_all_reduce(const modelc_model *model) {
  return entry(model, "uses_all_reduce", Access::Shared,
               [&]() -> int32_t { return model->desc->allReduce ? 1 : 0; });
}

MODELC_RT_EXPORT int32_t modelc_rt_check_loss_inputs(const modelc_model *model,
                                                     const modelc_tensor *inputs,
                                                     int32_t n_inputs) {
  return entry(model, "check_loss_inputs", Access::Shared, [&]() -> int32_t {
    if (!model->desc->hasLoss)
      return fail(model, "check_loss_inputs: the model has no loss method");
    std::string error;
    if (!checkInputs(model->desc->lossInputs, inputs, n_inputs, "loss_backward", error))
      return fail(model, error);
    return 0;
  });
}

MODELC_RT_EXPORT const char *modelc_rt_cpu(const modelc_model *model) {
  return entry(model, "cpu", Access::Shared, static_cast<const char *>(nullptr),
               [&] { return model->desc->cpu.c_str(); });
}

MODELC_RT_EXPORT const modelc_api *modelc_model_entry(void) {
  static const modelc_api api = [] {
    modelc_api a;
    std::memset(&a, 0, sizeof a);
    a.abi_version = MODELC_ABI_VERSION;
    a.size = sizeof(modelc_api);
    std::string error;
    const ModelDesc *desc = linkedModelDesc(error);
    a.name = desc ? desc->name.c_str() : "";
    a.prefix = desc ? desc->prefix.c_str() : "";
    a.desc_json = modelc_generated_desc;
#define MODELC_FILL_(P, ret, fn, params) a.fn = &P##_##fn;
    MODELC_FOR_EACH_ABI_FUNCTION(MODELC_FILL_, modelc_rt)
#undef MODELC_FILL_
    return a;
  }();
  return &api;
}
