//===- DType.cpp ----------------------------------------------------------===//
#include "support/DType.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace modelc::rt {

namespace {
struct DTypeRecord {
  const char *name;
  size_t size;
};
// Indexed by DType.
constexpr DTypeRecord kDTypes[kNumDTypes] = {
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I32", 4},
    {"I64", 8}, {"BOOL", 1}, {"I8", 1},  {"U8", 1},   {"I16", 2},
    {"U16", 2}, {"U32", 4},  {"U64", 8}};
} // namespace

const char *dtypeName(DType dtype) {
  return kDTypes[static_cast<int>(dtype)].name;
}

bool parseDType(const std::string &name, DType &dtype) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (name == kDTypes[i].name) {
      dtype = static_cast<DType>(i);
      return true;
    }
  return false;
}

const char *supportedDTypeList() {
  return "F32, F64, F16, BF16, I32, I64, BOOL, I8, U8, I16, U16, U32, U64";
}

size_t dtypeSize(DType dtype) { return kDTypes[static_cast<int>(dtype)].size; }

bool isValidDType(int32_t value) { return value >= 0 && value < kNumModelDTypes; }

bool isFloatingDType(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F64 || dtype == DType::F16 ||
         dtype == DType::BF16;
}

bool isIntegerDType(DType dtype) {
  return !isFloatingDType(dtype) && dtype != DType::Bool;
}

bool computeNumel(const std::vector<int64_t> &shape, uint64_t &numel) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return false;
  }
  numel = static_cast<uint64_t>(n);
  return true;
}

bool computeNumBytes(const std::vector<int64_t> &shape, DType dtype,
                     uint64_t &bytes) {
  // Signed: the generated code computes offsets in int64, and no object is
  // larger than PTRDIFF_MAX. An element count that fits with a byte count
  // that does not ([46116860184273879, 100] F32) would wrap there.
  uint64_t numel;
  int64_t n;
  if (!computeNumel(shape, numel) ||
      __builtin_mul_overflow(static_cast<int64_t>(numel),
                             static_cast<int64_t>(dtypeSize(dtype)), &n))
    return false;
  bytes = static_cast<uint64_t>(n);
  return true;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13); // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign; // +-0
  } else {
    // Subnormal half: normalise into a float.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  uint32_t absBits = bits & 0x7fffffff;
  if (absBits >= 0x7f800000) // inf or nan (keep nan quiet)
    return sign | (absBits > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (absBits >= 0x477ff000) // rounds to >= 65520: overflow to inf
    return sign | 0x7c00;
  if (absBits < 0x38800000) {
    // Result is subnormal (or zero): scale so that the rounding of the float
    // addition does round-to-nearest-even at the half's last subnormal bit.
    float a;
    std::memcpy(&a, &absBits, 4);
    float scaled = a + 0.5f; // 0.5 = 2^-1: ulp becomes 2^-24, the half's
    uint32_t sb;
    std::memcpy(&sb, &scaled, 4);
    return sign | static_cast<uint16_t>(sb - 0x3f000000);
  }
  uint32_t mantOdd = (absBits >> 13) & 1;
  absBits += 0xc8000fff + mantOdd; // rebias exponent (-112 << 23) and round
  return sign | static_cast<uint16_t>(absBits >> 13);
}

float bfloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBfloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) // nan: keep it a (quiet) nan
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

namespace {
template <typename T> T loadElement(const void *data, uint64_t index) {
  T v;
  std::memcpy(&v, static_cast<const char *>(data) + index * sizeof(T), sizeof(T));
  return v;
}

template <typename T> void storeElement(void *data, uint64_t index, T v) {
  std::memcpy(static_cast<char *>(data) + index * sizeof(T), &v, sizeof(T));
}

/// Element `index` of an integer (or BOOL) tensor, sign- or zero-extended
/// to 64 bits; U64 values past INT64_MAX wrap, as PyTorch's cast does.
int64_t loadAsInt64(DType dtype, const void *data, uint64_t index) {
  switch (dtype) {
  case DType::I8: return loadElement<int8_t>(data, index);
  case DType::U8: return loadElement<uint8_t>(data, index);
  case DType::I16: return loadElement<int16_t>(data, index);
  case DType::U16: return loadElement<uint16_t>(data, index);
  case DType::I32: return loadElement<int32_t>(data, index);
  case DType::U32: return loadElement<uint32_t>(data, index);
  case DType::I64: return loadElement<int64_t>(data, index);
  case DType::U64: return static_cast<int64_t>(loadElement<uint64_t>(data, index));
  case DType::Bool: return loadElement<uint8_t>(data, index) ? 1 : 0;
  default: return 0; // floating: not called
  }
}

/// Stores the low bits of `value` (a C++ conversion to a narrower integer
/// type wraps modulo 2^width, as PyTorch's copy_ does).
void storeFromInt64(DType dtype, void *data, uint64_t index, int64_t value) {
  switch (dtype) {
  case DType::I8: return storeElement(data, index, static_cast<int8_t>(value));
  case DType::U8: return storeElement(data, index, static_cast<uint8_t>(value));
  case DType::I16: return storeElement(data, index, static_cast<int16_t>(value));
  case DType::U16: return storeElement(data, index, static_cast<uint16_t>(value));
  case DType::I32: return storeElement(data, index, static_cast<int32_t>(value));
  case DType::U32: return storeElement(data, index, static_cast<uint32_t>(value));
  case DType::I64: return storeElement(data, index, value);
  case DType::U64: return storeElement(data, index, static_cast<uint64_t>(value));
  case DType::Bool: return storeElement(data, index, static_cast<uint8_t>(value != 0));
  default: return; // floating: not called
  }
}
} // namespace

double loadAsDouble(DType dtype, const void *data, uint64_t index) {
  switch (dtype) {
  case DType::F32: return loadElement<float>(data, index);
  case DType::F64: return loadElement<double>(data, index);
  case DType::F16: return halfToFloat(loadElement<uint16_t>(data, index));
  case DType::BF16: return bfloat16ToFloat(loadElement<uint16_t>(data, index));
  case DType::U64: return static_cast<double>(loadElement<uint64_t>(data, index));
  default: return static_cast<double>(loadAsInt64(dtype, data, index));
  }
}

namespace {
template <typename Int> Int saturatingTruncate(double v) {
  // Out-of-range float to int conversion is undefined behaviour in C++:
  // clamp (and map nan to 0) so that no initialiser can trigger it.
  if (std::isnan(v))
    return 0;
  double t = std::trunc(v);
  if (t <= static_cast<double>(INT64_MIN) || t < static_cast<double>(std::numeric_limits<Int>::min()))
    return std::numeric_limits<Int>::min();
  if (t >= static_cast<double>(std::numeric_limits<Int>::max()))
    return std::numeric_limits<Int>::max();
  return static_cast<Int>(t);
}
} // namespace

void storeFromDouble(DType dtype, void *data, uint64_t index, double value) {
  switch (dtype) {
  case DType::F32: return storeElement(data, index, static_cast<float>(value));
  case DType::F64: return storeElement(data, index, value);
  case DType::F16:
    return storeElement(data, index, floatToHalf(static_cast<float>(value)));
  case DType::BF16:
    return storeElement(data, index, floatToBfloat16(static_cast<float>(value)));
  case DType::I8: return storeElement(data, index, saturatingTruncate<int8_t>(value));
  case DType::U8: return storeElement(data, index, saturatingTruncate<uint8_t>(value));
  case DType::I16: return storeElement(data, index, saturatingTruncate<int16_t>(value));
  case DType::U16: return storeElement(data, index, saturatingTruncate<uint16_t>(value));
  case DType::I32: return storeElement(data, index, saturatingTruncate<int32_t>(value));
  case DType::U32: return storeElement(data, index, saturatingTruncate<uint32_t>(value));
  case DType::I64: return storeElement(data, index, saturatingTruncate<int64_t>(value));
  case DType::U64: return storeElement(data, index, saturatingTruncate<uint64_t>(value));
  case DType::Bool: return storeElement(data, index, static_cast<uint8_t>(value != 0));
  }
}

void convertElements(DType from, const void *src, DType to, void *dst,
                     uint64_t numel) {
  if (from == to) {
    if (numel)
      std::memcpy(dst, src, numel * dtypeSize(to));
    return;
  }
  // Floating values go through double, which holds every F32, F16 and BF16
  // exactly; storeFromDouble then rounds once into F32 and, like PyTorch's
  // Half and BFloat16 constructors, through float into F16 or BF16.
  // Integers go through int64, which holds every value but U64's largest,
  // and those wrap exactly as a direct cast would.
  bool floating = isFloatingDType(from);
  for (uint64_t i = 0; i < numel; ++i) {
    if (floating)
      storeFromDouble(to, dst, i, loadAsDouble(from, src, i));
    else
      storeFromInt64(to, dst, i, loadAsInt64(from, src, i));
  }
}

} // namespace modelc::rt
