//===- ShapeToLinalg.cpp - reshape, flatten, permute, cat -----------------===//
//
// Views where a view does: flatten is a collapse_shape, reshape a
// tensor.reshape (which bufferizes to a view of contiguous memory); permute
// is linalg.transpose and cat a chain of insert_slice into one tensor.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace modelc::lowering {
namespace {

RankedTensorType tensorType(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

Value dimValue(OpBuilder &b, Location loc, Value v, int64_t d) {
  RankedTensorType t = tensorType(v);
  if (t.isDynamicDim(d))
    return tensor::DimOp::create(b, loc, v, d);
  return arith::ConstantIndexOp::create(b, loc, t.getDimSize(d));
}

struct FlattenLowering : OpRewritePattern<mlir::mdl::FlattenOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::FlattenOp op, PatternRewriter &rewriter) const override {
    Value x = op.getInput();
    RankedTensorType in = tensorType(x), out = tensorType(op.getResult());
    int64_t rank = in.getRank();
    if (rank == 0) { // flatten of a scalar is [1]
      rewriter.replaceOpWithNewOp<tensor::ExpandShapeOp>(op, out, x, ArrayRef<ReassociationIndices>{});
      return success();
    }
    int64_t start = int64_t(op.getStartDim()), end = int64_t(op.getEndDim());
    if (start < 0)
      start += rank;
    if (end < 0)
      end += rank;
    SmallVector<ReassociationIndices> groups;
    for (int64_t d = 0; d < rank; ++d) {
      if (d > start && d <= end)
        groups.back().push_back(d);
      else
        groups.push_back({d});
    }
    if (in == out) {
      rewriter.replaceOp(op, x);
      return success();
    }
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, out, x, groups);
    return success();
  }
};

/// The count of a reshape's elements when its input's size is known only
/// at run time: `numel` must be `known`, or with a -1 in the shape
/// (`inferred`) a multiple of it (never 0: the verifier rejects that).
/// Returns whether it is wrong.
Value wrongCount(PatternRewriter &rewriter, Location loc, Value numel, Value known,
                 bool inferred) {
  if (!inferred)
    return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ne, numel, known);
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  return arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ne,
                               arith::RemUIOp::create(rewriter, loc, numel, known), zero);
}

struct ReshapeLowering : OpRewritePattern<mlir::mdl::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::ReshapeOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    RankedTensorType in = tensorType(x), out = tensorType(op.getResult());
    ArrayRef<int64_t> written = op.getShape();
    // The size of the -1 entry: numel / product of the others.
    Value numel = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (int64_t d = 0; d < in.getRank(); ++d)
      numel = arith::MulIOp::create(rewriter, loc, numel, dimValue(rewriter, loc, x, d));
    Value known = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (int64_t s : written)
      if (s != -1)
        known = arith::MulIOp::create(rewriter, loc, known, arith::ConstantIndexOp::create(rewriter, loc, s));
    bool inferred = llvm::is_contained(written, -1);
    Value wrong;
    if (!in.hasStaticShape())
      wrong = wrongCount(rewriter, loc, numel, known, inferred);
    SmallVector<Value> sizes;
    for (int64_t s : written)
      sizes.push_back(s == -1 ? Value(arith::DivUIOp::create(rewriter, loc, numel, known))
                              : Value(arith::ConstantIndexOp::create(rewriter, loc, s)));
    auto shapeType = RankedTensorType::get({int64_t(sizes.size())}, rewriter.getIndexType());
    Value shape = tensor::FromElementsOp::create(rewriter, loc, shapeType, sizes);
    if (!wrong) {
      rewriter.replaceOpWithNewOp<tensor::ReshapeOp>(op, out, x, shape);
      return success();
    }
    // A wrong count is reported to the runtime, and the code runs on to its
    // end: with a -1, on the view of the whole rows (no larger than the
    // input); for a static shape, on zeros rather than a view past the
    // input's end.
    if (inferred) {
      auto check = scf::IfOp::create(rewriter, loc, wrong, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(check.thenBlock());
      reportShapeCheck(rewriter, loc, numel, known, ShapeCheck::ReshapeMultiple);
      rewriter.setInsertionPointAfter(check);
      rewriter.replaceOpWithNewOp<tensor::ReshapeOp>(op, out, x, shape);
      return success();
    }
    auto choice = scf::IfOp::create(
        rewriter, loc, wrong,
        [&](OpBuilder &b, Location l) {
          reportShapeCheck(b, l, numel, known, ShapeCheck::ReshapeCount);
          scf::YieldOp::create(b, l, filled(b, l, out, Value(), 0.0));
        },
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(b, l, tensor::ReshapeOp::create(b, l, out, x, shape).getResult());
        });
    rewriter.replaceOp(op, choice.getResults());
    return success();
  }
};

struct PermuteLowering : OpRewritePattern<mlir::mdl::PermuteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::PermuteOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    RankedTensorType out = tensorType(op.getResult());
    ArrayRef<int64_t> perm = op.getDims();
    Value init = emptyTensor(rewriter, loc, out, dynamicSizesFrom(rewriter, loc, out, x, perm));
    rewriter.replaceOp(op, linalg::TransposeOp::create(rewriter, loc, x, init, perm).getResult());
    return success();
  }
};

struct CatLowering : OpRewritePattern<mlir::mdl::CatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::CatOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    RankedTensorType out = tensorType(op.getResult());
    int64_t dim = int64_t(op.getDim()), rank = out.getRank();
    ValueRange inputs = op.getInputs();
    // Dynamic sizes of the result: the concatenated dim sums the inputs',
    // the others come from the first input.
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < rank; ++d) {
      if (!out.isDynamicDim(d))
        continue;
      if (d != dim) {
        dyn.push_back(dimValue(rewriter, loc, inputs.front(), d));
        continue;
      }
      Value total = arith::ConstantIndexOp::create(rewriter, loc, 0);
      for (Value in : inputs)
        total = arith::AddIOp::create(rewriter, loc, total, dimValue(rewriter, loc, in, d));
      dyn.push_back(total);
    }
    Value result = emptyTensor(rewriter, loc, out, dyn);
    Value offset = arith::ConstantIndexOp::create(rewriter, loc, 0);
    for (Value in : inputs) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0)), sizes, strides(rank, rewriter.getIndexAttr(1));
      offsets[dim] = offset;
      for (int64_t d = 0; d < rank; ++d)
        sizes.push_back(tensor::getMixedSize(rewriter, loc, in, d));
      result = tensor::InsertSliceOp::create(rewriter, loc, in, result, offsets, sizes, strides);
      offset = arith::AddIOp::create(rewriter, loc, offset, dimValue(rewriter, loc, in, dim));
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void populateShapeToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<FlattenLowering, ReshapeLowering, PermuteLowering, CatLowering>(patterns.getContext());
}

} // namespace modelc::lowering
