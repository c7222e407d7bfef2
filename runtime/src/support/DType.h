//===- DType.h - element types and their conversions ----------------------===//
#ifndef MODELC_RUNTIME_SUPPORT_DTYPE_H
#define MODELC_RUNTIME_SUPPORT_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; the runtime copies it raw");

/// The first kNumModelDTypes values match modelc_dtype in modelc.h: a
/// model's tensors have one of those. The others appear only in safetensors
/// files, as PyTorch writes them; loading a state dict converts them into
/// the entry's dtype (convertElements).
enum class DType : int32_t {
  F32, F64, F16, BF16, I32, I64, Bool,
  I8, U8, I16, U16, U32, U64
};
constexpr int kNumModelDTypes = 7;
constexpr int kNumDTypes = 13;

/// "F32", ...: the safetensors spelling, also used in the model description.
const char *dtypeName(DType dtype);
/// Parses a safetensors dtype string; false if modelc does not support it.
bool parseDType(const std::string &name, DType &dtype);
/// "F32, F64, F16, BF16, I32, I64, BOOL, ...", for error messages.
const char *supportedDTypeList();
size_t dtypeSize(DType dtype);
/// A modelc_dtype value (what a model's tensors may have).
bool isValidDType(int32_t value);
inline bool isModelDType(DType dtype) {
  return static_cast<int32_t>(dtype) < kNumModelDTypes;
}
bool isFloatingDType(DType dtype);
/// Signed or unsigned integers; BOOL is not one.
bool isIntegerDType(DType dtype);

/// Number of elements; false if a size is negative or the product (times
/// the dtype's size, to get a byte count) does not fit in int64_t.
bool computeNumel(const std::vector<int64_t> &shape, uint64_t &numel);
bool computeNumBytes(const std::vector<int64_t> &shape, DType dtype,
                     uint64_t &bytes);

/// Element `index` of `data` as a double (BOOL: 0 or 1).
double loadAsDouble(DType dtype, const void *data, uint64_t index);
/// Stores `value` into element `index`, converting as PyTorch's `.to()`
/// does: round to nearest even for floating types, truncation toward zero
/// for integers, `value != 0` for BOOL.
void storeFromDouble(DType dtype, void *data, uint64_t index, double value);

/// Converts `numel` elements of `from` at `src` into `to` at `dst`, as
/// PyTorch's `copy_` does. Both are floating (rounding to nearest even when
/// narrowing; F16 and BF16 widen exactly) or both integers (sign- or
/// zero-extended, then truncated: narrowing wraps), or they are equal.
void convertElements(DType from, const void *src, DType to, void *dst,
                     uint64_t numel);

float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bfloat16ToFloat(uint16_t b);
uint16_t floatToBfloat16(float f);

} // namespace modelc::rt

#endif
