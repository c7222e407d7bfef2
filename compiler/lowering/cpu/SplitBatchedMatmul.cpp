//===- SplitBatchedMatmul.cpp - One matrix product per batch element ------===//
//
// Implements -mdl-split-batched-matmul (see Passes.td). The register-blocked
// kernels know 2-D products (and a shared left operand); a batched matmul
// whose operands both carry the batch, as attention's, would otherwise run
// as a plain loop nest at a few percent of peak.
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/Passes.h"
#include "lowering/shared/LoweringUtils.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_SPLITBATCHEDMATMUL
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// How one operand of the contraction indexes the batch: per batch loop,
/// whether it follows the loop (or stays at 0, a broadcast).
struct OperandForm {
  SmallVector<bool> followsBatch;
  /// The two trailing loops it reads, as loop positions.
  unsigned first, second;
};

/// The operand's map: `batch` leading results, each the batch loop of its
/// position or 0, then two plain loops.
std::optional<OperandForm> operandForm(AffineMap map, unsigned batch) {
  if (map.getNumResults() != batch + 2)
    return std::nullopt;
  OperandForm form;
  for (unsigned i = 0; i < batch; ++i) {
    AffineExpr e = map.getResult(i);
    if (auto d = dyn_cast<AffineDimExpr>(e); d && d.getPosition() == i)
      form.followsBatch.push_back(true);
    else if (auto c = dyn_cast<AffineConstantExpr>(e); c && c.getValue() == 0)
      form.followsBatch.push_back(false);
    else
      return std::nullopt;
  }
  auto d0 = dyn_cast<AffineDimExpr>(map.getResult(batch));
  auto d1 = dyn_cast<AffineDimExpr>(map.getResult(batch + 1));
  if (!d0 || !d1)
    return std::nullopt;
  form.first = d0.getPosition();
  form.second = d1.getPosition();
  return form;
}

struct BatchedMatmul {
  unsigned batch;
  OperandForm a, b;
};

/// Loops [batch..., m, n, k]: C[b, m, n] += A[b|0, m, k] * B[b|0, k, n] or
/// B[b|0, n, k], on f32 tensors.
std::optional<BatchedMatmul> match(linalg::GenericOp op) {
  unsigned loops = op.getNumLoops();
  if (!op.hasPureTensorSemantics() || loops < 4 || !isF32MacBody(op) ||
      op.getNumReductionLoops() != 1)
    return std::nullopt;
  unsigned batch = loops - 3, m = batch, n = batch + 1, k = batch + 2;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  if (iterators[k] != utils::IteratorType::reduction)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  // The output: [batch..., m, n], the loops but k in order.
  if (maps[2] != AffineMap::getMultiDimIdentityMap(loops, op.getContext()).dropResult(k))
    return std::nullopt;
  auto a = operandForm(maps[0], batch), b = operandForm(maps[1], batch);
  if (!a || !b || a->first != m || a->second != k)
    return std::nullopt;
  bool kn = b->first == k && b->second == n, nk = b->first == n && b->second == k;
  if (!kn && !nk)
    return std::nullopt;
  return BatchedMatmul{batch, *a, *b};
}

void split(RewriterBase &rewriter, linalg::GenericOp op, const BatchedMatmul &form) {
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Value init = op.getDpsInitOperand(0)->get();
  unsigned batch = form.batch;
  SmallVector<OpFoldResult> ubs;
  for (unsigned i = 0; i < batch; ++i)
    ubs.push_back(tensor::getMixedSize(rewriter, loc, init, i));
  auto forall = scf::ForallOp::create(rewriter, loc, ubs, ValueRange{init},
                                      /*mapping=*/std::nullopt);
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = llvm::to_vector(forall.getInductionVars());
  Value out = forall.getRegionIterArgs().front();
  OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
  // One batch element's [rows, cols] part of `v` (rank-reducing), where
  // `follows` says which batch indices it takes from the loop.
  auto where = [&](Value v, ArrayRef<bool> follows, SmallVector<OpFoldResult> &offsets,
                   SmallVector<OpFoldResult> &sizes) {
    offsets.clear();
    sizes.clear();
    for (unsigned i = 0; i < batch; ++i) {
      offsets.push_back(follows[i] ? OpFoldResult(ivs[i]) : zero);
      sizes.push_back(one);
    }
    for (unsigned d : {batch, batch + 1}) {
      offsets.push_back(zero);
      sizes.push_back(tensor::getMixedSize(rewriter, loc, v, d));
    }
  };
  SmallVector<OpFoldResult> strides(batch + 2, one);
  auto slice = [&](Value v, ArrayRef<bool> follows) -> Value {
    SmallVector<OpFoldResult> offsets, sizes;
    where(v, follows, offsets, sizes);
    auto type = cast<RankedTensorType>(v.getType());
    auto reduced = RankedTensorType::get(type.getShape().take_back(2), type.getElementType());
    return tensor::ExtractSliceOp::create(rewriter, loc, reduced, v, offsets, sizes, strides);
  };
  SmallVector<bool> all(batch, true);
  Value a = slice(op.getDpsInputOperand(0)->get(), form.a.followsBatch);
  Value b = slice(op.getDpsInputOperand(1)->get(), form.b.followsBatch);
  Value c = slice(out, all);
  // Loops (m, n, k) = (d0, d1, d2).
  AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
             k = getAffineDimExpr(2, ctx);
  bool kn = form.b.first == batch + 2;
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                 AffineMap::get(3, 0, kn ? ArrayRef<AffineExpr>{k, n}
                                                         : ArrayRef<AffineExpr>{n, k},
                                                ctx),
                                 AffineMap::get(3, 0, {m, n}, ctx)};
  SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                utils::IteratorType::parallel,
                                                utils::IteratorType::reduction};
  auto product = linalg::GenericOp::create(rewriter, loc, TypeRange{c.getType()}, ValueRange{a, b},
                                           ValueRange{c}, maps, iterators);
  rewriter.cloneRegionBefore(op.getRegion(), product.getRegion(), product.getRegion().end());
  // The slice of the result goes back where it came from.
  SmallVector<OpFoldResult> offsets, sizes;
  where(out, all, offsets, sizes);
  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(rewriter, loc, product.getResult(0), out, offsets, sizes,
                                        strides);
  rewriter.replaceOp(op, forall.getResults());
}

struct SplitBatchedMatmulPass : impl::SplitBatchedMatmulBase<SplitBatchedMatmulPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, BatchedMatmul>> found;
    getOperation().walk([&](linalg::GenericOp op) {
      if (auto form = match(op))
        found.emplace_back(op, *form);
    });
    IRRewriter rewriter(&getContext());
    for (auto &[op, form] : found) {
      rewriter.setInsertionPoint(op);
      split(rewriter, op, form);
    }
  }
};

} // namespace
} // namespace modelc::lowering
