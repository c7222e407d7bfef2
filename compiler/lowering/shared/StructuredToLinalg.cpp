//===- StructuredToLinalg.cpp - Contractions, convolutions, pooling -------===//
//
// linear and matmul become contractions whose accumulator starts as the
// broadcast bias (so the bias add is fused into the matmul); conv2d becomes
// linalg.conv_2d_nchw_fchw on a padded input, or a grouped generic; pooling
// uses linalg's pooling ops; embedding is a gather.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;

namespace modelc::lowering {
namespace {

RankedTensorType tensorType(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

/// The dynamic sizes of `type`: dimension i is `dynamicFrom[i]`'s size
/// (a value and its dimension).
SmallVector<Value> sizesFrom(OpBuilder &b, Location loc, RankedTensorType type,
                             ArrayRef<std::pair<Value, int64_t>> dynamicFrom) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, dynamicFrom[i].first, dynamicFrom[i].second));
  return dyn;
}

/// The accumulator of a contraction producing `type` (of dynamic sizes
/// `dyn`): the bias broadcast along every dimension but `biasDim` when there
/// is one, zeros otherwise.
Value accumulator(OpBuilder &b, Location loc, RankedTensorType type, Value bias, int64_t biasDim,
                  ValueRange dyn) {
  Value empty = emptyTensor(b, loc, type, dyn);
  if (!bias)
    return linalg::FillOp::create(b, loc, scalarConstant(b, loc, type.getElementType(), 0), empty)
        .getResult(0);
  int64_t rank = type.getRank();
  SmallVector<AffineMap> maps = {
      AffineMap::get(rank, 0, getAffineDimExpr(biasDim, b.getContext())),
      b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(b, loc, TypeRange{type}, ValueRange{bias}, ValueRange{empty},
                                   maps, iterators,
                                   [](OpBuilder &nb, Location l, ValueRange a) {
                                     linalg::YieldOp::create(nb, l, a[0]);
                                   })
      .getResult(0);
}

/// Collapses all leading dimensions of `x` into one: [a, b, k] -> [a*b, k].
Value collapseLeading(OpBuilder &b, Location loc, Value x) {
  RankedTensorType t = tensorType(x);
  if (t.getRank() == 2)
    return x;
  ReassociationIndices lead = llvm::to_vector(llvm::seq<int64_t>(0, t.getRank() - 1));
  SmallVector<ReassociationIndices> groups = {lead, {t.getRank() - 1}};
  return tensor::CollapseShapeOp::create(b, loc, x, groups);
}

/// Expands the leading dimension of a 2-D `y` back into the leading
/// dimensions of `like` ([a*b, n] -> [a, b, n]).
Value expandLeading(OpBuilder &b, Location loc, Value y, Value like, RankedTensorType type) {
  if (type.getRank() == 2)
    return y;
  RankedTensorType likeType = tensorType(like);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < type.getRank() - 1; ++i)
    sizes.push_back(likeType.isDynamicDim(i) ? OpFoldResult(tensor::DimOp::create(b, loc, like, i).getResult())
                                             : OpFoldResult(b.getIndexAttr(likeType.getDimSize(i))));
  sizes.push_back(b.getIndexAttr(type.getShape().back()));
  ReassociationIndices lead = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank() - 1));
  SmallVector<ReassociationIndices> groups = {lead, {type.getRank() - 1}};
  return tensor::ExpandShapeOp::create(b, loc, type, y, groups, sizes);
}

/// F.linear: y = x W^T + b over the last dimension of x.
struct LinearLowering : OpRewritePattern<mlir::mdl::LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::LinearOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    RankedTensorType resultType = tensorType(op.getResult());
    if (tensorType(x).getRank() == 1) {
      // [k] -> [1, k]; the result [n] comes back from [1, n].
      auto t = RankedTensorType::get({1, tensorType(x).getDimSize(0)}, resultType.getElementType());
      x = tensor::ExpandShapeOp::create(rewriter, loc, t, x, ArrayRef<ReassociationIndices>{{0, 1}});
    }
    Value x2 = collapseLeading(rewriter, loc, x);
    int64_t n = tensorType(op.getWeight()).getDimSize(0);
    auto outType = RankedTensorType::get({tensorType(x2).getDimSize(0), n}, resultType.getElementType());
    Value init = accumulator(rewriter, loc, outType, op.getBias(), 1,
                             sizesFrom(rewriter, loc, outType, {{x2, 0}, {x2, 0}}));
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr m, nn, k;
    bindDims(ctx, m, nn, k);
    SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx), AffineMap::get(3, 0, {nn, k}, ctx),
                                   AffineMap::get(3, 0, {m, nn}, ctx)};
    SmallVector<utils::IteratorType> iterators = {utils::IteratorType::parallel,
                                                  utils::IteratorType::parallel,
                                                  utils::IteratorType::reduction};
    Value y = linalg::GenericOp::create(rewriter, loc, TypeRange{outType},
                                        ValueRange{x2, op.getWeight()}, ValueRange{init}, maps,
                                        iterators, macBody)
                  .getResult(0);
    if (resultType.getRank() == 1)
      y = tensor::CollapseShapeOp::create(rewriter, loc, resultType, y,
                                          ArrayRef<ReassociationIndices>{{0, 1}});
    else
      y = expandLeading(rewriter, loc, y, op.getInput(), resultType);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// torch.matmul: 1-D operands are promoted (and the promoted dimension
/// dropped from the result); leading dimensions broadcast as batches.
struct MatmulLowering : OpRewritePattern<mlir::mdl::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::MatmulOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value a = op.getLhs(), c = op.getRhs();
    RankedTensorType resultType = tensorType(op.getResult());
    int64_t ra = tensorType(a).getRank(), rc = tensorType(c).getRank();
    Type elt = resultType.getElementType();
    auto promote = [&](Value v, bool asRow) -> Value {
      int64_t k = tensorType(v).getDimSize(0);
      auto t = RankedTensorType::get(asRow ? ArrayRef<int64_t>{1, k} : ArrayRef<int64_t>{k, 1}, elt);
      SmallVector<OpFoldResult> sizes = {rewriter.getIndexAttr(asRow ? 1 : k),
                                         rewriter.getIndexAttr(asRow ? k : 1)};
      if (ShapedType::isDynamic(k))
        sizes[asRow ? 1 : 0] = tensor::DimOp::create(rewriter, loc, v, 0).getResult();
      return tensor::ExpandShapeOp::create(rewriter, loc, t, v, ArrayRef<ReassociationIndices>{{0, 1}}, sizes);
    };
    if (ra == 1)
      a = promote(a, /*asRow=*/true);
    if (rc == 1)
      c = promote(c, /*asRow=*/false);
    RankedTensorType ta = tensorType(a), tc = tensorType(c);
    int64_t batch = std::max(ta.getRank(), tc.getRank()) - 2;
    SmallVector<int64_t> shape;
    SmallVector<std::pair<Value, int64_t>> from;
    for (int64_t i = 0; i < batch; ++i) {
      int64_t ia = i - (batch - (ta.getRank() - 2)), ic = i - (batch - (tc.getRank() - 2));
      int64_t sa = ia >= 0 ? ta.getDimSize(ia) : 1, sc = ic >= 0 ? tc.getDimSize(ic) : 1;
      shape.push_back(sa != 1 ? sa : sc);
      from.push_back(sa != 1 ? std::make_pair(a, ia) : std::make_pair(c, ic));
    }
    shape.push_back(ta.getDimSize(ta.getRank() - 2));
    from.push_back({a, ta.getRank() - 2});
    shape.push_back(tc.getDimSize(tc.getRank() - 1));
    from.push_back({c, tc.getRank() - 1});
    auto outType = RankedTensorType::get(shape, elt);
    Value init = accumulator(rewriter, loc, outType, nullptr, 0,
                             sizesFrom(rewriter, loc, outType, from));

    // Loops: batch..., m, n, k.
    int64_t loops = batch + 3;
    auto operandMap = [&](RankedTensorType t, bool isLhs) {
      SmallVector<AffineExpr> exprs;
      int64_t own = t.getRank() - 2;
      for (int64_t i = 0; i < own; ++i) {
        int64_t loop = i + (batch - own);
        bool bcast = t.getDimSize(i) == 1 && shape[loop] != 1;
        exprs.push_back(bcast ? getAffineConstantExpr(0, ctx) : getAffineDimExpr(loop, ctx));
      }
      exprs.push_back(getAffineDimExpr(isLhs ? batch : batch + 2, ctx));
      exprs.push_back(getAffineDimExpr(isLhs ? batch + 2 : batch + 1, ctx));
      return AffineMap::get(loops, 0, exprs, ctx);
    };
    SmallVector<AffineExpr> outExprs;
    for (int64_t i = 0; i < batch + 2; ++i)
      outExprs.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {operandMap(ta, true), operandMap(tc, false),
                                   AffineMap::get(loops, 0, outExprs, ctx)};
    SmallVector<utils::IteratorType> iterators(loops, utils::IteratorType::parallel);
    iterators.back() = utils::IteratorType::reduction;
    Value y = linalg::GenericOp::create(rewriter, loc, TypeRange{outType}, ValueRange{a, c},
                                        ValueRange{init}, maps, iterators, macBody)
                  .getResult(0);
    if (outType != resultType) {
      // Drop the promoted unit dimensions, each joining a neighbour's group.
      SmallVector<ReassociationIndices> groups;
      ReassociationIndices leading;
      for (int64_t d = 0; d < outType.getRank(); ++d) {
        bool dropped = (ra == 1 && d == batch) || (rc == 1 && d == batch + 1);
        if (!dropped) {
          leading.push_back(d);
          groups.push_back(leading);
          leading.clear();
        } else if (groups.empty()) {
          leading.push_back(d);
        } else {
          groups.back().push_back(d);
        }
      }
      y = tensor::CollapseShapeOp::create(rewriter, loc, resultType, y, groups);
    }
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct Conv2dLowering : OpRewritePattern<mlir::mdl::Conv2dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::Conv2dOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType outType = tensorType(op.getResult());
    Value x = padSpatial(rewriter, loc, op.getInput(), op.getPadding(), 0.0);
    // A spatial size known only at run time is the sliding window's count.
    ArrayRef<int64_t> wshape = tensorType(op.getWeight()).getShape();
    SmallVector<int64_t> window = {op.getDilation()[0] * (wshape[2] - 1) + 1,
                                   op.getDilation()[1] * (wshape[3] - 1) + 1};
    Value init = accumulator(rewriter, loc, outType, op.getBias(), 1,
                             slidingDynamicSizes(rewriter, loc, x, outType, window,
                                                 op.getStride()));
    ArrayRef<int64_t> stride = op.getStride(), dilation = op.getDilation();
    int64_t groups = op.getGroups();
    Value y;
    if (groups == 1) {
      y = linalg::Conv2DNchwFchwOp::create(rewriter, loc, TypeRange{outType},
                                           ValueRange{x, op.getWeight()}, ValueRange{init},
                                           rewriter.getI64TensorAttr(stride),
                                           rewriter.getI64TensorAttr(dilation))
              .getResult(0);
    } else if (wshape[0] == groups && wshape[1] == 1) {
      // Depthwise (one filter per channel, MobileNet's): out[n, c, oh, ow]
      // += x[n, c, oh*s + kh*d, ow*s + kw*d] * w[c, kh, kw], a 4-D result
      // that its BatchNorm and activation fuse with, in the form the CPU's
      // depthwise kernel takes (matchDepthwiseForm).
      Value w = tensor::CollapseShapeOp::create(rewriter, loc, op.getWeight(),
                                                SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}});
      // Loops: n, c, oh, ow, kh, kw.
      AffineExpr n, c, oh, ow, kh, kw;
      bindDims(ctx, n, c, oh, ow, kh, kw);
      SmallVector<AffineMap> maps = {
          AffineMap::get(6, 0, {n, c, oh * stride[0] + kh * dilation[0], ow * stride[1] + kw * dilation[1]}, ctx),
          AffineMap::get(6, 0, {c, kh, kw}, ctx), AffineMap::get(6, 0, {n, c, oh, ow}, ctx)};
      using IT = utils::IteratorType;
      SmallVector<IT> iterators = {IT::parallel, IT::parallel,  IT::parallel,
                                   IT::parallel, IT::reduction, IT::reduction};
      y = linalg::GenericOp::create(rewriter, loc, TypeRange{outType}, ValueRange{x, w},
                                    ValueRange{init}, maps, iterators, macBody)
              .getResult(0);
    } else {
      // Split channels into groups: input [N, G, C, H, W], weight
      // [G, F, C, kh, kw], output [N, G, F, Ho, Wo].
      Value xg = splitDim(rewriter, loc, x, 1, groups);
      Value wg = splitDim(rewriter, loc, op.getWeight(), 0, groups);
      Value ig = splitDim(rewriter, loc, init, 1, groups);
      // Loops: n, g, f, oh, ow, c, kh, kw.
      AffineExpr n, g, f, oh, ow, c, kh, kw;
      bindDims(ctx, n, g, f, oh, ow, c, kh, kw);
      SmallVector<AffineMap> maps = {
          AffineMap::get(8, 0, {n, g, c, oh * stride[0] + kh * dilation[0], ow * stride[1] + kw * dilation[1]}, ctx),
          AffineMap::get(8, 0, {g, f, c, kh, kw}, ctx), AffineMap::get(8, 0, {n, g, f, oh, ow}, ctx)};
      using IT = utils::IteratorType;
      SmallVector<IT> iterators = {IT::parallel, IT::parallel, IT::parallel, IT::parallel,
                                   IT::parallel, IT::reduction, IT::reduction, IT::reduction};
      Value yg = linalg::GenericOp::create(rewriter, loc, TypeRange{ig.getType()}, ValueRange{xg, wg},
                                           ValueRange{ig}, maps, iterators, macBody)
                     .getResult(0);
      y = mergeDim(rewriter, loc, yg, 1, outType);
    }
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// Sum- or max-pools `x` (already padded) into `outType`.
Value pool(OpBuilder &b, Location loc, Value x, RankedTensorType outType, ArrayRef<int64_t> kernel,
           ArrayRef<int64_t> stride, bool isMax) {
  Type elt = outType.getElementType();
  double identity = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
  SmallVector<Value> dyn = slidingDynamicSizes(b, loc, x, outType, kernel, stride);
  Value init = linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, identity),
                                      emptyTensor(b, loc, outType, dyn))
                   .getResult(0);
  Value window = tensor::EmptyOp::create(b, loc, kernel, elt);
  auto strides = b.getI64TensorAttr(stride);
  auto dilations = b.getI64TensorAttr({1, 1});
  if (isMax)
    return linalg::PoolingNchwMaxOp::create(b, loc, TypeRange{outType}, ValueRange{x, window},
                                            ValueRange{init}, strides, dilations)
        .getResult(0);
  return linalg::PoolingNchwSumOp::create(b, loc, TypeRange{outType}, ValueRange{x, window},
                                          ValueRange{init}, strides, dilations)
      .getResult(0);
}

struct MaxPoolLowering : OpRewritePattern<mlir::mdl::MaxPool2dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::MaxPool2dOp op, PatternRewriter &rewriter) const override {
    Value x = padSpatial(rewriter, op.getLoc(), op.getInput(), op.getPadding(),
                         -std::numeric_limits<double>::infinity());
    rewriter.replaceOp(op, pool(rewriter, op.getLoc(), x, tensorType(op.getResult()),
                                op.getKernelSize(), op.getStride(), /*isMax=*/true));
    return success();
  }
};

/// Average pooling: a sum divided by the window size, or with
/// count_include_pad=false by the number of real (unpadded) elements, counted
/// by pooling a padded tensor of ones.
struct AvgPoolLowering : OpRewritePattern<mlir::mdl::AvgPool2dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::AvgPool2dOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType outType = tensorType(op.getResult());
    ArrayRef<int64_t> kernel = op.getKernelSize(), stride = op.getStride(), padding = op.getPadding();
    Value x = padSpatial(rewriter, loc, op.getInput(), padding, 0.0);
    Value sum = pool(rewriter, loc, x, outType, kernel, stride, /*isMax=*/false);
    Type elt = outType.getElementType();
    Value result;
    if (op.getCountIncludePad() || (padding[0] == 0 && padding[1] == 0)) {
      Value size = scalarConstant(rewriter, loc, elt, double(kernel[0] * kernel[1]));
      result = elementwise(rewriter, loc, outType, sum, [&](OpBuilder &b, Location l, ValueRange a) {
        return Value(arith::DivFOp::create(b, l, a[0], size));
      });
    } else {
      RankedTensorType in = tensorType(op.getInput());
      auto onesType = RankedTensorType::get({1, 1, in.getDimSize(2), in.getDimSize(3)}, elt);
      SmallVector<Value> dyn;
      for (int i = 2; i < 4; ++i)
        if (in.isDynamicDim(i))
          dyn.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), i));
      Value ones = linalg::FillOp::create(rewriter, loc, scalarConstant(rewriter, loc, elt, 1.0),
                                          emptyTensor(rewriter, loc, onesType, dyn))
                       .getResult(0);
      Value padded = padSpatial(rewriter, loc, ones, padding, 0.0);
      auto countType = RankedTensorType::get({1, 1, outType.getDimSize(2), outType.getDimSize(3)}, elt);
      Value counts = pool(rewriter, loc, padded, countType, kernel, stride, /*isMax=*/false);
      result = elementwise(rewriter, loc, outType, ValueRange{sum, counts},
                           [](OpBuilder &b, Location l, ValueRange a) {
                             return Value(arith::DivFOp::create(b, l, a[0], a[1]));
                           });
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Adaptive average pooling: output cell i averages input rows
/// [floor(i*H/out), ceil((i+1)*H/out)), as PyTorch's kernel. When the output
/// size divides the input size it is plain average pooling (kernel = stride =
/// H/out); otherwise windows differ in size and a generic sums over the
/// largest window, masking what lies outside each cell's own.
struct AdaptiveAvgPoolLowering : OpRewritePattern<mlir::mdl::AdaptiveAvgPool2dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::AdaptiveAvgPool2dOp op,
                                PatternRewriter &rewriter) const override {
    RankedTensorType in = tensorType(op.getInput()), outType = tensorType(op.getResult());
    if (in.getRank() != 4 || in.isDynamicDim(2) || in.isDynamicDim(3))
      return rewriter.notifyMatchFailure(op, "needs a 4-D input with static spatial sizes");
    ArrayRef<int64_t> out = op.getOutputSize();
    int64_t sizes[2] = {in.getDimSize(2), in.getDimSize(3)};
    Location loc = op.getLoc();
    Type elt = outType.getElementType();
    if (sizes[0] % out[0] == 0 && sizes[1] % out[1] == 0) {
      SmallVector<int64_t> kernel = {sizes[0] / out[0], sizes[1] / out[1]};
      Value sum = pool(rewriter, loc, op.getInput(), outType, kernel, kernel, /*isMax=*/false);
      Value size = scalarConstant(rewriter, loc, elt, double(kernel[0] * kernel[1]));
      rewriter.replaceOp(op, elementwise(rewriter, loc, outType, sum,
                                         [&](OpBuilder &b, Location l, ValueRange a) {
                                           return Value(arith::DivFOp::create(b, l, a[0], size));
                                         }));
      return success();
    }
    // Largest window: ceil(H/out) + 1 covers every cell.
    int64_t window[2] = {sizes[0] / out[0] + 2, sizes[1] / out[1] + 2};
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < 2; ++i)
      if (outType.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), i));
    Value init = linalg::FillOp::create(rewriter, loc, scalarConstant(rewriter, loc, elt, 0.0),
                                        emptyTensor(rewriter, loc, outType, dyn))
                     .getResult(0);
    Value windowTensor = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{window[0], window[1]}, elt);
    AffineExpr n, c, i, j, ki, kj;
    bindDims(ctx, n, c, i, j, ki, kj);
    SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {ki, kj}, ctx), AffineMap::get(6, 0, {n, c, i, j}, ctx)};
    using IT = utils::IteratorType;
    SmallVector<IT> iterators = {IT::parallel, IT::parallel, IT::parallel, IT::parallel, IT::reduction, IT::reduction};
    Value input = op.getInput();
    // Window bounds of output cell `o` along spatial dim `d`.
    auto bounds = [&](OpBuilder &b, Location l, Value o, int d) {
      Value size = arith::ConstantIndexOp::create(b, l, sizes[d]);
      Value outs = arith::ConstantIndexOp::create(b, l, out[d]);
      Value one = arith::ConstantIndexOp::create(b, l, 1);
      Value start = arith::DivUIOp::create(b, l, arith::MulIOp::create(b, l, o, size), outs);
      Value endNum = arith::AddIOp::create(
          b, l, arith::MulIOp::create(b, l, arith::AddIOp::create(b, l, o, one), size),
          arith::SubIOp::create(b, l, outs, one));
      return std::make_pair(start, Value(arith::DivUIOp::create(b, l, endNum, outs)));
    };
    Value sum = linalg::GenericOp::create(
                    rewriter, loc, TypeRange{outType}, ValueRange{windowTensor}, ValueRange{init}, maps,
                    iterators,
                    [&](OpBuilder &b, Location l, ValueRange a) {
                      Value idx[6];
                      for (int d = 0; d < 6; ++d)
                        idx[d] = linalg::IndexOp::create(b, l, d);
                      auto [hs, he] = bounds(b, l, idx[2], 0);
                      auto [ws, we] = bounds(b, l, idx[3], 1);
                      Value h = arith::AddIOp::create(b, l, hs, idx[4]);
                      Value w = arith::AddIOp::create(b, l, ws, idx[5]);
                      Value inside = arith::AndIOp::create(
                          b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, h, he),
                          arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, w, we));
                      // Clamp so that masked lanes still read inside the tensor.
                      Value hc = arith::MinUIOp::create(b, l, h, arith::ConstantIndexOp::create(b, l, sizes[0] - 1));
                      Value wc = arith::MinUIOp::create(b, l, w, arith::ConstantIndexOp::create(b, l, sizes[1] - 1));
                      Value v = tensor::ExtractOp::create(b, l, input, ValueRange{idx[0], idx[1], hc, wc});
                      Value add = arith::AddFOp::create(b, l, a[1], v);
                      linalg::YieldOp::create(b, l, Value(arith::SelectOp::create(b, l, inside, add, a[1])));
                    })
                    .getResult(0);
    Value result = elementwise(rewriter, loc, outType, sum, [&](OpBuilder &b, Location l, ValueRange a) {
      auto [hs, he] = bounds(b, l, linalg::IndexOp::create(b, l, 2), 0);
      auto [ws, we] = bounds(b, l, linalg::IndexOp::create(b, l, 3), 1);
      Value count = arith::MulIOp::create(b, l, arith::SubIOp::create(b, l, he, hs),
                                          arith::SubIOp::create(b, l, we, ws));
      Value countF = arith::UIToFPOp::create(
          b, l, elt, arith::IndexCastOp::create(b, l, b.getI64Type(), count));
      return Value(arith::DivFOp::create(b, l, a[0], countF));
    });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// F.embedding: out[i..., j] = weight[indices[i...], j]. Indices are clamped
/// into range: an out-of-range index must not read outside the table.
struct EmbeddingLowering : OpRewritePattern<mlir::mdl::EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::EmbeddingOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType outType = tensorType(op.getResult());
    Value indices = op.getIndices(), weight = op.getWeight();
    int64_t rank = outType.getRank();
    SmallVector<std::pair<Value, int64_t>> from;
    for (int64_t i = 0; i < rank; ++i)
      from.push_back({indices, std::min<int64_t>(i, rank - 2)});
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rank; ++i)
      if (outType.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(rewriter, loc, indices, i));
    Value init = emptyTensor(rewriter, loc, outType, dyn);
    SmallVector<AffineExpr> idxExprs;
    for (int64_t i = 0; i < rank - 1; ++i)
      idxExprs.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, idxExprs, ctx), rewriter.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    int64_t rows = tensorType(weight).getDimSize(0);
    Value y = linalg::GenericOp::create(
                  rewriter, loc, TypeRange{outType}, ValueRange{indices}, ValueRange{init}, maps, iterators,
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    Value row = arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
                    row = arith::MaxSIOp::create(b, l, row, arith::ConstantIndexOp::create(b, l, 0));
                    row = arith::MinSIOp::create(b, l, row, arith::ConstantIndexOp::create(b, l, rows - 1));
                    Value col = linalg::IndexOp::create(b, l, rank - 1);
                    Value v = tensor::ExtractOp::create(b, l, weight, ValueRange{row, col});
                    linalg::YieldOp::create(b, l, v);
                  })
                  .getResult(0);
    rewriter.replaceOp(op, y);
    return success();
  }
};

} // namespace

void populateStructuredToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearLowering, MatmulLowering, Conv2dLowering, MaxPoolLowering, AvgPoolLowering,
               AdaptiveAvgPoolLowering, EmbeddingLowering>(patterns.getContext());
}

} // namespace modelc::lowering
