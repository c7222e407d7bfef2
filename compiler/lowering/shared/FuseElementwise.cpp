//===- FuseElementwise.cpp - Elementwise fusion, never into reductions ----===//
//
// Implements -mdl-fuse-elementwise (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The most elements of a splat constant that stays a constant.
constexpr int64_t kMaxSplatConstantElements = 4096;

/// A large splat constant that fusion left (one read by a matmul, a cat, a
/// function's result) becomes a fill of an empty tensor: bufferized as a
/// constant it would be a global of that many copies of one value, in the
/// library and through LLVM (16 MB for a constant f32[4194304] = ones()).
/// Small ones stay constants, which cost nothing at run time.
struct SplatConstantToFill : OpRewritePattern<arith::ConstantOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::ConstantOp op, PatternRewriter &rewriter) const override {
    auto splat = dyn_cast<SplatElementsAttr>(op.getValue());
    auto type = dyn_cast<RankedTensorType>(op.getType());
    if (!splat || !type || !type.hasStaticShape() ||
        type.getNumElements() <= kMaxSplatConstantElements)
      return failure();
    Location loc = op.getLoc();
    Value value = arith::ConstantOp::create(rewriter, loc, splat.getSplatValue<TypedAttr>());
    Value empty = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType(),
                                          type.getEncoding());
    rewriter.replaceOpWithNewOp<linalg::FillOp>(op, value, empty);
    return success();
  }
};

struct FuseElementwisePass : impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // A linalg producer the consumer broadcasts (BatchNorm's per-channel
    // scale read at every pixel) stays apart: fused, it would be computed
    // again for every element it is broadcast to. (Splat constants still
    // fold into the body as scalars.)
    linalg::ControlFusionFn control = [](OpOperand *operand) {
      auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
      Operation *producer = operand->get().getDefiningOp();
      if (!consumer || !producer || !producer->hasOneUse() || consumer.getNumReductionLoops() != 0)
        return false;
      // Broadcast: a loop of more than one iteration that the operand's
      // map leaves out (or writes as a constant 0: `elementwise`'s size-1
      // dimensions, as a [1, C, 1, 1] gate read at every pixel).
      AffineMap map = consumer.getMatchingIndexingMap(operand);
      SmallVector<int64_t> ranges = consumer.getStaticLoopRanges();
      bool broadcast = llvm::any_of(llvm::seq<unsigned>(0, consumer.getNumLoops()),
                                    [&](unsigned d) { return !map.isFunctionOfDim(d) && ranges[d] != 1; });
      return !(broadcast && isa<linalg::LinalgOp>(producer));
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // After fusion, which folds a splat read by an elementwise op into its
    // body as a scalar, so that only the splats it could not fold are left.
    RewritePatternSet fills(&getContext());
    fills.add<SplatConstantToFill>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(fills))))
      signalPassFailure();
  }
};

} // namespace
} // namespace modelc::lowering
