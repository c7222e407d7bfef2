//===- Run.h - calling a generated function on a model's state -------------===//
//
// What forward and loss_backward share (Forward.cpp): checking the caller's
// inputs against their description, and one CPU or CUDA call of a generated
// function, from packing its arguments to freeing its results.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_RUN_H
#define MODELC_RUNTIME_RUN_H

#include "Call.h"
#include "Model.h"

#include <functional>
#include <string>
#include <vector>

namespace modelc::rt {

/// Checks `numInputs` tensors against `descs` (count, dtype, rank, static
/// sizes, the sizes of one name): the messages name the input at fault, or
/// `function` ("forward takes 1 input (x), got 2").
bool checkInputs(const std::vector<TensorDesc> &descs, const modelc_tensor *inputs,
                 int32_t numInputs, const char *function, std::string &error);

using GeneratedFunction = void (*)(void **);
/// Reads the results of a call before they are freed; false (with the
/// error set) fails the call.
using ResultConsumer = std::function<bool(const PackedCall &call, std::string &error)>;

/// One CPU call of `function` with the model's state, the (checked)
/// `inputs`, its random stream and derived values (brought up to date
/// first): `results` describes what it returns, `consume` reads them unless
/// a shape check of the generated code failed (then the call fails and, in
/// training mode, the buffers are put back as they were). Frees the
/// results as docs/ABI.md says, whatever happened.
bool callOnCpu(modelc_model &model, GeneratedFunction function,
               const std::vector<TensorDesc> &results, const modelc_tensor *inputs,
               size_t numInputs, const ResultConsumer &consume, std::string &error);

/// One call of the CUDA `function` on a model on a GPU: the (checked)
/// `inputs` (described by `inputDescs`) are copied to device memory for the
/// call; then as callOnCpu, except that the results `consume` reads are
/// device memory (downloadView), and that the derived values are none.
/// `name` starts the messages.
bool callOnCuda(modelc_model &model, GeneratedFunction function,
                const std::vector<TensorDesc> &results, const std::vector<TensorDesc> &inputDescs,
                const modelc_tensor *inputs, const char *name, const ResultConsumer &consume,
                std::string &error);

/// Copies `view` (device memory, any non-negative strides) of elements of
/// `elementSize` bytes into `dst`, dense; `name` names it in messages.
bool downloadView(const ResultView &view, size_t elementSize, void *dst,
                  const std::string &name, std::string &error);

/// downloadView of results 0..outputs-1 of a call on the device into the
/// model's output slots (get_output), checking them against the description.
bool downloadOutputsOf(modelc_model &model, const PackedCall &call, std::string &error);

/// Copies results 0..outputs-1 of a forward-like call into the model's
/// output slots (get_output), checking them against the description.
bool copyOutputsOf(modelc_model &model, const PackedCall &call, std::string &error);

} // namespace modelc::rt

#endif
