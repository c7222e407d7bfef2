//===- ChunkSerialSums.cpp - A thread's long sum in chunks -----------------===//
//
// Implements -mdl-chunk-serial-sums (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/LoopUtils.h"
#include "lowering/gpu/Passes.h"

#include "mlir/IR/PatternMatch.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_CHUNKSERIALSUMS
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// A loop `for k { out[i] = out[i] + x(k) }` whose only memory traffic on
/// `out`'s buffer is that load and that store, at indices defined outside
/// the loop,
/// the addition allowed to reassociate (MdlToLinalg marks a reduction's
/// combiner so).
struct SerialSum {
  memref::LoadOp load;
  memref::StoreOp store;
  arith::AddFOp add;
};

std::optional<SerialSum> matchSerialSum(scf::ForOp loop) {
  if (loop.getNumResults() != 0)
    return std::nullopt;
  Block *body = loop.getBody();
  auto store = dyn_cast<memref::StoreOp>(body->getTerminator()->getPrevNode());
  if (!store)
    return std::nullopt;
  auto add = store.getValue().getDefiningOp<arith::AddFOp>();
  if (!add || add->getBlock() != body || !add.getResult().hasOneUse() ||
      !bitEnumContainsAll(add.getFastmath(), arith::FastMathFlags::reassoc))
    return std::nullopt;
  Value out = store.getMemRef();
  auto definedOutside = [&](Value v) { return loop.isDefinedOutsideOfLoop(v); };
  if (!definedOutside(out) || !llvm::all_of(store.getIndices(), definedOutside))
    return std::nullopt;
  for (bool lhs : {true, false}) {
    Value accumulated = lhs ? add.getLhs() : add.getRhs();
    auto load = accumulated.getDefiningOp<memref::LoadOp>();
    if (!load || load->getBlock() != body || !load.getResult().hasOneUse() ||
        load.getMemRef() != out || load.getIndices() != store.getIndices())
      continue;
    // No other access to `out`'s buffer in the loop, through any view of
    // it: the partial sum is all it sees.
    Value buffer = viewSource(out);
    bool alone = true;
    body->walk([&](Operation *op) {
      if (op == load || op == store)
        return;
      for (Value operand : op->getOperands())
        alone &= !isa<MemRefType>(operand.getType()) || viewSource(operand) != buffer;
    });
    if (!alone)
      return std::nullopt;
    return SerialSum{load, store, add};
  }
  return std::nullopt;
}

/// The loops around `innermost` that hold nothing else (a convolution's
/// loops over channels and taps), outermost first, as far out as the
/// output's indices are defined outside them.
SmallVector<scf::ForOp> perfectNest(scf::ForOp innermost, SerialSum sum) {
  SmallVector<scf::ForOp> nest = {innermost};
  auto outside = [](scf::ForOp loop, Value v) { return loop.isDefinedOutsideOfLoop(v); };
  while (auto parent = dyn_cast<scf::ForOp>(nest.back()->getParentOp())) {
    if (parent.getNumResults() != 0 || parent.getBody()->getOperations().size() != 2 ||
        !outside(parent, sum.store.getMemRef()) ||
        !llvm::all_of(sum.store.getIndices(), [&](Value v) { return outside(parent, v); }))
      break;
    nest.push_back(parent);
  }
  std::reverse(nest.begin(), nest.end());
  return nest;
}

/// for k0 { ... for kn { out[i] += x(k) } }  becomes
///   for c in [lb0, ub0) step chunk0 * step0 {
///     p = -0.0
///     for k0 in [c, min(c + chunk0 * step0, ub0)) { ... p += x(k) }
///     out[i] += p
///   }
/// where chunk0 iterations of k0 hold about `terms` terms (at least one).
void chunk(ArrayRef<scf::ForOp> nest, SerialSum sum, int64_t terms) {
  int64_t inner = 1;
  for (scf::ForOp loop : nest.drop_front()) {
    std::optional<APInt> trips = loop.getStaticTripCount();
    inner *= trips ? static_cast<int64_t>(trips->getZExtValue()) : terms;
  }
  int64_t chunkSteps = std::max<int64_t>(1, terms / std::max<int64_t>(1, inner));
  scf::ForOp first = nest.front();
  OpBuilder b(first);
  Location loc = first.getLoc();
  Value ub = first.getUpperBound();
  Value span = arith::MulIOp::create(b, loc, first.getStep(),
                                     arith::ConstantIndexOp::create(b, loc, chunkSteps));
  auto chunks = scf::ForOp::create(b, loc, first.getLowerBound(), ub, span);
  b.setInsertionPointToStart(chunks.getBody());
  Value start = chunks.getInductionVar();
  Value end = arith::MinSIOp::create(b, loc, arith::AddIOp::create(b, loc, start, span), ub);
  auto type = cast<FloatType>(sum.add.getType());
  // -0.0 is the identity of addition, signed zeros included.
  Value init = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type, APFloat::getZero(type.getFloatSemantics(), /*Negative=*/true)));
  first->moveBefore(chunks.getBody()->getTerminator());
  first.getLowerBoundMutable().assign(start);
  first.getUpperBoundMutable().assign(end);
  // The partial sum, carried through every loop of the nest: each loop
  // yields, for now, what it was given; the next one in yields its result.
  IRRewriter rewriter(b.getContext());
  scf::ForOp outer, previous;
  for (scf::ForOp loop : nest) {
    rewriter.setInsertionPoint(loop);
    auto carried = cast<scf::ForOp>(*loop.replaceWithAdditionalYields(
        rewriter, init, /*replaceInitOperandUsesInLoop=*/false,
        [](OpBuilder &, Location, ArrayRef<BlockArgument> args) {
          return SmallVector<Value>{args.back()};
        }));
    if (previous)
      previous.getBody()->getTerminator()->setOperand(0, carried.getResults().back());
    else
      outer = carried;
    init = carried.getRegionIterArgs().back();
    previous = carried;
  }
  // The innermost: the load is the partial sum, the store its yield.
  Value out = sum.store.getMemRef();
  SmallVector<Value> indices(sum.store.getIndices());
  sum.load.getResult().replaceAllUsesWith(init);
  previous.getBody()->getTerminator()->setOperand(0, sum.add.getResult());
  sum.store->erase();
  sum.load->erase();
  // Then out[i] += p, once per chunk.
  b.setInsertionPointAfter(outer);
  Value old = memref::LoadOp::create(b, loc, out, indices);
  Value total = arith::AddFOp::create(b, loc, old, outer.getResults().back(),
                                      sum.add.getFastmath());
  memref::StoreOp::create(b, loc, total, out, indices);
}

struct ChunkSerialSumsPass : impl::ChunkSerialSumsBase<ChunkSerialSumsPass> {
  using ChunkSerialSumsBase::ChunkSerialSumsBase;
  void runOnOperation() override {
    SmallVector<std::pair<scf::ForOp, SerialSum>> sums;
    getOperation().walk([&](scf::ForOp loop) {
      if (auto sum = matchSerialSum(loop))
        sums.push_back({loop, *sum});
    });
    for (auto &[loop, sum] : sums)
      chunk(perfectNest(loop, sum), sum, chunkSteps);
  }
};

} // namespace
} // namespace modelc::lowering
