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

/// The values match modelc_dtype in modelc.h.
enum class DType : int32_t { F32, F64, F16, BF16, I32, I64, Bool };
constexpr int kNumDTypes = 7;

/// "F32", ...: the safetensors spelling, also used in the model description.
const char *dtypeName(DType dtype);
/// Parses a safetensors dtype string; false if modelc does not support it.
bool parseDType(const std::string &name, DType &dtype);
/// "F32, F64, F16, BF16, I32, I64, BOOL", for error messages.
const char *supportedDTypeList();
size_t dtypeSize(DType dtype);
bool isValidDType(int32_t value);

/// Number of elements; false if a size is negative or the product (times
/// `itemSize`, to get a byte count) overflows 64 bits.
bool computeNumel(const std::vector<int64_t> &shape, uint64_t &numel);
bool computeNumBytes(const std::vector<int64_t> &shape, DType dtype,
                     uint64_t &bytes);

/// Element `index` of `data` as a double (BOOL: 0 or 1).
double loadAsDouble(DType dtype, const void *data, uint64_t index);
/// Stores `value` into element `index`, converting as PyTorch's `.to()`
/// does: round to nearest even for floating types, truncation toward zero
/// for integers, `value != 0` for BOOL.
void storeFromDouble(DType dtype, void *data, uint64_t index, double value);

float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bfloat16ToFloat(uint16_t b);
uint16_t floatToBfloat16(float f);

} // namespace modelc::rt

#endif
