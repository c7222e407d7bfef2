//===- Inputs.h - the tensors of modelc-run's --inputs file ---------------===//
//
// What modelc-run does with an --inputs file once it is read: parse it as
// safetensors, match its tensors to the model's inputs by name (every input
// present, nothing else) and copy each to 64-byte aligned memory, since the
// generated code may assume alignment. A function of its own so that a
// fuzzer (fuzz/ModelInputsFuzzer.cpp) can drive it without a model library.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_TOOLS_INPUTS_H
#define MODELC_RUNTIME_TOOLS_INPUTS_H

#include "modelc/modelc.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt {

/// The inputs in argument order; `tensors` point into `shapes` and
/// `buffers`, which this object owns.
struct Inputs {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<void *> buffers;
  std::vector<modelc_tensor> tensors;
  Inputs() = default;
  Inputs(const Inputs &) = delete;
  Inputs &operator=(const Inputs &) = delete;
  ~Inputs();
};

/// Parses `size` bytes of safetensors and binds them to the inputs named
/// `names` (in argument order). On failure returns false with `error` set,
/// e.g. "no tensor named 'x' (the model's inputs are: x, y)".
bool bindInputs(const unsigned char *bytes, size_t size,
                const std::vector<std::string> &names, Inputs &inputs,
                std::string &error);

} // namespace modelc::rt

#endif
