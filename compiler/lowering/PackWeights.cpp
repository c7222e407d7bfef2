//===- PackWeights.cpp - Linear weights in panels, once per state ---------===//
//
// Implements -mdl-pack-weights (see Passes.td).
//
// x W^T with W as PyTorch keeps it ([N, K], k contiguous) leaves the kernel
// two ways, both slower than the machine: dot products along k (12 lane
// sums per block, a masked tail when K % 8 != 0) or, with W read as [K, N],
// an outer product whose rows of W lie N floats apart (at N = 1024, every
// row in the same cache set). Packed as panels of 16 columns, each panel's
// K rows of 16 floats contiguous, W feeds the outer-product kernel one
// cache line per step: -mdl-blocked-dot-kernels' packed kernel.
//
//===----------------------------------------------------------------------===//

#include "lowering/DerivedValues.h"
#include "lowering/LoweringUtils.h"
#include "lowering/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Weights with fewer rows (outputs) stay with the dot kernel: a panel
/// would be mostly padding.
constexpr int64_t kMinColumns = kPackedPanelColumns / 2;

/// `modelc_pack_weight_<N>x<K>(w, into) -> P`, P[p, k, j] = w[16 p + j, k]
/// (zero past row N): w padded to whole panels, split into them and
/// transposed, written over `into`.
func::FuncOp getOrCreatePack(ModuleOp module, RankedTensorType weightType, Location loc) {
  int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
  std::string name = "modelc_pack_weight_" + std::to_string(n) + "x" + std::to_string(k);
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  int64_t panels = llvm::divideCeil(n, kPackedPanelColumns);
  Type element = weightType.getElementType();
  auto packedType = RankedTensorType::get({panels, k, kPackedPanelColumns}, element);
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType({weightType, packedType}, {packedType}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value w = entry->getArgument(0);
  int64_t rows = panels * kPackedPanelColumns;
  if (rows != n) {
    Value zero = scalarConstant(b, loc, element, 0.0);
    w = tensor::PadOp::create(b, loc, RankedTensorType::get({rows, k}, element), w,
                              ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
                              ArrayRef<OpFoldResult>{b.getIndexAttr(rows - n), b.getIndexAttr(0)},
                              zero);
  }
  Value split = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({panels, kPackedPanelColumns, k}, element), w,
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  Value packed = linalg::TransposeOp::create(b, loc, split, entry->getArgument(1),
                                             ArrayRef<int64_t>{0, 2, 1})
                     ->getResult(0);
  func::ReturnOp::create(b, loc, packed);
  return fn;
}

/// The weight that `op` reads as B of x W^T, if the op is that contraction
/// on a parameter: its argument number.
std::optional<unsigned> packableWeight(func::FuncOp fn, linalg::GenericOp op) {
  std::optional<DotForm> form = matchDotForm(op);
  if (!form || form->batched || form->outer || !op.hasPureTensorSemantics())
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(op.getDpsInputOperand(1)->get().getType());
  if (!type || !type.hasStaticShape() || type.getDimSize(0) < kMinColumns)
    return std::nullopt;
  return parameterArgument(fn, op.getDpsInputOperand(1)->get());
}

struct PackWeightsPass : impl::PackWeightsBase<PackWeightsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // One packed copy per parameter, however many contractions (and forward
    // functions) read it.
    llvm::SetVector<unsigned> weights;
    for (func::FuncOp fn : forwardFunctions(module))
      fn.walk([&](linalg::GenericOp op) {
        if (std::optional<unsigned> arg = packableWeight(fn, op))
          weights.insert(*arg);
      });
    if (weights.empty())
      return;
    func::FuncOp forward = forwardFunctions(module).front();
    SmallVector<DerivedValue> values;
    for (unsigned arg : weights) {
      auto memref = cast<MemRefType>(forward.getArgumentTypes()[arg]);
      auto weightType = RankedTensorType::get(memref.getShape(), memref.getElementType());
      func::FuncOp pack = getOrCreatePack(module, weightType, forward.getLoc());
      values.push_back({arg, cast<RankedTensorType>(pack.getResultTypes()[0]), "packed", pack});
    }
    appendDerivedValues(module, values);
  }
};

} // namespace
} // namespace modelc::lowering
