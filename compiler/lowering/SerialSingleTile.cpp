//===- SerialSingleTile.cpp - One-iteration parallel loops run serially ---===//
//
// Implements -mdl-serial-single-tile (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_SERIALSINGLETILE
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The number of iterations of `loop`: the product over its dimensions of
/// ceil((upper - lower) / step).
Value tripCount(OpBuilder &b, scf::ParallelOp loop) {
  Location loc = loop.getLoc();
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    Value span = arith::SubIOp::create(b, loc, ub, lb);
    Value n = arith::CeilDivUIOp::create(b, loc, span, step);
    total = arith::MulIOp::create(b, loc, total, n);
  }
  return total;
}

struct SerialSingleTilePass : impl::SerialSingleTileBase<SerialSingleTilePass> {
  void runOnOperation() override {
    SmallVector<scf::ParallelOp> loops;
    getOperation().walk([&](scf::ParallelOp loop) {
      if (loop.getNumResults() == 0 && !loop->getParentOfType<scf::ParallelOp>())
        loops.push_back(loop);
    });
    for (scf::ParallelOp loop : loops) {
      OpBuilder b(loop);
      Location loc = loop.getLoc();
      Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, tripCount(b, loop),
                                         arith::ConstantIndexOp::create(b, loc, 1));
      auto branch = scf::IfOp::create(b, loc, many, /*withElseRegion=*/true);
      // The serial copy: nested scf.for over the same bounds, same body.
      b.setInsertionPointToStart(branch.elseBlock());
      IRMapping mapping;
      for (auto [iv, lb, ub, step] : llvm::zip(loop.getInductionVars(), loop.getLowerBound(),
                                               loop.getUpperBound(), loop.getStep())) {
        auto serial = scf::ForOp::create(b, loc, lb, ub, step);
        mapping.map(iv, serial.getInductionVar());
        b.setInsertionPointToStart(serial.getBody());
      }
      for (Operation &op : loop.getBody()->without_terminator())
        b.clone(op, mapping);
      // The parallel original moves into the then-branch.
      loop->moveBefore(branch.thenBlock()->getTerminator());
    }
  }
};

} // namespace
} // namespace modelc::lowering
