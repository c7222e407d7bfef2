// Drives model libraries through the C++ wrapper modelc.hpp: one linked at
// build time under the prefix Fake, a second copy of it linked under the
// prefix Other in the same program, and the first again through dlopen.
#include "modelc/modelc.hpp"

#include <cstdio>
#include <cstring>

MODELC_DECLARE_MODEL(Fake)
MODELC_DECLARE_MODEL(Other)

namespace {
int failures = 0;
void expect(bool ok, const char *what, int line) {
  if (!ok) {
    std::printf("FAILED line %d: %s\n", line, what);
    ++failures;
  }
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

float firstWeight(const modelc::Model &m) {
  float w[6];
  m.readState("lin.weight", w, sizeof w);
  return w[0];
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return 2;
  try {
    modelc::Model fake(Fake_model_entry(), "cpu", 1);
    modelc::Model other(Other_model_entry(), "cpu", 1);
    // Two libraries, two runtimes, one program: same seed, same values, but
    // separate state.
    EXPECT(Fake_model_entry() != Other_model_entry());
    EXPECT(firstWeight(fake) == firstWeight(other));
    float zero[6] = {};
    other.writeState("lin.weight", zero, sizeof zero);
    EXPECT(firstWeight(fake) != 0 && firstWeight(other) == 0);

    for (const modelc::StateInfo &s : fake.states())
      std::printf("%s%s\n", s.name.c_str(),
                  s.kind == MODELC_PARAMETER ? " (parameter)" : "");

    float x[4] = {1, 2, 3, 4};
    fake.setTraining(true);
    fake.forward({modelc::Tensor::view(x, MODELC_F32, {2, 2})});
    modelc_tensor count = fake.output(1);
    std::printf("count after one training call: %lld\n",
                static_cast<long long>(*static_cast<int64_t *>(count.data)));

    try {
      fake.forward({modelc::Tensor::view(x, MODELC_F32, {4})});
      EXPECT(false);
    } catch (const modelc::Error &e) {
      std::printf("caught: %s\n", e.what());
    }
    try {
      fake.to("cuda");
      EXPECT(false);
    } catch (const modelc::Error &e) {
      std::printf("caught: %s\n", e.what());
    }

    // The state moves between instances and libraries through memory.
    std::string state = fake.saveStateToMemory();
    other.loadState(state.data(), state.size());
    EXPECT(firstWeight(other) == firstWeight(fake));

    // dlopen: the well-known entry point of the same library.
    modelc::Library lib(argv[1]);
    modelc::Model loaded(lib.api(), "cpu", 1);
    EXPECT(std::strcmp(loaded.name(), "Fake") == 0);
    EXPECT(loaded.api()->forward == Fake_forward);
    modelc::Model moved = std::move(loaded);
    EXPECT(loaded.get() == nullptr && moved.get() != nullptr);
    EXPECT(moved.device() == "cpu" && !moved.isTraining());
    moved.forward({modelc::Tensor::view(x, MODELC_F32, {2, 2})});
    moved.trim();
    EXPECT(static_cast<const float *>(moved.output(0).data)[0] != 0);

    try {
      modelc::Library missing("/nonexistent/model.so");
      EXPECT(false);
    } catch (const modelc::Error &e) {
      std::printf("caught: %.40s\n", e.what());
    }
    // A library of an older modelc, whose table lacks trim (argv[2]).
    if (argc > 2) {
      try {
        modelc::Library old(argv[2]);
        EXPECT(false);
      } catch (const modelc::Error &e) {
        std::printf("caught: %s\n", e.what());
      }
    }
  } catch (const modelc::Error &e) {
    std::printf("unexpected error: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}
