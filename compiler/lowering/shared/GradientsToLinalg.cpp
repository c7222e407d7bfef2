//===- GradientsToLinalg.cpp - The gradient ops of -mdl-differentiate -----===//
//
// one_hot and elementwise_grad are elementwise generics; conv2d's gradients
// are contractions over the padded input (weight) and over the zero-
// dilated, padded gradient (input, a transposed convolution); max pooling's
// gradient finds each window's first maximum, then gathers, for every input
// element, the gradients of the windows whose maximum it is.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;

namespace modelc::lowering {
namespace {

RankedTensorType tensorTypeOf(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

Value cstLike(OpBuilder &b, Location l, Value like, double v) {
  return scalarConstant(b, l, like.getType(), v);
}
Value cmp(OpBuilder &b, Location l, arith::CmpFPredicate p, Value x, Value y) {
  return arith::CmpFOp::create(b, l, p, x, y);
}
Value select(OpBuilder &b, Location l, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, l, c, x, y);
}

/// grad * f'(x) per kind (MdlComputeOps.td), with PyTorch's formulas.
Value elementwiseGradBody(mlir::mdl::ElementwiseGradOp op, OpBuilder &b, Location l,
                          ValueRange a) {
  using P = arith::CmpFPredicate;
  Value g = a[0], x = a[1];
  Value zero = cstLike(b, l, g, 0.0);
  StringRef kind = op.getKind();
  auto mulf = [&](Value p, Value q) -> Value { return arith::MulFOp::create(b, l, p, q); };
  auto addf = [&](Value p, Value q) -> Value { return arith::AddFOp::create(b, l, p, q); };
  auto subf = [&](Value p, Value q) -> Value { return arith::SubFOp::create(b, l, p, q); };
  auto c = [&](double v) { return cstLike(b, l, g, v); };
  if (kind == "relu") // threshold_backward: x <= 0 ? 0 : grad
    return select(b, l, cmp(b, l, P::OLE, x, zero), zero, g);
  if (kind == "abs") // grad * sign(x), sign(0) = 0
    return select(b, l, cmp(b, l, P::OGT, x, zero), g,
                  select(b, l, cmp(b, l, P::OLT, x, zero), arith::NegFOp::create(b, l, g), zero));
  if (kind == "clamp") { // grad where min < x < max: PyTorch gives 0 on a bound
    Value pass = arith::ConstantIntOp::create(b, l, 1, 1);
    if (op.getA())
      pass = arith::AndIOp::create(b, l, pass, cmp(b, l, P::OGT, x, c(op.getA()->convertToDouble())));
    if (op.getB())
      pass = arith::AndIOp::create(b, l, pass, cmp(b, l, P::OLT, x, c(op.getB()->convertToDouble())));
    return select(b, l, pass, g, zero);
  }
  if (kind == "leaky_relu") // x > 0 ? grad : grad * slope
    return select(b, l, cmp(b, l, P::OGT, x, zero), g, mulf(g, c(op.getA()->convertToDouble())));
  if (kind == "gelu") { // grad * (Φ(x) + x φ(x))
    Value cdf = mulf(c(0.5), addf(c(1.0), math::ErfOp::create(b, l, mulf(x, c(M_SQRT1_2)))));
    Value pdf = mulf(math::ExpOp::create(b, l, mulf(c(-0.5), mulf(x, x))),
                     c(0.5 * M_2_SQRTPI * M_SQRT1_2));
    return mulf(g, addf(cdf, mulf(x, pdf)));
  }
  if (kind == "gelu_tanh") {
    double beta = M_SQRT2 * M_2_SQRTPI * 0.5, kappa = 0.044715;
    Value x2 = mulf(x, x);
    Value inner = mulf(c(beta), addf(x, mulf(c(kappa), mulf(x2, x))));
    Value t = math::TanhOp::create(b, l, inner);
    Value left = mulf(c(0.5), x), right = addf(c(1.0), t);
    Value leftD = mulf(c(0.5), right);
    Value rightD = mulf(mulf(left, subf(c(1.0), mulf(t, t))),
                        mulf(c(beta), addf(c(1.0), mulf(c(3 * kappa), x2))));
    return mulf(g, addf(leftD, rightD));
  }
  Value other = a[2];
  if (kind == "equal")
    return select(b, l, cmp(b, l, P::OEQ, x, other), g, zero);
  if (kind == "bce") { // ATen: grad · (x - t) / max(x (1 - x), 1e-12)
    Value denom = arith::MaximumFOp::create(b, l, mulf(x, subf(c(1.0), x)), c(1e-12));
    return arith::DivFOp::create(b, l, mulf(g, subf(x, a[2])), denom);
  }
  if (kind == "unequal")
    return select(b, l, cmp(b, l, P::OEQ, x, other), zero, g);
  if (kind == "pow_exponent") // 0 where base x == 0 and exponent >= 0
    return select(b, l,
                  arith::AndIOp::create(b, l, cmp(b, l, P::OEQ, x, zero),
                                        cmp(b, l, P::OGE, other, zero)),
                  zero, g);
  // maximum / minimum: 0 where the other operand wins, half on a tie.
  Value loses = cmp(b, l, kind == "maximum" ? P::OLT : P::OGT, x, other);
  Value tie = cmp(b, l, P::OEQ, x, other);
  return select(b, l, loses, zero, select(b, l, tie, mulf(g, c(0.5)), g));
}

struct ElementwiseGradLowering : OpRewritePattern<mlir::mdl::ElementwiseGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::ElementwiseGradOp op,
                                PatternRewriter &rewriter) const override {
    Value r = elementwise(rewriter, op.getLoc(), tensorTypeOf(op.getResult()), op->getOperands(),
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            return elementwiseGradBody(op, b, l, a);
                          });
    rewriter.replaceOp(op, r);
    return success();
  }
};

/// Reports an index outside [0, classes) that is not ignore_index to the
/// runtime (ShapeCheck::ClassIndex), as PyTorch's "Target is out of bounds":
/// a reduction keeps one such index (or ignore_index when there is none).
void checkClassIndices(OpBuilder &b, Location loc, Value indices, int64_t classes,
                       int64_t ignore, ShapeCheck kind) {
  auto type = tensorTypeOf(indices);
  Type it = type.getElementType();
  int64_t rank = type.getRank();
  MLIRContext *ctx = b.getContext();
  auto scalarType = RankedTensorType::get({}, it);
  Value ignoreValue = arith::ConstantIntOp::create(b, loc, it, ignore);
  Value empty = tensor::EmptyOp::create(b, loc, scalarType, ValueRange{});
  Value init = linalg::FillOp::create(b, loc, ignoreValue, empty).getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, {}, ctx)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::reduction);
  Value found = linalg::GenericOp::create(
                    b, loc, TypeRange{scalarType}, ValueRange{indices}, ValueRange{init}, maps,
                    iterators,
                    [&](OpBuilder &nb, Location l, ValueRange a) {
                      auto c = [&](int64_t v) {
                        return arith::ConstantIntOp::create(nb, l, it, v).getResult();
                      };
                      Value idx = a[0];
                      Value outside = arith::OrIOp::create(
                          nb, l, arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, idx, c(0)),
                          arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, idx, c(classes)));
                      Value bad = arith::AndIOp::create(
                          nb, l, outside,
                          arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ne, idx, c(ignore)));
                      linalg::YieldOp::create(nb, l, select(nb, l, bad, idx, a[1]));
                    })
                    .getResult(0);
  Value value = tensor::ExtractOp::create(b, loc, found, ValueRange{});
  Value failed = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, value,
                                       arith::ConstantIntOp::create(b, loc, it, ignore));
  auto ifOp = scf::IfOp::create(b, loc, failed, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  auto index = [&](Value v) -> Value {
    if (!v.getType().isInteger(64))
      v = arith::ExtSIOp::create(b, loc, b.getI64Type(), v);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  };
  reportShapeCheck(b, loc, index(value), arith::ConstantIndexOp::create(b, loc, classes), kind);
}

/// result[..., c] = indices[...] == c && indices[...] != ignore_index.
struct OneHotLowering : OpRewritePattern<mlir::mdl::OneHotOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::OneHotOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    checkClassIndices(rewriter, loc, op.getIndices(), op.getNumClasses(), op.getIgnoreIndex(),
                      op->hasAttr(mlir::mdl::kEmbeddingIndicesAttr) ? ShapeCheck::EmbeddingIndex
                                                                    : ShapeCheck::ClassIndex);
    RankedTensorType type = tensorTypeOf(op.getResult());
    int64_t rank = type.getRank();
    SmallVector<int64_t> map = llvm::to_vector(llvm::seq<int64_t>(0, rank));
    map.back() = -1;
    Value init = emptyTensor(rewriter, loc, type,
                             dynamicSizesFrom(rewriter, loc, type, op.getIndices(), map));
    MLIRContext *ctx = rewriter.getContext();
    SmallVector<AffineExpr> lead;
    for (int64_t i = 0; i + 1 < rank; ++i)
      lead.push_back(getAffineDimExpr(i, ctx));
    SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, lead, ctx),
                                   AffineMap::getMultiDimIdentityMap(rank, ctx)};
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    int64_t ignore = op.getIgnoreIndex();
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{type}, ValueRange{op.getIndices()}, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange a) {
          Value idx = a[0];
          Type it = idx.getType();
          Value cls = arith::IndexCastOp::create(b, l, it, linalg::IndexOp::create(b, l, rank - 1));
          Value hit = arith::AndIOp::create(
              b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, idx, cls),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, idx,
                                    arith::ConstantIntOp::create(b, l, it, ignore)));
          Type elt = type.getElementType();
          Value r = select(b, l, hit, scalarConstant(b, l, elt, 1.0), scalarConstant(b, l, elt, 0.0));
          linalg::YieldOp::create(b, l, r);
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

/// A tensor of `shape` filled with `value`; a dynamic size is `batchLike`'s
/// in that dimension (an NCHW tensor whose N and C are the shape's: sizes
/// known only at run time are the batch's and the channels').
Value batchFilled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type elt, Value batchLike,
                  double value) {
  auto type = RankedTensorType::get(shape, elt);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, batchLike, i));
  Value empty = emptyTensor(b, loc, type, dyn);
  return linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, value), empty).getResult(0);
}

/// The offset `o` of the window at stride `stride` that starts `off` before
/// position `at` (at - off = o·stride, 0 <= o < count), and whether there is
/// one: the gather form of a pooling's gradient.
Value windowAt(OpBuilder &b, Location l, Value at, Value off, int64_t stride, int64_t count,
               Value &outIdx) {
  auto cI = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
  Value t = arith::SubIOp::create(b, l, at, off);
  Value nonNeg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, t, cI(0));
  Value tc = select(b, l, nonNeg, t, cI(0));
  Value o = arith::DivUIOp::create(b, l, tc, cI(stride));
  Value exact = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                      arith::RemUIOp::create(b, l, tc, cI(stride)), cI(0));
  Value inRange = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, o, cI(count));
  outIdx = select(b, l, inRange, o, cI(0));
  return arith::AndIOp::create(b, l, nonNeg, arith::AndIOp::create(b, l, exact, inRange));
}

/// dW[f, c, kh, kw] = Σ_{n, oh, ow} g[n, f, oh, ow] · xpad[n, G·Cg + c, oh·s + kh·d, ow·s + kw·d],
/// with the channels split into groups. (-mdl-differentiate makes it for
/// grouped convolutions only: with groups 1, dW is gradᵀ · im2col(x).)
struct Conv2dGradWeightLowering : OpRewritePattern<mlir::mdl::Conv2dGradWeightOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::Conv2dGradWeightOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType wt = tensorTypeOf(op.getResult());
    int64_t groups = op.getGroups();
    Value x = padSpatial(rewriter, loc, op.getInput(), op.getPadding(), 0.0);
    ArrayRef<int64_t> s = op.getStride(), d = op.getDilation();
    Value xg = splitDim(rewriter, loc, x, 1, groups);
    Value gg = splitDim(rewriter, loc, op.getGrad(), 1, groups);
    Value init = linalg::FillOp::create(rewriter, loc,
                                        scalarConstant(rewriter, loc, wt.getElementType(), 0.0),
                                        emptyTensor(rewriter, loc, wt, {}))
                     .getResult(0);
    Value ig = splitDim(rewriter, loc, init, 0, groups);
    AffineExpr g, f, c, kh, kw, n, oh, ow;
    bindDims(ctx, g, f, c, kh, kw, n, oh, ow);
    SmallVector<AffineMap> maps = {
        AffineMap::get(8, 0, {n, g, f, oh, ow}, ctx),
        AffineMap::get(8, 0, {n, g, c, oh * s[0] + kh * d[0], ow * s[1] + kw * d[1]}, ctx),
        AffineMap::get(8, 0, {g, f, c, kh, kw}, ctx)};
    using IT = utils::IteratorType;
    SmallVector<IT> iterators = {IT::parallel,  IT::parallel,  IT::parallel,  IT::parallel,
                                 IT::parallel,  IT::reduction, IT::reduction, IT::reduction};
    Value r = linalg::GenericOp::create(rewriter, loc, TypeRange{ig.getType()}, ValueRange{gg, xg},
                                        ValueRange{ig}, maps, iterators, macBody)
                  .getResult(0);
    rewriter.replaceOp(op, mergeDim(rewriter, loc, r, 0, wt));
    return success();
  }
};

/// W[f, c, K - 1 - i, K - 1 - j] (or, transposed, [c, f, ...]), read with
/// tensor.extract: an indexing map with a negative coefficient would
/// mislead the tiling passes' slice sizes.
Value flipSpatial(OpBuilder &b, Location loc, Value w, bool transpose = false) {
  RankedTensorType wtype = tensorTypeOf(w);
  SmallVector<int64_t> shape(wtype.getShape());
  if (transpose)
    std::swap(shape[0], shape[1]);
  auto type = RankedTensorType::get(shape, wtype.getElementType());
  Value init = emptyTensor(b, loc, type, {});
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(4, ctx)};
  SmallVector<utils::IteratorType> iterators(4, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, ValueRange{}, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nb, Location l, ValueRange) {
               auto cI = [&](int64_t v) {
                 return arith::ConstantIndexOp::create(nb, l, v).getResult();
               };
               Value f = linalg::IndexOp::create(nb, l, 0), c = linalg::IndexOp::create(nb, l, 1);
               if (transpose)
                 std::swap(f, c);
               Value i = arith::SubIOp::create(nb, l, cI(type.getDimSize(2) - 1),
                                               linalg::IndexOp::create(nb, l, 2));
               Value j = arith::SubIOp::create(nb, l, cI(type.getDimSize(3) - 1),
                                               linalg::IndexOp::create(nb, l, 3));
               linalg::YieldOp::create(
                   nb, l, tensor::ExtractOp::create(nb, l, w, ValueRange{f, c, i, j}).getResult());
             })
      .getResult(0);
}

/// The transposed convolution: g dilated by the stride (zeros between its
/// elements) and padded by (k - 1)·d, convolved with the flipped weight,
/// group by group:
/// dXpad[n, G·Cg + c, h, w] = Σ_{f, i, j} Gd[n, G·Fg + f, h + i·d, w + j·d] · W[G·Fg + f, c, K - 1 - i, K - 1 - j].
/// Only the unpadded rows and columns of dXpad are computed, from the
/// window of Gd they read: the forward's padding would be cut off, and on
/// small images it was most of the work (CIFAR ResNet-18's 1x1 images:
/// dXpad 3x3 for the 1 element kept, 81 products per input gradient
/// element in place of 9). With stride 1 that window is g padded by
/// (k - 1)·d - p, a convolution of a padded image whose taps that read only
/// padding -mdl-trim-conv-taps drops.
struct Conv2dGradInputLowering : OpRewritePattern<mlir::mdl::Conv2dGradInputOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::Conv2dGradInputOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType xt = tensorTypeOf(op.getResult()), gt = tensorTypeOf(op.getGrad()),
                     wt = tensorTypeOf(op.getWeight());
    Type elt = xt.getElementType();
    int64_t groups = op.getGroups();
    ArrayRef<int64_t> s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    int64_t h = xt.getDimSize(2), w = xt.getDimSize(3);
    int64_t eh = (kh - 1) * d[0], ew = (kw - 1) * d[1];
    Value g = op.getGrad();
    // The rows and columns of Gd that the unpadded dXpad reads: [p, p + H + eh).
    Value window;
    if (s[0] == 1 && s[1] == 1 && eh >= p[0] && ew >= p[1]) {
      window = padSpatial(rewriter, loc, g, {eh - p[0], ew - p[1]}, 0.0);
    } else {
      auto index = [&](int64_t v) -> OpFoldResult { return rewriter.getIndexAttr(v); };
      OpFoldResult batch =
          gt.isDynamicDim(0) ? OpFoldResult(tensor::DimOp::create(rewriter, loc, g, 0).getResult())
                             : index(gt.getDimSize(0));
      int64_t hp = h + 2 * p[0], wp = w + 2 * p[1];
      Value big = batchFilled(rewriter, loc,
                              {gt.getDimSize(0), gt.getDimSize(1), hp + eh, wp + ew}, elt, g, 0.0);
      Value dilated = tensor::InsertSliceOp::create(
          rewriter, loc, g, big, {index(0), index(0), index(eh), index(ew)},
          {batch, index(gt.getDimSize(1)), index(gt.getDimSize(2)), index(gt.getDimSize(3))},
          {index(1), index(1), index(s[0]), index(s[1])});
      window = tensor::ExtractSliceOp::create(
          rewriter, loc,
          RankedTensorType::get({gt.getDimSize(0), gt.getDimSize(1), h + eh, w + ew}, elt),
          dilated, {index(0), index(0), index(p[0]), index(p[1])},
          {batch, index(gt.getDimSize(1)), index(h + eh), index(w + ew)},
          {index(1), index(1), index(1), index(1)});
    }
    Value init = batchFilled(rewriter, loc, {xt.getDimSize(0), xt.getDimSize(1), h, w}, elt, g,
                             0.0);
    if (groups == 1) {
      // A convolution of the window with the flipped, transposed weight
      // ([C, F, K, K]): the CPU's convolution forms apply.
      rewriter.replaceOp(
          op, linalg::Conv2DNchwFchwOp::create(
                  rewriter, loc, TypeRange{init.getType()},
                  ValueRange{window,
                             flipSpatial(rewriter, loc, op.getWeight(), /*transpose=*/true)},
                  ValueRange{init}, rewriter.getI64TensorAttr({1, 1}),
                  rewriter.getI64TensorAttr(d))
                  .getResult(0));
      return success();
    }
    Value dg = splitDim(rewriter, loc, window, 1, groups);
    Value wg = splitDim(rewriter, loc, flipSpatial(rewriter, loc, op.getWeight()), 0, groups);
    Value ig = splitDim(rewriter, loc, init, 1, groups);
    AffineExpr n, gr, c, hh, ww, f, i, j;
    bindDims(ctx, n, gr, c, hh, ww, f, i, j);
    SmallVector<AffineMap> maps = {
        AffineMap::get(8, 0, {n, gr, f, hh + i * d[0], ww + j * d[1]}, ctx),
        AffineMap::get(8, 0, {gr, f, c, i, j}, ctx), AffineMap::get(8, 0, {n, gr, c, hh, ww}, ctx)};
    using IT = utils::IteratorType;
    SmallVector<IT> iterators = {IT::parallel,  IT::parallel,  IT::parallel,  IT::parallel,
                                 IT::parallel,  IT::reduction, IT::reduction, IT::reduction};
    Value dx = linalg::GenericOp::create(rewriter, loc, TypeRange{ig.getType()},
                                         ValueRange{dg, wg}, ValueRange{ig}, maps, iterators,
                                         macBody)
                   .getResult(0);
    rewriter.replaceOp(op, mergeDim(rewriter, loc, dx, 1, tensorTypeOf(init)));
    return success();
  }
};

/// The loop indices of a gather over windows: n, c, h, w of the result
/// and i, j of the window.
struct WindowIndices {
  Value n, c, h, w, i, j;
};

/// A gather over windows: a generic with loops n, c, h, w (the result
/// `init`'s dimensions, parallel) and i, j (`window`'s sizes, reduced);
/// `body` gets the loop indices and the accumulator and gives the new one.
/// (The gradients of the poolings read what they need with tensor.extract.)
Value gatherOverWindows(OpBuilder &b, Location loc, Value init, ArrayRef<int64_t> window,
                        llvm::function_ref<Value(OpBuilder &, Location, const WindowIndices &,
                                                 Value)>
                            body) {
  MLIRContext *ctx = b.getContext();
  Value shape = tensor::EmptyOp::create(b, loc, window, tensorTypeOf(init).getElementType());
  AffineExpr n, c, h, w, i, j;
  bindDims(ctx, n, c, h, w, i, j);
  SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {i, j}, ctx),
                                 AffineMap::get(6, 0, {n, c, h, w}, ctx)};
  using IT = utils::IteratorType;
  SmallVector<IT> iterators = {IT::parallel, IT::parallel, IT::parallel,
                               IT::parallel, IT::reduction, IT::reduction};
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{shape}, ValueRange{init}, maps,
             iterators,
             [&](OpBuilder &nb, Location l, ValueRange a) {
               WindowIndices at;
               Value *slots[] = {&at.n, &at.c, &at.h, &at.w, &at.i, &at.j};
               for (unsigned d = 0; d < 6; ++d)
                 *slots[d] = linalg::IndexOp::create(nb, l, d);
               linalg::YieldOp::create(nb, l, body(nb, l, at, a[1]));
             })
      .getResult(0);
}

/// Max pooling's gradient in two gathers: the position of each window's
/// first maximum (row-major, as PyTorch), then for each element of the
/// padded input the sum of the gradients of the windows that chose it.
struct MaxPool2dGradLowering : OpRewritePattern<mlir::mdl::MaxPool2dGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::MaxPool2dGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType xt = tensorTypeOf(op.getInput()), gt = tensorTypeOf(op.getGrad());
    Type elt = xt.getElementType();
    Type i64 = rewriter.getI64Type();
    ArrayRef<int64_t> k = op.getKernelSize(), s = op.getStride(), p = op.getPadding();
    Value g = op.getGrad();
    Value x = padSpatial(rewriter, loc, op.getInput(), p, -std::numeric_limits<double>::infinity());
    SmallVector<int64_t> outShape(gt.getShape());

    // 1. argmax[n, c, oh, ow] = kh·K + kw of the window's first maximum.
    Value maxInit = batchFilled(rewriter, loc, outShape, elt, g,
                                -std::numeric_limits<double>::infinity());
    // Each window starts at its first unpadded element, as PyTorch's
    // (which a window of -inf only keeps).
    Value idxEmpty = batchFilled(rewriter, loc, outShape, i64, g, 0.0);
    Value idxInit =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{idxEmpty.getType()}, ValueRange{}, ValueRange{idxEmpty},
            ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(4, ctx)},
            SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange) {
              auto first = [&](unsigned dim, int64_t pad, int64_t stride) -> Value {
                // max(0, pad - o·stride)
                Value o = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, dim));
                Value start = arith::SubIOp::create(
                    b, l, arith::ConstantIntOp::create(b, l, i64, pad),
                    arith::MulIOp::create(b, l, o, arith::ConstantIntOp::create(b, l, i64, stride)));
                return arith::MaxSIOp::create(b, l, start, arith::ConstantIntOp::create(b, l, i64, 0));
              };
              Value pos = arith::AddIOp::create(
                  b, l,
                  arith::MulIOp::create(b, l, first(2, p[0], s[0]),
                                        arith::ConstantIntOp::create(b, l, i64, k[1])),
                  first(3, p[1], s[1]));
              linalg::YieldOp::create(b, l, pos);
            })
            .getResult(0);
    AffineExpr n, c, oh, ow, i, j;
    bindDims(ctx, n, c, oh, ow, i, j);
    // The window operand only gives the loops over i, j their sizes, as in
    // linalg's pooling ops.
    Value window = tensor::EmptyOp::create(rewriter, loc, k, elt);
    SmallVector<AffineMap> maps = {
        AffineMap::get(6, 0, {n, c, oh * s[0] + i, ow * s[1] + j}, ctx),
        AffineMap::get(6, 0, {i, j}, ctx), AffineMap::get(6, 0, {n, c, oh, ow}, ctx),
        AffineMap::get(6, 0, {n, c, oh, ow}, ctx)};
    using IT = utils::IteratorType;
    SmallVector<IT> iterators = {IT::parallel, IT::parallel, IT::parallel,
                                 IT::parallel, IT::reduction, IT::reduction};
    int64_t kw = k[1];
    auto argmax = linalg::GenericOp::create(
        rewriter, loc, TypeRange{maxInit.getType(), idxInit.getType()}, ValueRange{x, window},
        ValueRange{maxInit, idxInit}, maps, iterators,
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = a[0], best = a[2], at = a[3];
          Value take = arith::OrIOp::create(b, l, cmp(b, l, arith::CmpFPredicate::OGT, v, best),
                                            cmp(b, l, arith::CmpFPredicate::UNO, v, v));
          Value pos = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(
                  b, l, arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, 4)),
                  arith::ConstantIntOp::create(b, l, i64, kw)),
              arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, 5)));
          linalg::YieldOp::create(b, l,
                                  ValueRange{select(b, l, take, v, best), select(b, l, take, pos, at)});
        });
    Value idx = argmax.getResult(1);

    // 2. dxpad[n, c, h, w] = Σ_{i, j} g[n, c, oh, ow] where h = oh·s + i,
    //    w = ow·s + j is a window position and argmax there is i·K + j.
    RankedTensorType padType = tensorTypeOf(x);
    Value init = batchFilled(rewriter, loc, padType.getShape(), elt, g, 0.0);
    int64_t ho = gt.getDimSize(2), wo = gt.getDimSize(3);
    Value gathered = gatherOverWindows(
        rewriter, loc, init, k, [&](OpBuilder &b, Location l, const WindowIndices &at, Value acc) {
          Value oi, oj;
          Value okH = windowAt(b, l, at.h, at.i, s[0], ho, oi);
          Value okW = windowAt(b, l, at.w, at.j, s[1], wo, oj);
          Value chosen = tensor::ExtractOp::create(b, l, idx, ValueRange{at.n, at.c, oi, oj});
          Value gv = tensor::ExtractOp::create(b, l, g, ValueRange{at.n, at.c, oi, oj});
          Value pos = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(b, l, arith::IndexCastOp::create(b, l, i64, at.i),
                                    arith::ConstantIntOp::create(b, l, i64, kw)),
              arith::IndexCastOp::create(b, l, i64, at.j));
          Value hit = arith::AndIOp::create(
              b, l, arith::AndIOp::create(b, l, okH, okW),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, chosen, pos));
          return select(b, l, hit, arith::AddFOp::create(b, l, acc, gv), acc);
        });
    rewriter.replaceOp(op, cropSpatial(rewriter, loc, gathered, xt, p));
    return success();
  }
};

/// dxpad[n, c, h, w] = Σ_{i, j} g[n, c, oh, ow] / divisor(oh, ow) over the
/// windows (h = oh·s + i, w = ow·s + j) that hold the element.
struct AvgPool2dGradLowering : OpRewritePattern<mlir::mdl::AvgPool2dGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::AvgPool2dGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType xt = tensorTypeOf(op.getInput()), gt = tensorTypeOf(op.getGrad());
    Type elt = xt.getElementType();
    ArrayRef<int64_t> k = op.getKernelSize(), s = op.getStride(), p = op.getPadding();
    bool includePad = op.getCountIncludePad();
    Value g = op.getGrad();
    int64_t hp = xt.getDimSize(2) + 2 * p[0], wp = xt.getDimSize(3) + 2 * p[1];
    int64_t height = xt.getDimSize(2), width = xt.getDimSize(3);
    int64_t ho = gt.getDimSize(2), wo = gt.getDimSize(3);
    Value init = batchFilled(rewriter, loc, {xt.getDimSize(0), xt.getDimSize(1), hp, wp}, elt, g,
                             0.0);
    Value gathered = gatherOverWindows(
        rewriter, loc, init, k, [&](OpBuilder &b, Location l, const WindowIndices &at, Value acc) {
          Value oi, oj;
          Value okH = windowAt(b, l, at.h, at.i, s[0], ho, oi);
          Value okW = windowAt(b, l, at.w, at.j, s[1], wo, oj);
          Value gv = tensor::ExtractOp::create(b, l, g, ValueRange{at.n, at.c, oi, oj});
          // The divisor: the kernel's area, or the window's unpadded part
          // (rows [oh·s - p, oh·s - p + k) within [0, H)).
          Value divisor;
          if (includePad) {
            divisor = scalarConstant(b, l, elt, double(k[0] * k[1]));
          } else {
            auto extent = [&](Value o, int64_t stride, int64_t pad, int64_t kk, int64_t size) {
              auto cI = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
              Value start = arith::SubIOp::create(b, l, arith::MulIOp::create(b, l, o, cI(stride)),
                                                  cI(pad));
              Value end = arith::MinSIOp::create(b, l, arith::AddIOp::create(b, l, start, cI(kk)),
                                                 cI(size));
              Value begin = arith::MaxSIOp::create(b, l, start, cI(0));
              return arith::SubIOp::create(b, l, end, begin).getResult();
            };
            Value cells = arith::MulIOp::create(b, l, extent(oi, s[0], p[0], k[0], height),
                                                extent(oj, s[1], p[1], k[1], width));
            divisor = arith::SIToFPOp::create(
                b, l, elt, arith::IndexCastOp::create(b, l, b.getI64Type(), cells));
          }
          Value hit = arith::AndIOp::create(b, l, okH, okW);
          Value add = arith::AddFOp::create(b, l, acc, arith::DivFOp::create(b, l, gv, divisor));
          return select(b, l, hit, add, acc);
        });
    rewriter.replaceOp(op, cropSpatial(rewriter, loc, gathered, xt, p));
    return success();
  }
};

/// dx[n, c, h, w] = Σ_{oh, ow} g[n, c, oh, ow] / area over the windows
/// holding (h, w): rows [⌊oh·H/Ho⌋, ⌈(oh+1)·H/Ho⌉), columns alike.
struct AdaptiveAvgPool2dGradLowering : OpRewritePattern<mlir::mdl::AdaptiveAvgPool2dGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::AdaptiveAvgPool2dGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType xt = tensorTypeOf(op.getInput()), gt = tensorTypeOf(op.getGrad());
    Type elt = xt.getElementType();
    Value g = op.getGrad();
    int64_t height = xt.getDimSize(2), width = xt.getDimSize(3);
    int64_t ho = gt.getDimSize(2), wo = gt.getDimSize(3);
    Value init = batchFilled(rewriter, loc, xt.getShape(), elt, g, 0.0);
    Value gathered = gatherOverWindows(
        rewriter, loc, init, {ho, wo},
        [&](OpBuilder &b, Location l, const WindowIndices &at, Value acc) {
          auto cI = [&](int64_t v) { return arith::ConstantIndexOp::create(b, l, v).getResult(); };
          Value oi = at.i, oj = at.j;
          // [start, end) of window o over `size` elements cut in `count`.
          auto bounds = [&](Value o, int64_t size, int64_t count) {
            Value start = arith::DivUIOp::create(b, l, arith::MulIOp::create(b, l, o, cI(size)),
                                                 cI(count));
            Value next = arith::AddIOp::create(b, l, o, cI(1));
            Value end = arith::DivUIOp::create(
                b, l,
                arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, next, cI(size)),
                                      cI(count - 1)),
                cI(count));
            return std::make_pair(start, end);
          };
          auto [hs, he] = bounds(oi, height, ho);
          auto [ws, we] = bounds(oj, width, wo);
          auto inside = [&](Value at, Value start, Value end) {
            return arith::AndIOp::create(
                b, l, arith::CmpIOp::create(b, l, arith::CmpIPredicate::uge, at, start),
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, at, end));
          };
          Value hit = arith::AndIOp::create(b, l, inside(at.h, hs, he), inside(at.w, ws, we));
          Value area = arith::MulIOp::create(b, l, arith::SubIOp::create(b, l, he, hs),
                                             arith::SubIOp::create(b, l, we, ws));
          Value divisor = arith::SIToFPOp::create(
              b, l, elt, arith::IndexCastOp::create(b, l, b.getI64Type(), area));
          Value gv = tensor::ExtractOp::create(b, l, g, ValueRange{at.n, at.c, oi, oj});
          Value add = arith::AddFOp::create(b, l, acc, arith::DivFOp::create(b, l, gv, divisor));
          return select(b, l, hit, add, acc);
        });
    rewriter.replaceOp(op, gathered);
    return success();
  }
};

/// col[n, oh, ow, c, i, j] = xpad[n, c, oh·s + i·d, ow·s + j·d], collapsed
/// to [N·Ho·Wo, C·kh·kw].
struct Im2colLowering : OpRewritePattern<mlir::mdl::Im2colOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::Im2colOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    RankedTensorType xt = tensorTypeOf(op.getInput());
    Type elt = xt.getElementType();
    ArrayRef<int64_t> k = op.getKernelSize(), s = op.getStride(), d = op.getDilation();
    Value x = padSpatial(rewriter, loc, op.getInput(), op.getPadding(), 0.0);
    RankedTensorType pt = tensorTypeOf(x);
    int64_t oh = (pt.getDimSize(2) - d[0] * (k[0] - 1) - 1) / s[0] + 1;
    int64_t ow = (pt.getDimSize(3) - d[1] * (k[1] - 1) - 1) / s[1] + 1;
    auto colType = RankedTensorType::get({xt.getDimSize(0), oh, ow, xt.getDimSize(1), k[0], k[1]},
                                         elt);
    SmallVector<Value> dyn;
    if (colType.isDynamicDim(0))
      dyn.push_back(tensor::DimOp::create(rewriter, loc, x, 0));
    Value init = emptyTensor(rewriter, loc, colType, dyn);
    AffineExpr n, y, xx, c, i, j;
    bindDims(ctx, n, y, xx, c, i, j);
    SmallVector<AffineMap> maps = {
        AffineMap::get(6, 0, {n, c, y * s[0] + i * d[0], xx * s[1] + j * d[1]}, ctx),
        AffineMap::getMultiDimIdentityMap(6, ctx)};
    SmallVector<utils::IteratorType> iterators(6, utils::IteratorType::parallel);
    Value col = linalg::GenericOp::create(rewriter, loc, TypeRange{colType}, ValueRange{x},
                                          ValueRange{init}, maps, iterators,
                                          [](OpBuilder &b, Location l, ValueRange a) {
                                            linalg::YieldOp::create(b, l, a[0]);
                                          })
                    .getResult(0);
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, tensorTypeOf(op.getResult()), col,
        ArrayRef<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}});
    return success();
  }
};

/// mdl.slice: an extract_slice along one dimension.
struct SliceLowering : OpRewritePattern<mlir::mdl::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::SliceOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType type = tensorTypeOf(op.getResult());
    int64_t dim = op.getDim();
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (int64_t i = 0; i < type.getRank(); ++i) {
      offsets.push_back(rewriter.getIndexAttr(i == dim ? op.getStart() : 0));
      if (type.isDynamicDim(i))
        sizes.push_back(tensor::DimOp::create(rewriter, loc, op.getInput(), i).getResult());
      else
        sizes.push_back(rewriter.getIndexAttr(type.getDimSize(i)));
      strides.push_back(rewriter.getIndexAttr(1));
    }
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(op, type, op.getInput(), offsets, sizes,
                                                        strides);
    return success();
  }
};

} // namespace

void populateGradientsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<ElementwiseGradLowering, OneHotLowering, Conv2dGradWeightLowering,
               Conv2dGradInputLowering, MaxPool2dGradLowering, AvgPool2dGradLowering,
               AdaptiveAvgPool2dGradLowering, SliceLowering, Im2colLowering>(
      patterns.getContext());
}

} // namespace modelc::lowering
