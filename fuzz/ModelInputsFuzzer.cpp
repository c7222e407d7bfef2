//===- ModelInputsFuzzer.cpp - fuzz modelc-run's --inputs handling --------===//
//
// The input is the --inputs file. It goes through bindInputs (parsing and
// matching to the model's inputs, as modelc-run does) and, when that
// succeeds, forward() of the fake model of test/Runtime (linked in), whose
// single input is x: f32[N, 2]: the runtime must check dtype, rank and
// shape before the generated code sees the data. Both evaluation and
// training mode run; outputs are read back.
//
//===----------------------------------------------------------------------===//
#include "Inputs.h"
#include "modelc/modelc.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace modelc::rt;

namespace {
[[noreturn]] void fail(const char *what, const std::string &detail) {
  std::fprintf(stderr, "ModelInputsFuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const modelc_api *api = modelc_model_entry();
  static modelc_model *model = api->create("cpu", 0);
  if (!model)
    fail("cannot create the fake model", api->last_error(nullptr));
  std::vector<std::string> names;
  for (int32_t i = 0; i < api->num_inputs(model); ++i) {
    modelc_io_info info;
    if (api->input_info(model, i, &info) != 0)
      fail("input_info", api->last_error(model));
    names.push_back(info.name);
  }

  Inputs inputs;
  std::string error;
  if (!bindInputs(data, size, names, inputs, error)) {
    if (error.empty())
      fail("rejected without a message", "");
    return 0;
  }
  for (int32_t training : {0, 1}) {
    api->set_training(model, training);
    if (api->forward(model, inputs.tensors.data(),
                     static_cast<int32_t>(inputs.tensors.size())) != 0) {
      if (!*api->last_error(model))
        fail("forward failed without a message", "");
      continue;
    }
    for (int32_t i = 0; i < api->num_outputs(model); ++i) {
      modelc_tensor out;
      if (api->get_output(model, i, &out) != 0)
        fail("get_output after a successful forward", api->last_error(model));
    }
  }
  return 0;
}
