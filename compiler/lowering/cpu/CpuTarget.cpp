//===- CpuTarget.cpp - The CPU target description -------------------------===//

#include "lowering/cpu/CpuTarget.h"

#include "mdl/IR/MdlAttrNames.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Every numeric field with its name in the attribute: one list, so that
/// toAttr and fromAttr cannot disagree.
struct Field {
  llvm::StringLiteral name;
  int64_t CpuTarget::*member;
};
constexpr Field kFields[] = {
    {"vector_bits", &CpuTarget::vectorBits},
    {"lanes", &CpuTarget::lanes},
    {"dot_rows_a", &CpuTarget::dotRowsA},
    {"dot_rows_b", &CpuTarget::dotRowsB},
    {"dot_rows_b_one_row", &CpuTarget::dotRowsBOneRow},
    {"outer_rows", &CpuTarget::outerRows},
    {"outer_vectors", &CpuTarget::outerVectors},
    {"outer_chunk", &CpuTarget::outerChunk},
    {"sum_chunk", &CpuTarget::sumChunk},
    {"depthwise_channels", &CpuTarget::depthwiseChannels},
    {"packed_panel_columns", &CpuTarget::packedPanelColumns},
    {"min_packed_rows", &CpuTarget::minPackedRows},
    {"row_block", &CpuTarget::rowBlock},
    {"column_block", &CpuTarget::columnBlock},
    {"large_weight_bytes", &CpuTarget::largeWeightBytes},
    {"loop_order_channel_block", &CpuTarget::loopOrderChannelBlock},
    {"conv_channels_per_tile", &CpuTarget::convChannelsPerTile},
    {"conv_outer_min_pixels", &CpuTarget::convOuterMinPixels},
    {"conv_batched_max_pixels", &CpuTarget::convBatchedMaxPixels},
    {"conv_patch_rows_per_tile", &CpuTarget::convPatchRowsPerTile},
    {"winograd_min_pixels", &CpuTarget::winogradMinPixels},
    {"winograd_min_batched_pixels", &CpuTarget::winogradMinBatchedPixels},
    {"winograd_max_batched_pixels", &CpuTarget::winogradMaxBatchedPixels},
};

} // namespace

CpuTarget CpuTarget::forMachine(llvm::StringRef triple, llvm::StringRef cpu,
                                llvm::StringRef features, int64_t vectorBits) {
  CpuTarget t;
  t.triple = triple.str();
  t.cpu = cpu.str();
  t.features = features.str();
  t.vectorBits = vectorBits;
  // AVX-512: 16 lanes and 32 registers. The outer-product kernels' blocks
  // grow to 8 rows by 32 columns (16 accumulators, 2 vectors of B and a
  // broadcast: 19 registers), the packed panels with them; the dot kernel
  // keeps its 4 x 3 block of (now 16-lane) accumulators. The depthwise
  // kernel takes blocks of 8 channels (8 accumulators of its 32 registers).
  // A matrix tile is one block of rows: twice as many tiles to share
  // between the threads (ViT-Tiny's 197 tokens: 25 tiles, not 13 split 7:6)
  // at no cost to one thread.
  if (vectorBits >= 512) {
    t.lanes = 16;
    t.outerRows = 8;
    t.outerVectors = 2;
    t.packedPanelColumns = t.outerVectors * t.lanes;
    t.rowBlock = t.outerRows;
    t.depthwiseChannels = 8;
  } else if (t.isAArch64()) {
    // ARM64 (NEON; SVE's fixed-width code is NEON too): 4 lanes and 32
    // registers. The outer-product block is 8 rows by 2 vectors (16
    // accumulators, 2 vectors of B; FMLA takes A's element by lane, so no
    // broadcast register), panels of 8 columns; the dot kernel keeps its
    // 4 x 3 block of accumulators.
    t.lanes = 4;
    t.outerRows = 8;
    t.outerVectors = 2;
    t.packedPanelColumns = t.outerVectors * t.lanes;
  }
  // Otherwise the AVX2 description (8 lanes, 16 registers); a machine
  // without AVX runs the same code in halves.
  return t;
}

bool CpuTarget::isAArch64() const { return llvm::StringRef(triple).starts_with("aarch64"); }

CpuTarget CpuTarget::of(Operation *op) {
  auto module = llvm::isa<ModuleOp>(op) ? llvm::cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  auto attr = module ? module->getAttrOfType<DictionaryAttr>(mlir::mdl::kCpuTargetAttr) : nullptr;
  if (attr)
    if (std::optional<CpuTarget> t = fromAttr(attr))
      return *t;
  return CpuTarget();
}

DictionaryAttr CpuTarget::toAttr(MLIRContext *ctx) const {
  Builder b(ctx);
  SmallVector<NamedAttribute> entries = {b.getNamedAttr("triple", b.getStringAttr(triple)),
                                         b.getNamedAttr("cpu", b.getStringAttr(cpu)),
                                         b.getNamedAttr("features", b.getStringAttr(features))};
  for (const Field &f : kFields)
    entries.push_back(b.getNamedAttr(f.name, b.getI64IntegerAttr(this->*f.member)));
  return b.getDictionaryAttr(entries);
}

std::optional<CpuTarget> CpuTarget::fromAttr(DictionaryAttr attr) {
  CpuTarget t;
  if (Attribute a = attr.get("triple")) {
    auto s = llvm::dyn_cast<StringAttr>(a);
    if (!s)
      return std::nullopt;
    t.triple = s.str();
  }
  if (Attribute a = attr.get("cpu")) {
    auto s = llvm::dyn_cast<StringAttr>(a);
    if (!s)
      return std::nullopt;
    t.cpu = s.str();
  }
  if (Attribute a = attr.get("features")) {
    auto s = llvm::dyn_cast<StringAttr>(a);
    if (!s)
      return std::nullopt;
    t.features = s.str();
  }
  for (const Field &f : kFields) {
    Attribute a = attr.get(f.name);
    if (!a)
      continue;
    auto i = llvm::dyn_cast<IntegerAttr>(a);
    if (!i || i.getInt() <= 0)
      return std::nullopt;
    t.*f.member = i.getInt();
  }
  return t;
}

} // namespace modelc::lowering
