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

#include "lowering/cpu/DerivedValues.h"
#include "lowering/shared/LoweringUtils.h"
#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// `modelc_pack_weight_<N>x<K>(w, into) -> P`, P[p, k, j] = w[16 p + j, k]
/// and zero past row N, written over `into`: one elementwise pass that
/// reads w where the row exists (a padded copy of w would be one more
/// weight-sized buffer while the state is prepared).
func::FuncOp getOrCreatePack(ModuleOp module, RankedTensorType weightType, Location loc,
                             int64_t panelColumns) {
  int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
  std::string name = "modelc_pack_weight_" + std::to_string(n) + "x" + std::to_string(k);
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  int64_t panels = llvm::divideCeil(n, panelColumns);
  Type element = weightType.getElementType();
  auto packedType = RankedTensorType::get({panels, k, panelColumns}, element);
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType({weightType, packedType}, {packedType}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value w = entry->getArgument(0);
  auto map = b.getMultiDimIdentityMap(3);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{packedType}, ValueRange{}, ValueRange{entry->getArgument(1)},
      ArrayRef<AffineMap>{map}, SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange) {
        Value p = linalg::IndexOp::create(nb, l, 0), kk = linalg::IndexOp::create(nb, l, 1),
              j = linalg::IndexOp::create(nb, l, 2);
        Value row = arith::AddIOp::create(
            nb, l, arith::MulIOp::create(nb, l, p, arith::ConstantIndexOp::create(nb, l, panelColumns)), j);
        Value last = arith::ConstantIndexOp::create(nb, l, n - 1);
        Value inside = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ule, row, last);
        // Rows past N read the last one (in bounds) and yield zero.
        Value read = tensor::ExtractOp::create(
            nb, l, w, ValueRange{arith::MinUIOp::create(nb, l, row, last), kk});
        Value zero = scalarConstant(nb, l, element, 0.0);
        linalg::YieldOp::create(nb, l, ValueRange{arith::SelectOp::create(nb, l, inside, read, zero)});
      });
  func::ReturnOp::create(b, loc, generic->getResult(0));
  return fn;
}

/// The weight that `op` reads as B of x W^T, if the op is that contraction
/// on a parameter: its argument number.
std::optional<unsigned> packableWeight(func::FuncOp fn, linalg::GenericOp op,
                                       const CpuTarget &target) {
  std::optional<DotForm> form = matchDotForm(op);
  if (!form || form->batched || form->outer || !op.hasPureTensorSemantics())
    return std::nullopt;
  // A static batch too small for the packed kernel would never read it.
  auto x = dyn_cast<RankedTensorType>(op.getDpsInputOperand(0)->get().getType());
  if (!x || (!x.isDynamicDim(0) && x.getDimSize(0) < target.minPackedRows))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(op.getDpsInputOperand(1)->get().getType());
  // Weights with fewer rows (outputs) than half a panel stay with the dot
  // kernel: the panel would be mostly padding.
  if (!type || !type.hasStaticShape() || type.getDimSize(0) < target.packedPanelColumns / 2)
    return std::nullopt;
  return parameterArgument(fn, op.getDpsInputOperand(1)->get());
}

struct PackWeightsPass : impl::PackWeightsBase<PackWeightsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    const CpuTarget target = CpuTarget::of(module);
    // One packed copy per parameter, however many contractions (and forward
    // functions) read it.
    llvm::SetVector<unsigned> weights;
    SmallVector<func::FuncOp> forwards = forwardFunctions(module);
    for (func::FuncOp fn : forwards)
      fn.walk([&](linalg::GenericOp op) {
        if (std::optional<unsigned> arg = packableWeight(fn, op, target))
          weights.insert(*arg);
      });
    if (weights.empty())
      return;
    func::FuncOp forward = forwards.front();
    SmallVector<DerivedValue> values;
    for (unsigned arg : weights) {
      auto memref = cast<MemRefType>(forward.getArgumentTypes()[arg]);
      auto weightType = RankedTensorType::get(memref.getShape(), memref.getElementType());
      func::FuncOp pack = getOrCreatePack(module, weightType, forward.getLoc(),
                                          target.packedPanelColumns);
      values.push_back({arg, cast<RankedTensorType>(pack.getResultTypes()[0]), "packed", pack});
    }
    appendDerivedValues(module, values);
  }
};

} // namespace
} // namespace modelc::lowering
