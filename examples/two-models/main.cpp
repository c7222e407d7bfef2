// main.cpp - two different compiled models in one C++ program, through the
// RAII wrapper modelc.hpp (runtime/include/modelc/modelc.hpp, docs/ABI.md).
//
//   build/bin/modelc examples/tiny/tiny.mdl -o tiny.so        # prefix TinyModel
//   build/bin/modelc examples/two-models/mlp.mdl -o mlp.so    # prefix SmallMLP
//   c++ -std=c++17 examples/two-models/main.cpp -I runtime/include
//       tiny.so mlp.so -Wl,-rpath,'$ORIGIN' -ldl -o two-models
//   ./two-models test/e2e/fixtures/tiny.state.safetensors tiny.so
//
// Each library exports only its own prefixed symbols (TinyModel_*,
// SmallMLP_*) plus modelc_model_entry, and carries its own copy of the
// runtime, so both link into one program. The program
//   1. lists the parameters and buffers of both models;
//   2. runs both in evaluation mode;
//   3. switches SmallMLP to training mode: its BatchNorm buffers change,
//      TinyModel's state and results do not;
//   4. copies SmallMLP's state dict to a fresh instance through memory;
//   5. opens tiny.so again with dlopen (modelc::Library, modelc_model_entry).
#include "modelc/modelc.hpp"

#include <cstdio>
#include <string>
#include <vector>

MODELC_DECLARE_MODEL(TinyModel)
MODELC_DECLARE_MODEL(SmallMLP)

namespace {

const char *kindName(modelc_state_kind kind) {
  switch (kind) {
  case MODELC_PARAMETER:
    return "parameter";
  case MODELC_BUFFER:
    return "buffer";
  case MODELC_NONPERSISTENT_BUFFER:
    return "buffer (non-persistent)";
  }
  return "?";
}

const char *dtypeName(modelc_dtype dtype) {
  static const char *names[] = {"F32", "F64", "F16", "BF16", "I32", "I64", "BOOL"};
  return dtype >= 0 && dtype <= MODELC_BOOL ? names[dtype] : "?";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void listStates(const modelc::Model &m) {
  std::printf("%s:\n", m.name());
  for (const modelc::StateInfo &s : m.states())
    std::printf("  %-24s %-9s %-4s %s\n", s.name.c_str(), kindName(s.kind),
                dtypeName(s.dtype), shapeString(s.shape).c_str());
}

// A copy of output 0 of the last forward (runtime memory is only valid
// until the next forward).
std::vector<float> output0(const modelc::Model &m) {
  modelc_tensor y = m.output(0);
  size_t n = 1;
  for (int32_t i = 0; i < y.rank; ++i)
    n *= static_cast<size_t>(y.shape[i]);
  const float *p = static_cast<const float *>(y.data);
  return std::vector<float>(p, p + n);
}

template <typename T> std::vector<T> readState(const modelc::Model &m, const std::string &name,
                                               size_t count) {
  std::vector<T> values(count);
  m.readState(name, values.data(), count * sizeof(T));
  return values;
}

void printRow(const char *label, const std::vector<float> &v, size_t n) {
  std::printf("%s", label);
  for (size_t i = 0; i < n; ++i)
    std::printf(" %.4f", v[i]);
  std::printf("\n");
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s tiny.state.safetensors tiny.so\n", argv[0]);
    return 2;
  }
  try {
    // Both libraries are linked into the program: construct from their tables.
    modelc::Model tiny(TinyModel_model_entry(), "cpu", /*seed=*/0);
    modelc::Model mlp(SmallMLP_model_entry(), "cpu", /*seed=*/42);
    tiny.loadState(argv[1]); // a state dict saved by PyTorch (strict)

    std::printf("== parameters and buffers\n");
    listStates(tiny);
    listStates(mlp);

    // Deterministic inputs: 4 rows of 100 for TinyModel, 4 rows of 8 for SmallMLP.
    std::vector<float> xt(4 * 100), xm(4 * 8);
    for (size_t i = 0; i < xt.size(); ++i)
      xt[i] = static_cast<float>(static_cast<int>(i * 7 % 19) - 9) / 9.0f;
    for (size_t i = 0; i < xm.size(); ++i)
      xm[i] = static_cast<float>(static_cast<int>(i * 5 % 11) - 5) / 2.0f;
    const modelc::Tensor tinyIn = modelc::Tensor::view(xt.data(), MODELC_F32, {4, 100});
    const modelc::Tensor mlpIn = modelc::Tensor::view(xm.data(), MODELC_F32, {4, 8});

    std::printf("== evaluation mode\n");
    tiny.forward({tinyIn});
    const std::vector<float> tinyBefore = output0(tiny);
    printRow("TinyModel row 0 (probabilities):", tinyBefore, 10);
    mlp.forward({mlpIn});
    const std::vector<float> mlpEval = output0(mlp);
    printRow("SmallMLP row 0 (logits):", mlpEval, 3);
    const std::string tinyState = tiny.saveStateToMemory();

    std::printf("== SmallMLP in training mode (3 forward calls)\n");
    const std::vector<float> meanBefore = readState<float>(mlp, "bn1.running_mean", 16);
    mlp.setTraining(true);
    for (int i = 0; i < 3; ++i)
      mlp.forward({mlpIn});
    mlp.setTraining(false);
    const std::vector<float> meanAfter = readState<float>(mlp, "bn1.running_mean", 16);
    const int64_t tracked = readState<int64_t>(mlp, "bn1.num_batches_tracked", 1)[0];
    std::printf("bn1.running_mean[0..3] before: %.4f %.4f %.4f %.4f\n", meanBefore[0],
                meanBefore[1], meanBefore[2], meanBefore[3]);
    std::printf("bn1.running_mean[0..3] after:  %.4f %.4f %.4f %.4f\n", meanAfter[0],
                meanAfter[1], meanAfter[2], meanAfter[3]);
    std::printf("bn1.running_mean changed: %s\n", meanAfter != meanBefore ? "yes" : "no");
    std::printf("bn1.num_batches_tracked: %lld\n", static_cast<long long>(tracked));
    mlp.forward({mlpIn});
    std::printf("SmallMLP eval output changed: %s\n",
                output0(mlp) != mlpEval ? "yes" : "no");

    tiny.forward({tinyIn});
    std::printf("TinyModel state unchanged: %s\n",
                tiny.saveStateToMemory() == tinyState ? "yes" : "no");
    std::printf("TinyModel output unchanged: %s\n", output0(tiny) == tinyBefore ? "yes" : "no");

    std::printf("== state dict through memory\n");
    const std::string blob = mlp.saveStateToMemory(); // safetensors bytes
    modelc::Model copy(SmallMLP_model_entry(), "cpu", /*seed=*/7);
    copy.forward({mlpIn});
    std::printf("fresh SmallMLP (seed 7) matches: %s\n",
                output0(copy) == output0(mlp) ? "yes" : "no");
    copy.loadState(blob.data(), blob.size());
    copy.forward({mlpIn});
    std::printf("saved %zu bytes; after load_state_from_memory it matches: %s\n", blob.size(),
                output0(copy) == output0(mlp) && copy.saveStateToMemory() == blob ? "yes"
                                                                                   : "no");

    std::printf("== dlopen\n");
    // The same code works for a library chosen at run time: its
    // modelc_model_entry returns the function table. (tiny.so is already
    // loaded here, so dlopen returns that copy; a plugin host would open a
    // path it learns at run time and need no MODELC_DECLARE_MODEL at all.)
    modelc::Library lib(argv[2]);
    std::printf("%s: model %s, prefix %s, ABI version %u\n", argv[2], lib.api()->name,
                lib.api()->prefix, lib.api()->abi_version);
    modelc::Model loaded(lib.api());
    loaded.loadState(argv[1]);
    loaded.forward({tinyIn});
    std::printf("same results as the linked TinyModel: %s\n",
                output0(loaded) == tinyBefore ? "yes" : "no");

    // Errors are exceptions carrying the runtime's message.
    try {
      mlp.forward({tinyIn});
    } catch (const modelc::Error &e) {
      std::printf("caught: %s\n", e.what());
    }
  } catch (const modelc::Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
