//===- LoopUtils.cpp - Shared helpers of the GPU passes' loops -------------===//

#include "lowering/gpu/LoopUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

using namespace mlir;

namespace modelc::lowering {

Value viewSource(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

SmallVector<Value> parallelTripCounts(OpBuilder &b, scf::ParallelOp loop) {
  Location loc = loop.getLoc();
  SmallVector<Value> counts;
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    Value span = arith::SubIOp::create(b, loc, ub, lb);
    counts.push_back(arith::CeilDivUIOp::create(b, loc, span, step));
  }
  return counts;
}

void cloneAsSerialLoops(OpBuilder &b, scf::ParallelOp loop) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = loop.getLoc();
  IRMapping mapping;
  for (auto [iv, lb, ub, step] : llvm::zip(loop.getInductionVars(), loop.getLowerBound(),
                                           loop.getUpperBound(), loop.getStep())) {
    auto serial = scf::ForOp::create(b, loc, lb, ub, step);
    mapping.map(iv, serial.getInductionVar());
    b.setInsertionPointToStart(serial.getBody());
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, mapping);
}

} // namespace modelc::lowering
