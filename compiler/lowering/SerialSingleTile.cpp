//===- SerialSingleTile.cpp - One-iteration parallel loops run serially ---===//
//
// Implements -mdl-serial-single-tile (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "lowering/LoopUtils.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_SERIALSINGLETILE
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

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
      Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, parallelTripCount(b, loop),
                                         arith::ConstantIndexOp::create(b, loc, 1));
      auto branch = scf::IfOp::create(b, loc, many, /*withElseRegion=*/true);
      // The serial copy: nested scf.for over the same bounds, same body.
      b.setInsertionPointToStart(branch.elseBlock());
      cloneAsSerialLoops(b, loop);
      // The parallel original moves into the then-branch.
      loop->moveBefore(branch.thenBlock()->getTerminator());
    }
  }
};

} // namespace
} // namespace modelc::lowering
