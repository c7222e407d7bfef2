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

/// The transpose of 8 vectors of 8 lanes (r[j][i] -> t[i][j]) in three
/// rounds of two-input shuffles, which x86 turns into vunpck{l,h}ps,
/// vshufps and vperm2f128: 24 shuffles for 64 elements.
SmallVector<Value> transpose8x8(OpBuilder &b, Location loc, ArrayRef<Value> r) {
  auto shuffle = [&](Value x, Value y, ArrayRef<int64_t> mask) -> Value {
    return vector::ShuffleOp::create(b, loc, x, y, mask);
  };
  // Interleave the lanes of row pairs, then their lane pairs, then halves.
  const int64_t unpackLow[] = {0, 8, 1, 9, 4, 12, 5, 13};
  const int64_t unpackHigh[] = {2, 10, 3, 11, 6, 14, 7, 15};
  const int64_t pairsLow[] = {0, 1, 8, 9, 4, 5, 12, 13};
  const int64_t pairsHigh[] = {2, 3, 10, 11, 6, 7, 14, 15};
  const int64_t halvesLow[] = {0, 1, 2, 3, 8, 9, 10, 11};
  const int64_t halvesHigh[] = {4, 5, 6, 7, 12, 13, 14, 15};
  SmallVector<Value> t(8), u(8), out(8);
  for (int i = 0; i < 8; i += 2) {
    t[i] = shuffle(r[i], r[i + 1], unpackLow);
    t[i + 1] = shuffle(r[i], r[i + 1], unpackHigh);
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = shuffle(t[i + h], t[i + h + 2], pairsLow);
      u[i + 2 * h + 1] = shuffle(t[i + h], t[i + h + 2], pairsHigh);
    }
  for (int i = 0; i < 4; ++i) {
    out[i] = shuffle(u[i], u[i + 4], halvesLow);
    out[i + 4] = shuffle(u[i], u[i + 4], halvesHigh);
  }
  return out;
}

/// One panel, `panel` = P[p] as [K, C] (C = `columns`, a multiple of 8),
/// from rows `firstRow` .. `firstRow` + `rows` of w (`rows` <= C; the
/// panel's rows past them are zero): for each 8 steps of k, 8 contiguous
/// floats of each row, transposed 8 x 8 in registers into rows of P, which
/// are contiguous too; the last K % 8 steps element by element.
Value packPanel(OpBuilder &b, Location loc, Value w, Value panel, Value firstRow, int64_t rows,
                int64_t columns) {
  int64_t k = cast<RankedTensorType>(w.getType()).getDimSize(1);
  Type element = cast<RankedTensorType>(w.getType()).getElementType();
  auto vec = VectorType::get({8}, element);
  Value zero = scalarConstant(b, loc, element, 0.0);
  auto index = [&](OpBuilder &ob, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(ob, loc, v);
  };
  auto row = [&](OpBuilder &ob, int64_t j) -> Value {
    return j == 0 ? firstRow : arith::AddIOp::create(ob, loc, firstRow, index(ob, j)).getResult();
  };
  int64_t k8 = k - k % 8;
  if (k8 > 0) {
    auto loop = scf::ForOp::create(
        b, loc, index(b, 0), index(b, k8), index(b, 8), ValueRange{panel},
        [&](OpBuilder &nb, Location l, Value k0, ValueRange iter) {
          Value zeros = arith::ConstantOp::create(nb, l, vec, DenseElementsAttr::get(
                                                                  vec, nb.getZeroAttr(element)));
          Value acc = iter[0];
          for (int64_t j0 = 0; j0 < columns; j0 += 8) {
            SmallVector<Value> in;
            for (int64_t j = j0; j < j0 + 8; ++j)
              in.push_back(j < rows ? vector::TransferReadOp::create(nb, l, vec, w,
                                                                     ValueRange{row(nb, j), k0},
                                                                     zero, ArrayRef<bool>{true})
                                          .getResult()
                                    : zeros);
            SmallVector<Value> out = transpose8x8(nb, l, in);
            for (int64_t i = 0; i < 8; ++i) {
              Value at = i == 0 ? k0 : arith::AddIOp::create(nb, l, k0, index(nb, i)).getResult();
              acc = vector::TransferWriteOp::create(nb, l, out[i], acc,
                                                    ValueRange{at, index(nb, j0)},
                                                    ArrayRef<bool>{true})
                        .getResult();
            }
          }
          scf::YieldOp::create(nb, l, acc);
        });
    panel = loop.getResult(0);
  }
  auto line = VectorType::get({columns}, element);
  for (int64_t kk = k8; kk < k; ++kk) {
    SmallVector<Value> elements;
    for (int64_t j = 0; j < columns; ++j)
      elements.push_back(j < rows ? tensor::ExtractOp::create(b, loc, w,
                                                              ValueRange{row(b, j), index(b, kk)})
                                        .getResult()
                                  : zero);
    Value v = vector::FromElementsOp::create(b, loc, line, elements);
    panel = vector::TransferWriteOp::create(b, loc, v, panel, ValueRange{index(b, kk), index(b, 0)},
                                            ArrayRef<bool>{true})
                .getResult();
  }
  return panel;
}

/// `modelc_pack_weight_<N>x<K>(w, into) -> P`, P[p, k, j] = w[16 p + j, k]
/// and zero past row N, written over `into`. Element by element this is a
/// gather across 16 rows N floats apart (1.7 ms for 1024 x 1024 at one
/// thread, recomputed after every optimizer step); instead each panel reads
/// 8 contiguous floats of 16 rows and writes 8 contiguous rows of P through
/// 8 x 8 register transposes (packPanel). The whole panels run in parallel
/// (scf.forall over p), the last one, partial, after them.
func::FuncOp getOrCreatePack(ModuleOp module, RankedTensorType weightType, Location loc,
                             int64_t panelColumns) {
  int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
  std::string name = "modelc_pack_weight_" + std::to_string(n) + "x" + std::to_string(k);
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  assert(panelColumns % 8 == 0 && "panels are transposed 8 x 8");
  int64_t panels = llvm::divideCeil(n, panelColumns), whole = n / panelColumns;
  Type element = weightType.getElementType();
  auto packedType = RankedTensorType::get({panels, k, panelColumns}, element);
  auto panelType = RankedTensorType::get({k, panelColumns}, element);
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 b.getFunctionType({weightType, packedType}, {packedType}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value w = entry->getArgument(0), packed = entry->getArgument(1);
  auto at = [&](Value p) -> SmallVector<OpFoldResult> {
    return {p, b.getIndexAttr(0), b.getIndexAttr(0)};
  };
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(k),
                                     b.getIndexAttr(panelColumns)},
                            strides(3, b.getIndexAttr(1));
  if (whole > 0) {
    auto forall = scf::ForallOp::create(b, loc, ArrayRef<OpFoldResult>{b.getIndexAttr(whole)},
                                        ValueRange{packed}, std::nullopt);
    Value p = forall.getInductionVars()[0], into = forall.getRegionIterArgs()[0];
    b.setInsertionPoint(forall.getTerminator());
    Value panel = tensor::ExtractSliceOp::create(b, loc, panelType, into, at(p), sizes, strides);
    Value firstRow =
        arith::MulIOp::create(b, loc, p, arith::ConstantIndexOp::create(b, loc, panelColumns));
    panel = packPanel(b, loc, w, panel, firstRow, panelColumns, panelColumns);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, loc, panel, into, at(p), sizes, strides);
    b.setInsertionPointAfter(forall);
    packed = forall.getResult(0);
  }
  if (whole < panels) {
    Value p = arith::ConstantIndexOp::create(b, loc, whole);
    Value panel = tensor::ExtractSliceOp::create(b, loc, panelType, packed, at(p), sizes, strides);
    Value firstRow = arith::ConstantIndexOp::create(b, loc, whole * panelColumns);
    panel = packPanel(b, loc, w, panel, firstRow, n - whole * panelColumns, panelColumns);
    packed = tensor::InsertSliceOp::create(b, loc, panel, packed, at(p), sizes, strides);
  }
  func::ReturnOp::create(b, loc, packed);
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
  // The pack functions' loops and register transposes.
  void getDependentDialects(DialectRegistry &registry) const override {
    PackWeightsBase::getDependentDialects(registry);
    registry.insert<scf::SCFDialect, vector::VectorDialect>();
  }

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
