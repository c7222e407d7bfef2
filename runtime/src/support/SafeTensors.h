//===- SafeTensors.h - the safetensors file format -------------------------===//
//
// https://github.com/huggingface/safetensors: an 8-byte little-endian header
// length N, N bytes of JSON mapping tensor names to {dtype, shape,
// data_offsets} (plus an optional "__metadata__" string map), then the data
// section. Offsets are relative to the data section.
//
// The reader validates the whole file before anything uses it: the header
// length, the JSON, every entry, and that the entries tile the data section
// exactly (no overlap, no gap, nothing past the end, no trailing bytes).
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_SUPPORT_SAFETENSORS_H
#define MODELC_RUNTIME_SUPPORT_SAFETENSORS_H

#include "support/DType.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt {

/// A header larger than this is refused before it is parsed or read: the
/// safetensors library uses the same limit.
constexpr uint64_t kMaxSafeTensorsHeader = 100'000'000;

/// One tensor of a parsed file; `data` points into the caller's bytes.
struct SafeTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const unsigned char *data = nullptr;
  uint64_t nbytes = 0;
};

/// Checks the 8-byte length prefix against the file size: the first check,
/// done before the rest of a file is read.
bool checkSafeTensorsHeaderLength(uint64_t headerLength, uint64_t fileSize,
                                  std::string &error);

/// Parses and validates `size` bytes. Tensors are returned in the header's
/// order. Errors read e.g. "tensor 'w': data_offsets [0, 24] overlap those
/// of tensor 'b'".
bool parseSafeTensors(const unsigned char *bytes, size_t size,
                      std::vector<SafeTensor> &tensors, std::string &error);

/// Serialises `tensors` in the given order; the header is padded with spaces
/// so that the data section starts 8-byte aligned, as the reference writer
/// does. `__metadata__` is {"format":"pt"}, as safetensors.torch writes it.
std::string buildSafeTensorsHeader(const std::vector<SafeTensor> &tensors);
/// Header followed by every tensor's data.
std::string serializeSafeTensors(const std::vector<SafeTensor> &tensors);

} // namespace modelc::rt

#endif
