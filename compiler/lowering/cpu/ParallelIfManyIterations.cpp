//===- ParallelIfManyIterations.cpp - Fork only for several iterations ----===//
//
// Implements -mdl-parallel-if-many-iterations (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/OpenMP/OpenMPDialect.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_PARALLELIFMANYITERATIONS
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct ParallelIfManyIterationsPass
    : impl::ParallelIfManyIterationsBase<ParallelIfManyIterationsPass> {
  void runOnOperation() override {
    getOperation().walk([](omp::ParallelOp parallel) {
      if (parallel.getIfExpr())
        return;
      omp::LoopNestOp nest;
      parallel.walk([&](omp::LoopNestOp op) {
        nest = op;
        return WalkResult::interrupt();
      });
      if (!nest || nest.getLoopInclusive())
        return;
      // Index bounds, known before the region starts.
      for (Value v : nest.getOperands())
        if (!v.getType().isIndex() || parallel->isAncestor(v.getParentRegion()->getParentOp()))
          return;
      OpBuilder b(parallel);
      Location loc = parallel.getLoc();
      Value total = arith::ConstantIndexOp::create(b, loc, 1);
      for (auto [lb, ub, step] : llvm::zip(nest.getLoopLowerBounds(), nest.getLoopUpperBounds(),
                                           nest.getLoopSteps())) {
        Value span = arith::SubIOp::create(b, loc, ub, lb);
        total = arith::MulIOp::create(b, loc, total, arith::CeilDivUIOp::create(b, loc, span, step));
      }
      Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, total,
                                         arith::ConstantIndexOp::create(b, loc, 1));
      parallel.getIfExprMutable().assign(many);
    });
  }
};

} // namespace
} // namespace modelc::lowering
