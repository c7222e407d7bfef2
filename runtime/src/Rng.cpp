//===- Rng.cpp ------------------------------------------------------------===//
#include "Rng.h"

#include <cmath>

namespace modelc::rt {

namespace {
uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
} // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t &word : s)
    word = splitmix64(seed);
}

uint64_t Rng::next() {
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

void initializeState(const StateDesc &state, Rng &rng, void *data) {
  const double a = state.initArgs[0], b = state.initArgs[1];
  switch (state.init) {
  case InitKind::Full:
    for (uint64_t i = 0; i < state.numel; ++i)
      storeFromDouble(state.dtype, data, i, a);
    return;
  case InitKind::Uniform:
    for (uint64_t i = 0; i < state.numel; ++i)
      storeFromDouble(state.dtype, data, i, a + (b - a) * rng.uniform());
    return;
  case InitKind::Normal:
    for (uint64_t i = 0; i < state.numel; i += 2) {
      double r = std::sqrt(-2.0 * std::log(1.0 - rng.uniform()));
      double theta = 2.0 * M_PI * rng.uniform();
      storeFromDouble(state.dtype, data, i, a + b * r * std::cos(theta));
      if (i + 1 < state.numel)
        storeFromDouble(state.dtype, data, i + 1, a + b * r * std::sin(theta));
    }
    return;
  }
}

} // namespace modelc::rt
