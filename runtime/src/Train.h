//===- Train.h - gradients and loss_backward -------------------------------===//
//
// A library whose model has a `loss` method trains (docs/ABI.md, "Training"):
// its model instances own one gradient per parameter, which loss_backward
// adds to (as PyTorch's `.grad` accumulates) and zero_grad clears; the
// optimizer (Optimizer.h) updates the parameters from them.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_TRAIN_H
#define MODELC_RUNTIME_TRAIN_H

#include "Model.h"

#include <string>

namespace modelc::rt {

/// Whether this library trains: its description has "loss_inputs" and the
/// generated code defines the loss_backward entries.
bool libraryTrains(const ModelDesc &desc);

/// Whether this library's CUDA code has the loss_backward entries: then a
/// model on a GPU trains there (its optimizer on the host).
bool libraryTrainsOnCuda();

/// Allocates the (zero) gradients of a new model of a library that trains;
/// nothing otherwise.
bool initTraining(modelc_model &model, std::string &error);

/// Fails unless `model` can train: the library has a loss, every trainable
/// parameter is F32 and, with `onCpu`, the model is on the CPU. The error
/// starts with `function`.
bool checkCanTrain(const modelc_model &model, const char *function, bool onCpu,
                   std::string &error);

/// The position of parameter `name` in desc.parameters; -1 with the error
/// (starting with `function`) for a NULL name, an unknown one or a buffer.
int64_t findParameter(const modelc_model &model, const char *function,
                      const char *name, std::string &error);

/// loss_backward: runs `loss` on the checked `inputs` in the current mode
/// and adds d loss / d parameter to the gradient of every parameter that
/// requires one; `*loss` (when not NULL) gets the loss. On any failure,
/// a failed shape check of the generated code included, no gradient
/// changes (nor, in training mode, any buffer).
bool lossBackward(modelc_model &model, const modelc_tensor *inputs,
                  int32_t numInputs, float *loss, std::string &error);

/// forward_backward: forward on the checked `inputs` in the current mode
/// (results readable with get_output), then adds the vector-Jacobian
/// product of the outputs with `gradOutputs` (one per output, of its shape)
/// to the gradients, as y.backward(g). All or nothing, as lossBackward.
bool forwardBackward(modelc_model &model, const modelc_tensor *inputs, int32_t numInputs,
                     const modelc_tensor *gradOutputs, int32_t numGradOutputs,
                     std::string &error);

/// zero_grad: every gradient to zero, and none "has" a gradient.
void zeroGrad(modelc_model &model);

/// The gradient of parameter `p` (a desc.parameters position).
inline float *gradientOf(const modelc_model &model, size_t p) {
  return reinterpret_cast<float *>(reinterpret_cast<char *>(model.gradData) +
                                   model.gradOffsets[p]);
}

} // namespace modelc::rt

#endif
