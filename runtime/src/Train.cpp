//===- Train.cpp - gradients and loss_backward -----------------------------===//
#include "Train.h"

#include "Entries.h"
#include "GeneratedSymbols.h"
#include "Parallel.h"
#include "Run.h"
#include "support/Format.h"

#include <algorithm>
#include <cstring>

namespace modelc::rt {

bool libraryTrainsOnCuda() {
  return modelc_generated_cuda_loss_backward_train && modelc_generated_cuda_loss_backward_eval;
}

bool libraryTrains(const ModelDesc &desc) {
  return desc.hasLoss && cpuEntries(desc).lossBackwardTrain &&
         cpuEntries(desc).lossBackwardEval;
}

bool initTraining(modelc_model &model, std::string &error) {
  const ModelDesc &desc = *model.desc;
  if (!libraryTrains(desc))
    return true;
  uint64_t total = 0;
  for (size_t i : desc.parameters) {
    total = (total + 63) / 64 * 64;
    model.gradOffsets.push_back(total);
    total += desc.states[i].numel * sizeof(float);
    model.requiresGrad.push_back(desc.states[i].requiresGrad ? 1 : 0);
  }
  model.hasGrad.assign(desc.parameters.size(), 0);
  model.gradBytes = (total + 63) / 64 * 64;
  model.gradData = static_cast<float *>(allocateAligned(model.gradBytes));
  if (!model.gradData) {
    error = format("out of memory allocating the gradients (%llu bytes)",
                   static_cast<unsigned long long>(model.gradBytes));
    return false;
  }
  std::memset(model.gradData, 0, model.gradBytes);
  return true;
}

bool checkCanTrain(const modelc_model &model, const char *function, bool onCpu,
                   std::string &error) {
  const ModelDesc &desc = *model.desc;
  if (!desc.hasLoss) {
    error = format("%s: the model has no loss method", function);
    return false;
  }
  if (!model.gradData) {
    error = format("%s: invalid model library: its description has a loss, but the "
                   "library has no loss_backward entries", function);
    return false;
  }
  for (size_t p = 0; p < desc.parameters.size(); ++p) {
    const StateDesc &state = desc.states[desc.parameters[p]];
    if (state.dtype != DType::F32) {
      error = format("%s: parameter '%s' is %s: training supports F32 parameters only",
                     function, state.name.c_str(), dtypeName(state.dtype));
      return false;
    }
  }
  if (onCpu && model.device != kCpu) {
    error = format("%s: the model is on %s, and %s; move it to the cpu with to_device",
                   function, deviceName(model.device),
                   libraryTrainsOnCuda()
                       ? "this runs on the cpu only"
                       : "this library's CUDA code has no training functions (it was "
                         "compiled by an older modelc)");
    return false;
  }
  return true;
}

int64_t findParameter(const modelc_model &model, const char *function,
                      const char *name, std::string &error) {
  const ModelDesc &desc = *model.desc;
  if (!name) {
    error = format("%s: the name is NULL", function);
    return -1;
  }
  auto it = desc.stateIndex.find(name);
  if (it == desc.stateIndex.end()) {
    error = format("%s: the model has no parameter named '%s'", function, name);
    return -1;
  }
  auto at = std::lower_bound(desc.parameters.begin(), desc.parameters.end(), it->second);
  if (at == desc.parameters.end() || *at != it->second) {
    error = format("%s: '%s' is a buffer, not a parameter", function, name);
    return -1;
  }
  return at - desc.parameters.begin();
}

namespace {

/// Checks results [first, first + parameters) of a joint call against
/// `results`, then adds them to the gradients of the parameters that
/// require one (the first since zero_grad is stored, as AccumulateGrad).
bool checkResults(const PackedCall &call, const std::vector<TensorDesc> &results,
                  std::string &why) {
  // Every result's shape first, so that nothing changes on an error.
  for (size_t j = 0; j < results.size(); ++j) {
    const TensorDesc &result = results[j];
    ResultView view = resultView(call, j);
    bool ok = view.sizes.size() == result.shape.size();
    for (size_t d = 0; ok && d < view.sizes.size(); ++d)
      ok = result.shape[d] < 0 || view.sizes[d] == result.shape[d];
    if (!ok) {
      why = format("internal error: the generated code returned %s with shape %s, "
                   "expected %s", result.name.c_str(), formatShape(view.sizes).c_str(),
                   formatShape(result.shape).c_str());
      return false;
    }
  }
  return true;
}

/// Whether a view of `sizes` with `strides` (in elements) is dense row-major.
bool isContiguous(const std::vector<int64_t> &sizes, const std::vector<int64_t> &strides) {
  int64_t expected = 1;
  for (size_t d = sizes.size(); d-- > 0;) {
    if (sizes[d] != 1 && strides[d] != expected)
      return false;
    expected *= sizes[d];
  }
  return true;
}

/// Stores `values` (numel of them) as parameter p's gradient, or adds them
/// to it when it has one since zero_grad.
void storeOrAddGradient(modelc_model &model, size_t p, const float *values, uint64_t numel) {
  float *grad = gradientOf(model, p);
  if (!model.hasGrad[p]) {
    std::memcpy(grad, values, numel * sizeof(float));
    model.hasGrad[p] = 1;
    return;
  }
  for (uint64_t k = 0; k < numel; ++k)
    grad[k] += values[k];
}

/// addGradients for results in device memory: all downloaded first (a
/// failed copy changes no gradient), then stored or added on the host,
/// where the optimizer runs.
bool addGradientsFromDevice(modelc_model &model, const PackedCall &call, size_t first,
                            std::string &error) {
  const ModelDesc &desc = *model.desc;
  thread_local std::vector<float> values;
  values.resize(model.gradBytes / sizeof(float));
  for (size_t p = 0; p < desc.parameters.size(); ++p) {
    const StateDesc &state = desc.states[desc.parameters[p]];
    std::string why;
    if (model.requiresGrad[p] &&
        !downloadView(resultView(call, first + p), sizeof(float),
                      values.data() + model.gradOffsets[p] / sizeof(float),
                      "the gradient of " + state.name, why)) {
      error = format("cannot copy the gradient of '%s' from %s: %s", state.name.c_str(),
                     deviceName(model.device), why.c_str());
      return false;
    }
  }
  for (size_t p = 0; p < desc.parameters.size(); ++p)
    if (model.requiresGrad[p])
      storeOrAddGradient(model, p, values.data() + model.gradOffsets[p] / sizeof(float),
                         desc.states[desc.parameters[p]].numel);
  return true;
}

void addGradients(modelc_model &model, const PackedCall &call, size_t first) {
  const ModelDesc &desc = *model.desc;
  thread_local std::vector<float> scratch;
  for (size_t p = 0; p < desc.parameters.size(); ++p) {
    if (!model.requiresGrad[p])
      continue;
    ResultView view = resultView(call, first + p);
    uint64_t numel = desc.states[desc.parameters[p]].numel;
    if (isContiguous(view.sizes, view.strides)) {
      // The common case: straight from the result, on the team.
      const float *result = reinterpret_cast<const float *>(view.data);
      float *grad = gradientOf(model, p);
      bool stored = !model.hasGrad[p];
      model.hasGrad[p] = 1;
      if (stored)
        parallelFor(numel, [&](uint64_t begin, uint64_t end) {
          std::memcpy(grad + begin, result + begin, (end - begin) * sizeof(float));
        });
      else
        parallelFor(numel, [&](uint64_t begin, uint64_t end) {
          for (uint64_t k = begin; k < end; ++k)
            grad[k] += result[k];
        });
      continue;
    }
    scratch.resize(numel);
    copyStrided(reinterpret_cast<char *>(scratch.data()), view.data, sizeof(float), view.sizes,
                view.strides);
    storeOrAddGradient(model, p, scratch.data(), numel);
  }
}

} // namespace

bool lossBackward(modelc_model &model, const modelc_tensor *inputs,
                  int32_t numInputs, float *loss, std::string &error) {
  if (!checkCanTrain(model, "loss_backward", /*onCpu=*/!libraryTrainsOnCuda(), error))
    return false;
  const ModelDesc &desc = *model.desc;
  if (!checkInputs(desc.lossInputs, inputs, numInputs, "loss_backward", error))
    return false;
  if (model.device != kCpu) {
    // The joint function's kernels on the device; the loss and the
    // gradients come back to the host, where the optimizer runs.
    auto accumulate = [&model, &desc, loss](const PackedCall &call, std::string &why) {
      float value;
      if (!checkResults(call, desc.lossResults, why) ||
          !downloadView(resultView(call, 0), sizeof value, &value, "the loss", why) ||
          !addGradientsFromDevice(model, call, 1, why))
        return false;
      if (loss)
        *loss = value;
      return true;
    };
    return callOnCuda(model,
                      model.training ? modelc_generated_cuda_loss_backward_train
                                     : modelc_generated_cuda_loss_backward_eval,
                      desc.lossResults, desc.lossInputs, inputs, "loss_backward", accumulate,
                      error);
  }
  auto accumulate = [&model, &desc, loss](const PackedCall &call, std::string &why) {
    if (!checkResults(call, desc.lossResults, why))
      return false;
    float value;
    std::memcpy(&value, resultView(call, 0).data, sizeof value);
    addGradients(model, call, 1);
    if (loss)
      *loss = value;
    return true;
  };
  return callOnCpu(model,
                   model.training ? cpuEntries(desc).lossBackwardTrain
                                  : cpuEntries(desc).lossBackwardEval,
                   desc.lossResults, inputs, desc.lossInputs.size(), accumulate, error);
}

bool forwardBackward(modelc_model &model, const modelc_tensor *inputs, int32_t numInputs,
                     const modelc_tensor *gradOutputs, int32_t numGradOutputs,
                     std::string &error) {
  if (!checkCanTrain(model, "forward_backward", /*onCpu=*/!libraryTrainsOnCuda(), error))
    return false;
  const ModelDesc &desc = *model.desc;
  bool onCuda = model.device != kCpu;
  if (onCuda ? !modelc_generated_cuda_forward_backward_train ||
                   !modelc_generated_cuda_forward_backward_eval
             : !cpuEntries(desc).forwardBackwardTrain || !cpuEntries(desc).forwardBackwardEval) {
    error = "forward_backward: this library has no forward_backward entries (compile the model "
            "with modelc --forward-backward)";
    return false;
  }
  if (!checkInputs(desc.inputs, inputs, numInputs, "forward_backward", error) ||
      !checkInputs(desc.gradOutputs, gradOutputs, numGradOutputs,
                   "forward_backward (grad_outputs)", error))
    return false;
  // The generated function takes the cotangents as inputs after forward's.
  thread_local std::vector<modelc_tensor> all;
  all.assign(inputs, inputs + numInputs);
  all.insert(all.end(), gradOutputs, gradOutputs + numGradOutputs);
  model.hasOutputs = false;
  if (onCuda) {
    // The cotangents are inputs too, copied to the device with forward's.
    thread_local std::vector<TensorDesc> allDescs;
    allDescs = desc.inputs;
    allDescs.insert(allDescs.end(), desc.gradOutputs.begin(), desc.gradOutputs.end());
    auto download = [&model, &desc](const PackedCall &call, std::string &why) {
      return checkResults(call, desc.forwardBackwardResults, why) &&
             downloadOutputsOf(model, call, why) &&
             addGradientsFromDevice(model, call, desc.outputs.size(), why);
    };
    bool ok = callOnCuda(model,
                         model.training ? modelc_generated_cuda_forward_backward_train
                                        : modelc_generated_cuda_forward_backward_eval,
                         desc.forwardBackwardResults, allDescs, all.data(), "forward_backward",
                         download, error);
    model.hasOutputs = ok;
    return ok;
  }
  auto consume = [&model, &desc](const PackedCall &call, std::string &why) {
    if (!checkResults(call, desc.forwardBackwardResults, why) ||
        !copyOutputsOf(model, call, why))
      return false;
    addGradients(model, call, desc.outputs.size());
    return true;
  };
  bool ok = callOnCpu(model,
                      model.training ? cpuEntries(desc).forwardBackwardTrain
                                     : cpuEntries(desc).forwardBackwardEval,
                      desc.forwardBackwardResults, all.data(), all.size(), consume, error);
  model.hasOutputs = ok;
  return ok;
}

void zeroGrad(modelc_model &model) {
  if (model.gradData)
    std::memset(model.gradData, 0, model.gradBytes);
  std::fill(model.hasGrad.begin(), model.hasGrad.end(), 0);
}

} // namespace modelc::rt
