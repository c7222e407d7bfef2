//===- NormalizationToLinalg.cpp - Reductions, softmax, normalization -----===//
//
// Reductions are linalg.generic reductions; statistics use two passes (mean,
// then the sum of squared deviations) as PyTorch's CPU kernels do, which keeps
// the variance accurate for inputs far from zero.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace modelc::lowering {
namespace {

RankedTensorType tensorType(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

/// Normalized reduction dims: empty means every dim, negatives count from
/// the end; sorted and unique.
SmallVector<int64_t> reductionDims(ArrayRef<int64_t> dims, int64_t rank) {
  SmallVector<int64_t> out;
  if (dims.empty())
    out = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  for (int64_t d : dims)
    out.push_back(d < 0 ? d + rank : d);
  llvm::sort(out);
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

/// `input` op `reduced`, where `reduced` lacks `dims`: a generic over input's
/// shape with `reduced` broadcast back.
Value combineWithReduced(OpBuilder &b, Location loc, Value input, Value reduced,
                         ArrayRef<int64_t> dims, const BodyBuilder &body) {
  RankedTensorType t = tensorType(input);
  int64_t rank = t.getRank();
  SmallVector<int64_t> identity = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  Value init = emptyTensor(b, loc, t, dynamicSizesFrom(b, loc, t, input, identity));
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank),
                                 droppedDimsMap(b.getContext(), rank, dims),
                                 b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(b, loc, TypeRange{t}, ValueRange{input, reduced},
                                   ValueRange{init}, maps, iterators,
                                   [&](OpBuilder &nb, Location l, ValueRange a) {
                                     linalg::YieldOp::create(nb, l, body(nb, l, a.drop_back()));
                                   })
      .getResult(0);
}

/// mean over `dims`, reduced shape.
Value mean(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims) {
  Value sum = reduce(b, loc, input, dims, ReduceKind::Sum);
  Type elt = tensorType(input).getElementType();
  Value n = countOf(b, loc, input, dims, elt);
  return elementwise(b, loc, tensorType(sum), sum, [&](OpBuilder &nb, Location l, ValueRange a) {
    return Value(arith::DivFOp::create(nb, l, a[0], n));
  });
}

/// Sum of squared deviations from `m` over `dims`, reduced shape.
Value squaredDeviations(OpBuilder &b, Location loc, Value input, Value m, ArrayRef<int64_t> dims) {
  Value sq = combineWithReduced(b, loc, input, m, dims, [](OpBuilder &nb, Location l, ValueRange a) {
    Value d = arith::SubFOp::create(nb, l, a[0], a[1]);
    return Value(arith::MulFOp::create(nb, l, d, d));
  });
  return reduce(b, loc, sq, dims, ReduceKind::Sum);
}

/// `ss / (n - correction)` elementwise.
Value divideByCount(OpBuilder &b, Location loc, Value ss, Value input, ArrayRef<int64_t> dims,
                    double correction) {
  Type elt = tensorType(input).getElementType();
  Value n = countOf(b, loc, input, dims, elt);
  Value denom = arith::SubFOp::create(b, loc, n, scalarConstant(b, loc, elt, correction));
  return elementwise(b, loc, tensorType(ss), ss, [&](OpBuilder &nb, Location l, ValueRange a) {
    return Value(arith::DivFOp::create(nb, l, a[0], denom));
  });
}

template <typename OpTy>
struct ReductionLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = op.getInput();
    SmallVector<int64_t> dims = reductionDims(op.getDims(), tensorType(input).getRank());
    Value r;
    if constexpr (std::is_same_v<OpTy, mlir::mdl::SumOp>) {
      r = reduce(rewriter, loc, input, dims, ReduceKind::Sum);
    } else if constexpr (std::is_same_v<OpTy, mlir::mdl::AmaxOp>) {
      r = reduce(rewriter, loc, input, dims, ReduceKind::Max);
    } else if constexpr (std::is_same_v<OpTy, mlir::mdl::MeanOp>) {
      r = mean(rewriter, loc, input, dims);
    } else {
      Value m = mean(rewriter, loc, input, dims);
      Value ss = squaredDeviations(rewriter, loc, input, m, dims);
      r = divideByCount(rewriter, loc, ss, input, dims, op.getUnbiased() ? 1.0 : 0.0);
    }
    if (op.getKeepdim())
      r = keepDims(rewriter, loc, r, tensorType(op.getResult()), dims);
    rewriter.replaceOp(op, r);
    return success();
  }
};

/// softmax = exp(x - max) / sum(exp(x - max)); log_softmax = x - max - log(sum).
template <typename OpTy, bool isLog>
struct SoftmaxLowering : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t rank = tensorType(x).getRank();
    if (rank == 0) {
      rewriter.replaceOp(op, filled(rewriter, loc, tensorType(x), x, isLog ? 0.0 : 1.0));
      return success();
    }
    SmallVector<int64_t> dims = {static_cast<int64_t>(op.getDim())};
    Value mx = reduce(rewriter, loc, x, dims, ReduceKind::Max);
    Value shifted = combineWithReduced(rewriter, loc, x, mx, dims, [](OpBuilder &b, Location l, ValueRange a) {
      return Value(arith::SubFOp::create(b, l, a[0], a[1]));
    });
    Value e = elementwise(rewriter, loc, tensorType(x), shifted, [](OpBuilder &b, Location l, ValueRange a) {
      return Value(math::ExpOp::create(b, l, a[0]));
    });
    Value sum = reduce(rewriter, loc, e, dims, ReduceKind::Sum);
    Value r;
    if (isLog) {
      Value logSum = elementwise(rewriter, loc, tensorType(sum), sum, [](OpBuilder &b, Location l, ValueRange a) {
        return Value(math::LogOp::create(b, l, a[0]));
      });
      r = combineWithReduced(rewriter, loc, shifted, logSum, dims, [](OpBuilder &b, Location l, ValueRange a) {
        return Value(arith::SubFOp::create(b, l, a[0], a[1]));
      });
    } else {
      r = combineWithReduced(rewriter, loc, e, sum, dims, [](OpBuilder &b, Location l, ValueRange a) {
        return Value(arith::DivFOp::create(b, l, a[0], a[1]));
      });
    }
    rewriter.replaceOp(op, r);
    return success();
  }
};

/// (x - mean) * rsqrt(var + eps) [* weight] [+ bias] over x's shape, layer
/// normalization's (its statistics are per row). `statMap` indexes mean
/// and var, `affineMap` weight and bias (either may be null).
/// A generic over x's shape whose inputs are x, `stats` (read through
/// `statMap`) and the non-null ones of `affine` (through `affineMap`):
/// what batch and layer normalization compute their result with.
Value overShapeOf(OpBuilder &b, Location loc, Value x, ValueRange stats, AffineMap statMap,
                  ArrayRef<Value> affine, AffineMap affineMap,
                  function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  RankedTensorType t = tensorType(x);
  int64_t rank = t.getRank();
  SmallVector<Value> inputs = {x};
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  for (Value v : stats) {
    inputs.push_back(v);
    maps.push_back(statMap);
  }
  for (Value v : affine) {
    if (v) {
      inputs.push_back(v);
      maps.push_back(affineMap);
    }
  }
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<int64_t> identity = llvm::to_vector(llvm::seq<int64_t>(0, rank));
  Value init = emptyTensor(b, loc, t, dynamicSizesFrom(b, loc, t, x, identity));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(b, loc, TypeRange{t}, inputs, ValueRange{init}, maps,
                                   iterators, body)
      .getResult(0);
}

Value normalize(OpBuilder &b, Location loc, Value x, Value mean, Value var, Value weight,
                Value bias, AffineMap statMap, AffineMap affineMap, double eps) {
  return overShapeOf(b, loc, x, {mean, var}, statMap, {weight, bias}, affineMap,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               Value v = arith::AddFOp::create(nb, l, a[2], scalarConstant(nb, l, a[2].getType(), eps));
               Value r = arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, a[0], a[1]),
                                               math::RsqrtOp::create(nb, l, v));
               size_t next = 3;
               if (weight)
                 r = arith::MulFOp::create(nb, l, r, a[next++]);
               if (bias)
                 r = arith::AddFOp::create(nb, l, r, a[next++]);
               linalg::YieldOp::create(nb, l, r);
             });
}

/// Every dim but the channel dim 1.
SmallVector<int64_t> nonChannelDims(int64_t rank) {
  SmallVector<int64_t> dims = {0};
  for (int64_t d = 2; d < rank; ++d)
    dims.push_back(d);
  return dims;
}

struct BatchNormStatsLowering : OpRewritePattern<mlir::mdl::BatchNormStatsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::BatchNormStatsOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    SmallVector<int64_t> dims = nonChannelDims(tensorType(x).getRank());
    Value m = mean(rewriter, loc, x, dims);
    Value ss = squaredDeviations(rewriter, loc, x, m, dims);
    Value biased = divideByCount(rewriter, loc, ss, x, dims, 0.0);
    Value unbiased = divideByCount(rewriter, loc, ss, x, dims, 1.0);
    rewriter.replaceOp(op, {m, biased, unbiased});
    return success();
  }
};

/// (x - mean) * scale + bias, with scale = weight * rsqrt(var + eps)
/// computed once per channel: a subtraction and an FMA per element, where
/// (x - mean) * rsqrt(var + eps) * weight + bias took a square root and a
/// division for every element. (PyTorch's CPU kernel folds the mean into
/// a shift, x * scale + (bias - mean * scale); subtracting the mean first
/// keeps the cancellation of two large terms out when |mean * scale| is
/// far above the result.)
struct BatchNormLowering : OpRewritePattern<mlir::mdl::BatchNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::BatchNormOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), mean = op.getMean(), weight = op.getWeight(), bias = op.getBias();
    double eps = op.getEpsAttr().getValueAsDouble();
    SmallVector<Value> scaleInputs = {op.getVar()};
    if (weight)
      scaleInputs.push_back(weight);
    Value scale = elementwise(rewriter, loc, tensorType(mean), scaleInputs,
                              [&](OpBuilder &b, Location l, ValueRange a) {
                                Value v = arith::AddFOp::create(
                                    b, l, a[0], scalarConstant(b, l, a[0].getType(), eps));
                                Value r = math::RsqrtOp::create(b, l, v);
                                return weight ? Value(arith::MulFOp::create(b, l, r, a[1])) : r;
                              });
    int64_t rank = tensorType(x).getRank();
    AffineMap channel = AffineMap::get(rank, 0, getAffineDimExpr(1, rewriter.getContext()));
    Value y = overShapeOf(rewriter, loc, x, {mean, scale}, channel, {bias}, channel,
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            Value r = arith::MulFOp::create(
                                b, l, arith::SubFOp::create(b, l, a[0], a[1]), a[2]);
                            if (bias)
                              r = arith::AddFOp::create(b, l, r, a[3]);
                            linalg::YieldOp::create(b, l, r);
                          });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// LayerNorm over the trailing normalized_shape dims, biased variance.
struct LayerNormLowering : OpRewritePattern<mlir::mdl::LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::LayerNormOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value x = op.getInput();
    int64_t rank = tensorType(x).getRank(), k = op.getNormalizedShape().size();
    SmallVector<int64_t> dims = llvm::to_vector(llvm::seq<int64_t>(rank - k, rank));
    Value m = mean(rewriter, loc, x, dims);
    Value var = divideByCount(rewriter, loc, squaredDeviations(rewriter, loc, x, m, dims), x, dims, 0.0);
    SmallVector<AffineExpr> trailing;
    for (int64_t d : dims)
      trailing.push_back(getAffineDimExpr(d, ctx));
    rewriter.replaceOp(op, normalize(rewriter, loc, x, m, var, op.getWeight(), op.getBias(),
                                     droppedDimsMap(ctx, rank, dims),
                                     AffineMap::get(rank, 0, trailing, ctx),
                                     op.getEpsAttr().getValueAsDouble()));
    return success();
  }
};

} // namespace

void populateNormalizationToLinalgPatterns(RewritePatternSet &patterns) {
  namespace mdl = mlir::mdl;
  patterns.add<ReductionLowering<mdl::SumOp>, ReductionLowering<mdl::MeanOp>,
               ReductionLowering<mdl::AmaxOp>, ReductionLowering<mdl::VarOp>,
               SoftmaxLowering<mdl::SoftmaxOp, false>, SoftmaxLowering<mdl::LogSoftmaxOp, true>,
               BatchNormStatsLowering, BatchNormLowering, LayerNormLowering>(patterns.getContext());
}

} // namespace modelc::lowering
