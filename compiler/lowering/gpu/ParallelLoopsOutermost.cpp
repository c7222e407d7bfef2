//===- ParallelLoopsOutermost.cpp - Reductions innermost for GPU threads --===//
//
// Implements -mdl-parallel-loops-outermost (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_PARALLELLOOPSOUTERMOST
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct ParallelLoopsOutermostPass
    : impl::ParallelLoopsOutermostBase<ParallelLoopsOutermostPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.getNumReductionLoops() > 0)
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::LinalgOp op : ops) {
      SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
      // Parallel loops in their order, then the reductions in theirs.
      SmallVector<unsigned> order;
      for (unsigned i = 0; i < iterators.size(); ++i)
        if (iterators[i] == utils::IteratorType::parallel)
          order.push_back(i);
      for (unsigned i = 0; i < iterators.size(); ++i)
        if (iterators[i] != utils::IteratorType::parallel)
          order.push_back(i);
      if (llvm::equal(order, llvm::seq<unsigned>(0, iterators.size())))
        continue;
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::GenericOp> generic =
          isa<linalg::GenericOp>(op) ? cast<linalg::GenericOp>(op.getOperation())
                                     : linalg::generalizeNamedOp(rewriter, op);
      if (failed(generic) || failed(linalg::interchangeGenericOp(rewriter, *generic, order))) {
        op.emitOpError("cannot order its loops for the GPU");
        return signalPassFailure();
      }
    }
  }
};

} // namespace
} // namespace modelc::lowering
