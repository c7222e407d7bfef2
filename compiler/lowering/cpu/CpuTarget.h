//===- CpuTarget.h - The CPU target description ------------------*- C++ -*-===//
//
// Everything the CPU back end tunes for one kind of processor, in one place:
// the machine (LLVM's CPU name and features, the vector width), the register
// blocks of the kernels, the panel width of packed weights, tile sizes and
// the thresholds that choose a convolution's form. The driver derives it
// from the target machine (--cpu, or the host) and records it on the module
// as `mdl.cpu_target`, where every CPU pass reads it (`CpuTarget::of`); a
// module without one (an mdl-opt test) gets the default, which is the AVX2
// description every figure in bench/RESULTS.md was measured with
// (bench/TUNING.md says how each value was chosen).
//
// AVX-512 (16 lanes, 32 registers) and ARM64's NEON (4 lanes, 32
// registers) are entries of `CpuTarget::forMachine`; the kernels read their
// sizes from here.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_CPU_CPUTARGET_H
#define MODELC_LOWERING_CPU_CPUTARGET_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace modelc::lowering {

struct CpuTarget {
  //===- The machine ------------------------------------------------------===//
  /// LLVM's normalized target triple: x86_64-pc-linux-gnu (the host, the
  /// default) or aarch64-unknown-linux-gnu (modelc --mtriple).
  std::string triple;
  std::string cpu;      // LLVM's name of the processor: haswell, znver4, ...
  std::string features; // LLVM's subtarget features, "+avx2,+fma,..."
  /// The widest vector registers the generated code uses.
  int64_t vectorBits = 256;
  /// The instruction sets of CpuFeatures.def the machine enables: what a
  /// CPU must have to run the code (recorded in the model's description).
  std::vector<std::string> requiredFeatures;

  //===- Register blocks (-mdl-blocked-dot-kernels) -----------------------===//
  /// f32 lanes of the kernels' vectors.
  int64_t lanes = 8;
  /// The dot kernel (C += A B^T, k contiguous): a block of dotRowsA rows of
  /// A by dotRowsB rows of B, or 1 by dotRowsBOneRow for a single row.
  int64_t dotRowsA = 4;
  int64_t dotRowsB = 3;
  int64_t dotRowsBOneRow = 8;
  /// The outer-product kernels (C += A B, n contiguous; packed weights):
  /// outerRows rows of A by outerVectors vectors of columns, the reduction in
  /// chunks of outerChunk (unpacked B) so that B's rows stay in L1.
  int64_t outerRows = 6;
  int64_t outerVectors = 2;
  int64_t outerChunk = 128;
  /// Steps of k every kernel sums from zero in registers before adding the
  /// partial sums into C (the dot kernel: per lane): blocked summation, so
  /// that the rounding error grows with this plus K / this instead of K.
  /// 64 is near sqrt(K) for ResNet's convolutions (576 to 4608), and with
  /// it ResNet-18's training-mode forward is nearer a float64 reference
  /// than PyTorch's float32 one (128: 1.4x further; unchunked: 2.2x).
  int64_t sumChunk = 64;

  //===- Depthwise convolutions (-mdl-depthwise-conv-kernels) -------------===//
  /// Channels whose rows the kernel computes together: that many chains of
  /// dependent FMAs (one per channel, a tap each) in flight; 8 on AVX-512.
  int64_t depthwiseChannels = 4;

  //===- Packed weights (-mdl-pack-weights) -------------------------------===//
  /// Columns of W per panel: the outer-product kernel's width
  /// (outerVectors * lanes).
  int64_t packedPanelColumns = 16;
  /// Rows of A from which the packed kernel takes a contraction: fewer (a
  /// batch of 1) make blocks of 1 row, 2 accumulators waiting on each FMA's
  /// latency, where the dot kernel keeps 8. A static batch below it packs
  /// nothing.
  int64_t minPackedRows = 4;

  //===- Tiles (-mdl-tile-and-fuse, -mdl-vectorizable-loop-order) ---------===//
  /// Rows of a matrix per tile, so that each weight row loaded serves them
  /// (AVX-512: outerRows, one block of the outer-product kernels).
  int64_t rowBlock = 16;
  /// Columns per tile of a Linear whose weight passes largeWeightBytes: the
  /// batch's rows then share the weight's columns instead.
  int64_t columnBlock = 64;
  int64_t largeWeightBytes = 1 << 20;
  /// Output channels per block when a convolution's loops are reordered.
  int64_t loopOrderChannelBlock = 4;

  //===- Convolutions (-mdl-conv-to-gemm, -mdl-winograd-conv) -------------===//
  /// Output channels per tile of a convolution's contraction.
  int64_t convChannelsPerTile = 16;
  /// Images of this many output pixels or more take the outer-product form
  /// ([CO, K] x [K, P]); smaller ones the dot form.
  int64_t convOuterMinPixels = 64;
  /// Images of at most this many output pixels are convolved as one batch.
  int64_t convBatchedMaxPixels = 16;
  /// Patch rows per tile of the batched form.
  int64_t convPatchRowsPerTile = 64;
  /// Winograd F(2x2, 3x3) image by image from this many output pixels (even
  /// sizes), for the whole batch from winogradMinBatchedPixels up to (not
  /// including) winogradMaxBatchedPixels.
  int64_t winogradMinPixels = 14 * 14;
  int64_t winogradMinBatchedPixels = 4 * 4;
  int64_t winogradMaxBatchedPixels = 8 * 8;

  /// The description for LLVM's processor `cpu` of `triple` with
  /// `features` (as the target machine gets them; empty: the CPU's own) and
  /// vector registers of `vectorBits`.
  static CpuTarget forMachine(llvm::StringRef triple, llvm::StringRef cpu,
                              llvm::StringRef features, int64_t vectorBits);

  /// Whether the code is for ARM64 (AArch64).
  bool isAArch64() const;

  /// The description recorded on `op`'s module (mlir::mdl::kCpuTargetAttr), or the
  /// default one.
  static CpuTarget of(mlir::Operation *op);

  /// As a dictionary attribute, and back (missing fields keep their
  /// defaults; nullopt when a field has the wrong type).
  mlir::DictionaryAttr toAttr(mlir::MLIRContext *ctx) const;
  static std::optional<CpuTarget> fromAttr(mlir::DictionaryAttr attr);
};

} // namespace modelc::lowering

#endif // MODELC_LOWERING_CPU_CPUTARGET_H
