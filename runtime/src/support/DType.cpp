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
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2},
    {"I32", 4}, {"I64", 8}, {"BOOL", 1}};
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

const char *supportedDTypeList() { return "F32, F64, F16, BF16, I32, I64, BOOL"; }

size_t dtypeSize(DType dtype) { return kDTypes[static_cast<int>(dtype)].size; }

bool isValidDType(int32_t value) { return value >= 0 && value < kNumDTypes; }

bool computeNumel(const std::vector<int64_t> &shape, uint64_t &numel) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      return false;
  }
  numel = n;
  return true;
}

bool computeNumBytes(const std::vector<int64_t> &shape, DType dtype,
                     uint64_t &bytes) {
  uint64_t numel;
  return computeNumel(shape, numel) &&
         !__builtin_mul_overflow(numel, dtypeSize(dtype), &bytes);
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

double loadAsDouble(DType dtype, const void *data, uint64_t index) {
  const char *p = static_cast<const char *>(data) + index * dtypeSize(dtype);
  switch (dtype) {
  case DType::F32: { float v; std::memcpy(&v, p, 4); return v; }
  case DType::F64: { double v; std::memcpy(&v, p, 8); return v; }
  case DType::F16: { uint16_t v; std::memcpy(&v, p, 2); return halfToFloat(v); }
  case DType::BF16: { uint16_t v; std::memcpy(&v, p, 2); return bfloat16ToFloat(v); }
  case DType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
  case DType::I64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
  case DType::Bool: return *p ? 1.0 : 0.0;
  }
  return 0;
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
  char *p = static_cast<char *>(data) + index * dtypeSize(dtype);
  switch (dtype) {
  case DType::F32: { float v = static_cast<float>(value); std::memcpy(p, &v, 4); return; }
  case DType::F64: std::memcpy(p, &value, 8); return;
  case DType::F16: { uint16_t v = floatToHalf(static_cast<float>(value)); std::memcpy(p, &v, 2); return; }
  case DType::BF16: { uint16_t v = floatToBfloat16(static_cast<float>(value)); std::memcpy(p, &v, 2); return; }
  case DType::I32: { int32_t v = saturatingTruncate<int32_t>(value); std::memcpy(p, &v, 4); return; }
  case DType::I64: { int64_t v = saturatingTruncate<int64_t>(value); std::memcpy(p, &v, 8); return; }
  case DType::Bool: *p = value != 0 ? 1 : 0; return;
  }
}

} // namespace modelc::rt
