//===- SplitOuterReductions.cpp - Reductions in two stages for the GPU ----===//
//
// Implements -mdl-split-outer-reductions (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/Passes.h"

#include <cmath>

namespace modelc::lowering {
#define GEN_PASS_DEF_SPLITOUTERREDUCTIONS
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The combiner of a reduction body `yield(combine(x, out))` whose output
/// is used by nothing else (so partial results can be combined alike), and
/// its identity.
std::optional<std::pair<Operation *, double>> combiner(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  BlockArgument out = body.getArguments().back();
  if (!out.hasOneUse())
    return std::nullopt;
  Operation *combine = *out.getUsers().begin();
  if (combine->getNumResults() != 1 || body.getTerminator()->getOperand(0) != combine->getResult(0))
    return std::nullopt;
  if (isa<arith::AddFOp>(combine))
    return std::make_pair(combine, 0.0);
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combine))
    return std::make_pair(combine, -INFINITY);
  if (isa<arith::MinimumFOp, arith::MinNumFOp>(combine))
    return std::make_pair(combine, INFINITY);
  return std::nullopt;
}

/// A size of loop `loop`: the dimension of an input indexed by it alone.
Value loopExtent(OpBuilder &b, linalg::GenericOp op, unsigned loop) {
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(input);
    for (auto [i, e] : llvm::enumerate(map.getResults()))
      if (auto d = dyn_cast<AffineDimExpr>(e); d && d.getPosition() == loop)
        return tensor::DimOp::create(b, op.getLoc(), input->get(), i);
  }
  return Value();
}

LogicalResult split(RewriterBase &rewriter, linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() < 2)
    return failure();
  auto combine = combiner(op);
  auto outType = dyn_cast<RankedTensorType>(op.getDpsInitOperand(0)->get().getType());
  if (!combine || !outType || !isa<FloatType>(outType.getElementType()))
    return failure();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  unsigned first = llvm::find(iterators, utils::IteratorType::reduction) - iterators.begin();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  Value extent = loopExtent(rewriter, op, first);
  if (!extent)
    return failure();
  MLIRContext *ctx = op.getContext();
  Type element = outType.getElementType();

  // Stage 1: the first reduction loop becomes parallel; each of its
  // iterations reduces the others into its own slot of the partials.
  SmallVector<int64_t> partialShape(outType.getShape());
  partialShape.push_back(ShapedType::kDynamic);
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < outType.getRank(); ++d)
    if (outType.isDynamicDim(d))
      dynamicSizes.push_back(tensor::DimOp::create(rewriter, loc, op.getDpsInitOperand(0)->get(), d));
  dynamicSizes.push_back(extent);
  Value empty = tensor::EmptyOp::create(rewriter, loc, partialShape, element, dynamicSizes);
  Value identity = arith::ConstantOp::create(rewriter, loc, element,
                                             rewriter.getFloatAttr(element, combine->second));
  Value partialInit = linalg::FillOp::create(rewriter, loc, identity, empty).getResult(0);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap outMap = maps.back();
  SmallVector<AffineExpr> partialResults(outMap.getResults());
  partialResults.push_back(getAffineDimExpr(first, ctx));
  maps.back() = AffineMap::get(outMap.getNumDims(), 0, partialResults, ctx);
  iterators[first] = utils::IteratorType::parallel;
  auto stage1 = linalg::GenericOp::create(rewriter, loc, partialInit.getType(), op.getDpsInputs(),
                                          ValueRange{partialInit}, maps, iterators);
  rewriter.cloneRegionBefore(op.getRegion(), stage1.getRegion(), stage1.getRegion().end());

  // Stage 2: the partials combined into the original accumulator.
  int64_t rank = outType.getRank();
  SmallVector<utils::IteratorType> finalIterators(rank, utils::IteratorType::parallel);
  finalIterators.push_back(utils::IteratorType::reduction);
  AffineMap all = AffineMap::getMultiDimIdentityMap(rank + 1, ctx);
  Operation *combineOp = combine->first;
  auto stage2 = linalg::GenericOp::create(
      rewriter, loc, outType, stage1.getResult(0), op.getDpsInitOperand(0)->get(),
      // (A full reduction's accumulator is 0-d: getMajorSubMap(0) would be
      // a null map.)
      ArrayRef<AffineMap>{all, rank == 0 ? AffineMap::get(1, 0, {}, ctx)
                                         : all.getMajorSubMap(rank)},
      finalIterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        OperationState state(l, combineOp->getName(), ValueRange{args[0], args[1]},
                             TypeRange{element}, combineOp->getAttrs());
        linalg::YieldOp::create(b, l, b.create(state)->getResult(0));
      });
  rewriter.replaceOp(op, stage2.getResults());
  return success();
}

struct SplitOuterReductionsPass : impl::SplitOuterReductionsBase<SplitOuterReductionsPass> {
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> ops;
    getOperation().walk([&](linalg::GenericOp op) { ops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : ops)
      (void)split(rewriter, op); // anything else stays one reduction
  }
};

} // namespace
} // namespace modelc::lowering
