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
#include <utility>
#include <vector>

namespace modelc::rt {

/// A header larger than this is refused before it is parsed or read: the
/// safetensors library uses the same limit.
constexpr uint64_t kMaxSafeTensorsHeader = 100'000'000;
/// A tensor has at most this many dimensions: PyTorch's limit. Every array
/// of a header is a shape or data_offsets, so the parser refuses any longer
/// array as soon as it gets there (one of 20 M sizes would otherwise take
/// gigabytes parsed).
constexpr size_t kMaxSafeTensorsRank = 64;
/// The parsed header may take at most this much memory (as JsonLimits
/// estimates it). A parsed JSON value costs over 100 bytes, so even a valid
/// header of empty tensors takes 20 to 60 times its bytes parsed: no multiple
/// of the header's size would bound it usefully. 256 MB holds about 250,000
/// tensors' entries, and bounds a load of any file under 100 MB to well
/// under 512 MB.
constexpr size_t kMaxParsedSafeTensorsHeader = 256u << 20;

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

/// The "__metadata__" string map of a file, in the header's order.
using SafeTensorsMetadata = std::vector<std::pair<std::string, std::string>>;
/// parseSafeTensors that also returns the metadata (empty when none).
bool parseSafeTensors(const unsigned char *bytes, size_t size,
                      std::vector<SafeTensor> &tensors, SafeTensorsMetadata *metadata,
                      std::string &error);

/// Serialises `tensors` in the given order; the header is padded with spaces
/// so that the data section starts 8-byte aligned, as the reference writer
/// does. `__metadata__` is {"format":"pt"}, as safetensors.torch writes it.
std::string buildSafeTensorsHeader(const std::vector<SafeTensor> &tensors);
/// Header followed by every tensor's data.
std::string serializeSafeTensors(const std::vector<SafeTensor> &tensors);
/// The same with `metadata` as the "__metadata__" map instead.
std::string buildSafeTensorsHeader(const std::vector<SafeTensor> &tensors,
                                   const SafeTensorsMetadata &metadata);
std::string serializeSafeTensors(const std::vector<SafeTensor> &tensors,
                                 const SafeTensorsMetadata &metadata);

//===- What a state dict entry loads into (load_state_dict's rules) -------===//
// The runtime's load (StateDict.cpp) and the compiler's check of --weights
// files (compiler/lowering/emission/Weights.cpp) both decide with these.

/// A state entry PyTorch lets a checkpoint leave out: BatchNorm's
/// `num_batches_tracked`, which old checkpoints lack. _NormBase's
/// _load_from_state_dict then substitutes the module's own counter (for a
/// file with no version metadata, as every safetensors file is), so the
/// load leaves it as it was: 0 in a freshly created model.
bool stateMayBeMissing(const std::string &name);

/// Whether a tensor saved as `saved` loads into an entry of `entry` shape:
/// equal, or a 0-d entry saved with shape [1], which Module's
/// _load_from_state_dict reads as its one element (checkpoints of PyTorch
/// before 0.4 saved scalars so, num_batches_tracked among them).
bool savedShapeLoads(const std::vector<int64_t> &saved, const std::vector<int64_t> &entry);

/// Whether `copy_` converts `saved` into `entry` as load_state_dict needs:
/// the same dtype, floating into floating or integer into integer. A
/// floating value for an integer or BOOL entry, or the reverse, is refused
/// (INTERFACE.md), although copy_ would convert it: such a checkpoint does
/// not belong to the model.
bool savedDTypeLoads(DType saved, DType entry);

} // namespace modelc::rt

#endif
