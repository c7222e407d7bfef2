//===- VectorizableLoopOrder.cpp - Contiguous output dimension innermost --===//
//
// Implements -mdl-vectorizable-loop-order (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/KernelFunctions.h"
#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "llvm/ADT/SetVector.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_VECTORIZABLELOOPORDER
#include "lowering/cpu/Passes.h.inc"
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

/// The window loops of `loop` in `op`: reductions that move with it along
/// an input's last dimension (kw in x[.., ow*s + kw]). (Taking kh in too
/// unrolls more than it saves; bench/TUNING.md.)
llvm::SmallSetVector<unsigned, 4> windowLoops(linalg::LinalgOp op, unsigned loop) {
  llvm::SmallSetVector<unsigned, 4> window;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (OpOperand *input : op.getDpsInputOperands()) {
    AffineExpr lastExpr = op.getMatchingIndexingMap(input).getResults().back();
    if (!lastExpr.isFunctionOfDim(loop))
      continue;
    for (unsigned i = 0; i < op.getNumLoops(); ++i)
      if (i != loop && lastExpr.isFunctionOfDim(i) && iterators[i] == utils::IteratorType::reduction)
        window.insert(i);
  }
  return window;
}

/// A contraction (m, n, k) -> [m, n] whose reduction k runs along both
/// inputs' last dimension, as Linear's x W^T.
bool isRowBlockOfDots(linalg::LinalgOp op) {
  if (op.getNumLoops() != 3 || op.getNumReductionLoops() != 1 || op.getNumDpsInits() != 1 ||
      op.getIteratorTypesArray()[2] != utils::IteratorType::reduction)
    return false;
  MLIRContext *ctx = op.getContext();
  AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx), k = getAffineDimExpr(2, ctx);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  return maps.size() == 3 && maps[0] == AffineMap::get(3, 0, {m, k}, ctx) &&
         maps[1] == AffineMap::get(3, 0, {n, k}, ctx) && maps[2] == AffineMap::get(3, 0, {m, n}, ctx);
}

/// Splits the output channel loop (dim 1 of an NCHW output) of a
/// convolution-like op into blocks of `block` channels (each input row
/// loaded once serves that many accumulators); returns the op that
/// computes one block, or `op` when it does not apply.
linalg::LinalgOp blockChannels(RewriterBase &rewriter, linalg::LinalgOp op, unsigned loop,
                               int64_t block) {
  AffineMap out = op.getIndexingMapMatchingResult(op->getResult(0));
  if (out.getNumResults() != 4 || windowLoops(op, loop).empty())
    return op;
  auto channel = dyn_cast<AffineDimExpr>(out.getResult(1));
  if (!channel)
    return op;
  int64_t extent = op.getStaticLoopRanges()[channel.getPosition()];
  if (ShapedType::isDynamic(extent) || extent <= block || extent % block)
    return op;
  SmallVector<OpFoldResult> sizes(op.getNumLoops(), rewriter.getIndexAttr(0));
  sizes[channel.getPosition()] = rewriter.getIndexAttr(block);
  scf::SCFTilingOptions options;
  options.setTileSizes(sizes);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled =
      scf::tileUsingSCF(rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return op;
  rewriter.replaceOp(op, tiled->replacements);
  return cast<linalg::LinalgOp>(tiled->tiledOps.front());
}

struct VectorizableLoopOrderPass
    : impl::VectorizableLoopOrderBase<VectorizableLoopOrderPass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> candidates, dots;
    getOperation().walk([&](linalg::LinalgOp op) {
      // -mdl-depthwise-conv-kernels computes these in the order they come.
      auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
      if (generic && depthwiseKernelForm(generic))
        return;
      if (contiguousOutputLoop(op))
        candidates.push_back(op);
      else if (isRowBlockOfDots(op))
        dots.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    const int64_t block = CpuTarget::of(getOperation()).loopOrderChannelBlock;
    // x W^T over a block of rows: loops (m, n, k) become (n, m, k), so that
    // the weight row n stays in cache for every row of the block.
    for (linalg::LinalgOp op : dots)
      if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
        (void)linalg::interchangeGenericOp(rewriter, generic, {1, 0, 2});
    for (linalg::LinalgOp candidate : candidates) {
      unsigned loop = *contiguousOutputLoop(candidate);
      linalg::LinalgOp op = blockChannels(rewriter, candidate, loop, block);
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::GenericOp> generic =
          isa<linalg::GenericOp>(op) ? cast<linalg::GenericOp>(op.getOperation())
                                     : linalg::generalizeNamedOp(rewriter, op);
      if (failed(generic))
        continue;
      // Inside the row loop go the window loops and the short parallel loops
      // (a channel block): LLVM unrolls them fully, so that the row's
      // accumulators stay in registers across the taps and every loaded
      // input row serves the whole channel block.
      linalg::LinalgOp g = cast<linalg::LinalgOp>(generic->getOperation());
      llvm::SmallSetVector<unsigned, 4> inner = windowLoops(g, loop);
      SmallVector<int64_t> extents = g.getStaticLoopRanges();
      SmallVector<utils::IteratorType> iterators = g.getIteratorTypesArray();
      for (unsigned i = 0; i < g.getNumLoops(); ++i)
        if (i != loop && iterators[i] == utils::IteratorType::parallel && extents[i] > 1 &&
            extents[i] <= block && !inner.empty())
          inner.insert(i);
      SmallVector<unsigned> order;
      for (unsigned i = 0; i < g.getNumLoops(); ++i)
        if (i != loop && !inner.contains(i))
          order.push_back(i);
      order.push_back(loop);
      for (unsigned i = 0; i < g.getNumLoops(); ++i)
        if (inner.contains(i))
          order.push_back(i);
      (void)linalg::interchangeGenericOp(rewriter, *generic, order);
    }
  }
};

} // namespace
} // namespace modelc::lowering
