//===- VectorizableLoopOrder.cpp - Contiguous output dimension innermost --===//
//
// Implements -mdl-vectorizable-loop-order (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "llvm/ADT/SetVector.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_VECTORIZABLELOOPORDER
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The loop to move innermost: the one the output's last dimension is, if
/// every input uses it at most in its own last dimension.
std::optional<unsigned> contiguousOutputLoop(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return std::nullopt;
  AffineMap out = op.getIndexingMapMatchingResult(op->getResult(0));
  if (out.getNumResults() == 0)
    return std::nullopt;
  auto last = dyn_cast<AffineDimExpr>(out.getResults().back());
  if (!last)
    return std::nullopt;
  unsigned loop = last.getPosition();
  if (loop == op.getNumLoops() - 1)
    return std::nullopt; // already innermost
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    for (unsigned i = 0; i + 1 < map.getNumResults(); ++i)
      if (map.getResult(i).isFunctionOfDim(loop))
        return std::nullopt; // would stride through a slow dimension
  }
  return loop;
}

struct VectorizableLoopOrderPass
    : impl::VectorizableLoopOrderBase<VectorizableLoopOrderPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (contiguousOutputLoop(op))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : candidates) {
      unsigned loop = *contiguousOutputLoop(op);
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::GenericOp> generic =
          isa<linalg::GenericOp>(op) ? cast<linalg::GenericOp>(op.getOperation())
                                     : linalg::generalizeNamedOp(rewriter, op);
      if (failed(generic))
        continue;
      // The window loops of a convolution or pooling (kw in x[.., ow*s + kw])
      // stay inside the row loop: they are short, LLVM unrolls them fully,
      // and the row's accumulators then stay in registers across the taps.
      llvm::SmallSetVector<unsigned, 4> window;
      for (OpOperand *input : generic->getDpsInputOperands()) {
        AffineExpr lastExpr = generic->getMatchingIndexingMap(input).getResults().back();
        if (!lastExpr.isFunctionOfDim(loop))
          continue;
        for (unsigned i = 0; i < generic->getNumLoops(); ++i)
          if (i != loop && lastExpr.isFunctionOfDim(i) &&
              generic->getIteratorTypesArray()[i] == utils::IteratorType::reduction)
            window.insert(i);
      }
      SmallVector<unsigned> order;
      for (unsigned i = 0; i < generic->getNumLoops(); ++i)
        if (i != loop && !window.contains(i))
          order.push_back(i);
      order.push_back(loop);
      for (unsigned i = 0; i < generic->getNumLoops(); ++i)
        if (window.contains(i))
          order.push_back(i);
      (void)linalg::interchangeGenericOp(rewriter, *generic, order);
    }
  }
};

} // namespace
} // namespace modelc::lowering
