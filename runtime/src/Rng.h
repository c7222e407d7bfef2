//===- Rng.h - the seeded generator behind random initialisers -------------===//
//
// One generator per model instance, seeded from create()'s seed; the state
// entries are initialised in description order, each drawing from the same
// stream, so one seed always gives one model on every machine:
//
//   generator   xoshiro256** (Blackman & Vigna), its 256-bit state filled
//               from the seed by four successive splitmix64 outputs;
//   uniform     u = (next() >> 11) * 2^-53 in [0, 1); value = lo + (hi-lo)*u;
//   normal      Box-Muller on two uniforms per pair of values:
//               r = sqrt(-2 ln(1 - u1)), value0 = mean + std * r cos(2 pi u2),
//               value1 = mean + std * r sin(2 pi u2); with an odd count the
//               last pair's sine is dropped;
//   full        draws nothing.
//
// Values are computed in double and then converted to the entry's dtype.
// This is not PyTorch's generator: the same seed gives different numbers
// than torch.manual_seed; load a state dict to reproduce a PyTorch model.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_RNG_H
#define MODELC_RUNTIME_RNG_H

#include "Desc.h"

#include <cstdint>

namespace modelc::rt {

class Rng {
public:
  explicit Rng(uint64_t seed);
  uint64_t next();
  /// In [0, 1).
  double uniform();

private:
  uint64_t s[4];
};

/// Fills `data` (state.nbytes bytes) with the state's initial value.
void initializeState(const StateDesc &state, Rng &rng, void *data);

} // namespace modelc::rt

#endif
