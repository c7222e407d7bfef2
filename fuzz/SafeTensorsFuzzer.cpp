//===- SafeTensorsFuzzer.cpp - fuzz the safetensors reader ----------------===//
//
// The input is a whole safetensors file. parseSafeTensors must accept it or
// say why not, and never read outside the bytes. A file it accepts must
// survive a round trip through serializeSafeTensors unchanged in meaning;
// it is then also loaded, strictly and not, as the state dict of the fake
// model of test/Runtime (linked in), which exercises the runtime's matching
// of names, dtypes and shapes.
//
//===----------------------------------------------------------------------===//
#include "modelc/modelc.h"
#include "support/SafeTensors.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace modelc::rt;

namespace {
[[noreturn]] void fail(const char *what, const std::string &detail) {
  std::fprintf(stderr, "SafeTensorsFuzzer: %s: %s\n", what, detail.c_str());
  std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<SafeTensor> tensors;
  std::string error;
  if (!parseSafeTensors(data, size, tensors, error)) {
    if (error.empty())
      fail("rejected without a message", "");
    return 0;
  }

  // Round trip: what we write, we read back to the same tensors.
  std::string bytes = serializeSafeTensors(tensors);
  std::vector<SafeTensor> again;
  if (!parseSafeTensors(reinterpret_cast<const unsigned char *>(bytes.data()),
                        bytes.size(), again, error))
    fail("re-serialised file rejected", error);
  if (again.size() != tensors.size())
    fail("round trip changed the number of tensors", "");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const SafeTensor &a = tensors[i], &b = again[i];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape ||
        a.nbytes != b.nbytes ||
        (a.nbytes && std::memcmp(a.data, b.data, a.nbytes) != 0))
      fail("round trip changed tensor", a.name);
  }

  // The runtime's state-dict loading of the same bytes.
  static const modelc_api *api = modelc_model_entry();
  static modelc_model *model = api->create("cpu", 0);
  if (!model)
    fail("cannot create the fake model", api->last_error(nullptr));
  for (int32_t strict : {1, 0})
    if (api->load_state_from_memory(model, data, size, strict) != 0 &&
        !*api->last_error(model))
      fail("load_state_from_memory failed without a message", "");
  return 0;
}
