//===- Folds.cpp - folders and canonicalization patterns ------------------===//
//
// Only rewrites that are exact: an op folds to its input when it provably
// computes the identity, never when the types merely look alike.
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlOps.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::mdl;

/// relu is idempotent: relu(relu(x)) == relu(x).
OpFoldResult ReluOp::fold(FoldAdaptor) {
  if (getInput().getDefiningOp<ReluOp>())
    return getInput();
  return {};
}

/// A cast to the type it already has does nothing.
OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

/// Equal types with at most one dynamic size mean the same shape: every
/// static size matches, and the element count fixes the one unknown. (With
/// two dynamic sizes, tensor<?x?> -> tensor<?x?> may well move data.)
OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  auto type = getInput().getType();
  if (type == getType() && type.getNumDynamicDims() <= 1)
    return getInput();
  return {};
}

/// Flattening keeps the rank only when it merges a single dimension.
OpFoldResult FlattenOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

/// Dims normalized to [0, rank).
static SmallVector<int64_t> normalizedDims(ArrayRef<int64_t> dims) {
  int64_t rank = dims.size();
  SmallVector<int64_t> result;
  for (int64_t d : dims)
    result.push_back(d < 0 ? d + rank : d);
  return result;
}

OpFoldResult PermuteOp::fold(FoldAdaptor) {
  if (getInput().getType() != getType())
    return {};
  for (auto [i, d] : llvm::enumerate(normalizedDims(getDims())))
    if ((int64_t)i != d)
      return {};
  return getInput();
}

namespace {
/// permute(permute(x, inner), outer) -> permute(x, inner[outer[i]]), which
/// the folder then removes when the composition is the identity
/// (e.g. a transpose of a transpose).
struct ComposePermutes : OpRewritePattern<PermuteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PermuteOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<PermuteOp>();
    if (!inner)
      return failure();
    SmallVector<int64_t> innerDims = normalizedDims(inner.getDims());
    SmallVector<int64_t> composed;
    for (int64_t d : normalizedDims(op.getDims()))
      composed.push_back(innerDims[d]);
    rewriter.replaceOpWithNewOp<PermuteOp>(op, op.getType(), inner.getInput(),
                                           composed);
    return success();
  }
};
} // namespace

void PermuteOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                            MLIRContext *context) {
  patterns.add<ComposePermutes>(context);
}
