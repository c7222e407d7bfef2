//===- StateValues.cpp - Compile-time values of constants -----------------===//

#include "lowering/shared/StateValues.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

using namespace mlir;

namespace modelc::lowering {

/// `v` as an integer of the storage format: truncated toward zero, NaN as
/// 0 and out-of-range values saturated (a double beyond int64 has no defined
/// conversion), then cut to the width as IntegerAttr does.
static int64_t toInteger(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= 0x1p63)
    return std::numeric_limits<int64_t>::max();
  if (v < -0x1p63)
    return std::numeric_limits<int64_t>::min();
  return int64_t(v);
}

/// `v` as an attribute of element type `elt`, as draw() stores it: floats
/// rounded to nearest, integers as toInteger makes them.
static Attribute scalarAttr(Type elt, double v) {
  if (auto ft = llvm::dyn_cast<FloatType>(elt))
    return FloatAttr::get(ft, v);
  if (elt.isInteger(1))
    return IntegerAttr::get(elt, v != 0);
  return IntegerAttr::get(elt, toInteger(v));
}

/// `n` values of `dist`, drawn straight into the attribute's storage format
/// one at a time. An attribute per element (FloatAttr::get, each uniqued in
/// the context) cost 2 microseconds and 130 bytes an element: 1.3 GB for
/// 10^7 of them.
template <typename Distribution>
static DenseElementsAttr draw(RankedTensorType type, Distribution dist, uint64_t seed) {
  std::mt19937_64 gen(seed);
  Type elt = type.getElementType();
  int64_t n = type.getNumElements();
  if (elt.isInteger(1)) {
    // i1 is stored bit-packed; the bool overload packs it.
    SmallVector<bool> bits(n);
    for (bool &b : bits)
      b = dist(gen) != 0;
    return DenseElementsAttr::get(type, ArrayRef<bool>(bits));
  }
  size_t bytes = elt.getIntOrFloatBitWidth() / 8;
  std::vector<char> raw(n * bytes);
  auto floatType = llvm::dyn_cast<FloatType>(elt);
  // Host byte order, which the raw format is.
  for (char *dst = raw.data(), *end = dst + raw.size(); dst != end; dst += bytes) {
    double v = dist(gen);
    if (elt.isF64()) {
      std::memcpy(dst, &v, bytes);
    } else if (elt.isF32()) {
      float f = float(v);
      std::memcpy(dst, &f, bytes);
    } else if (floatType) {
      llvm::APFloat x(v);
      bool lost;
      x.convert(floatType.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
      uint16_t half = x.bitcastToAPInt().getZExtValue();
      std::memcpy(dst, &half, bytes);
    } else {
      // Cut to the width, as IntegerAttr does, in the host's byte order.
      int64_t i = toInteger(v);
      int8_t i8 = int8_t(i);
      int16_t i16 = int16_t(i);
      int32_t i32 = int32_t(i);
      const void *src = bytes == 1 ? static_cast<const void *>(&i8)
                        : bytes == 2 ? static_cast<const void *>(&i16)
                        : bytes == 4 ? static_cast<const void *>(&i32)
                                     : static_cast<const void *>(&i);
      std::memcpy(dst, src, bytes);
    }
  }
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

FailureOr<DenseElementsAttr> constantValues(const mdl::StateInfo &state) {
  RankedTensorType type = state.type;
  ArrayRef<double> args = state.initArgs;
  uint64_t seed = llvm::xxh3_64bits(state.name);
  // One value is a splat, whatever the size: later passes keep it one value
  // (a fill), never a buffer of copies.
  if (state.init == "full")
    return DenseElementsAttr::get(type, scalarAttr(type.getElementType(), args[0]));
  if (state.init == "uniform")
    return draw(type, std::uniform_real_distribution<double>(args[0], args[1]), seed);
  if (state.init == "normal")
    return draw(type, std::normal_distribution<double>(args[0], args[1]), seed);
  return failure();
}

} // namespace modelc::lowering
