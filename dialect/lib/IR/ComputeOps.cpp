//===- ComputeOps.cpp - verifiers of the compute ops ----------------------===//
//
// Each verifier asks ShapeInference for the shape the operands imply and
// checks the declared result type against it, so the frontend and the IR
// agree on one set of rules.
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

using namespace mlir;
using namespace mlir::mdl;
using shape::Shape;

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

static std::optional<ArrayRef<int64_t>> shapeOfOptional(Value v) {
  if (!v)
    return std::nullopt;
  return shapeOf(v);
}

static Type elementTypeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getElementType();
}

/// All `values` (null ones skipped) must share one element type: the ops do
/// no implicit type promotion, the frontend inserts mdl.cast.
static LogicalResult verifySameElementType(Operation *op, ValueRange values) {
  Type first;
  for (Value v : values) {
    if (!v)
      continue;
    Type t = elementTypeOf(v);
    if (!first)
      first = t;
    else if (t != first)
      return op->emitOpError()
             << "operands have different element types " << first << " and "
             << t << "; convert one with 'mdl.cast'";
  }
  return success();
}

/// Checks `result` against the inferred shape and the expected element type.
/// A failed inference is reported with its reason.
static LogicalResult verifyResult(Operation *op, Value result,
                                  const FailureOr<Shape> &inferred,
                                  const std::string &why, Type elementType) {
  if (failed(inferred))
    return op->emitOpError() << why;
  auto type = cast<RankedTensorType>(result.getType());
  if (!shape::compatible(type.getShape(), *inferred))
    return op->emitOpError()
           << "result type " << type << " does not match the inferred shape "
           << shape::format(*inferred);
  if (type.getElementType() != elementType)
    return op->emitOpError()
           << "result element type " << type.getElementType()
           << " does not match the operand element type " << elementType;
  return success();
}

/// The common case: operands share an element type that the result keeps.
static LogicalResult verifyShapedOp(Operation *op, ValueRange operands,
                                    const FailureOr<Shape> &inferred,
                                    const std::string &why) {
  if (failed(verifySameElementType(op, operands)))
    return failure();
  return verifyResult(op, op->getResult(0), inferred, why,
                      elementTypeOf(operands.front()));
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

template <typename OpTy> static LogicalResult verifyBroadcastOp(OpTy op) {
  std::string why;
  auto inferred =
      shape::broadcast(shapeOf(op.getLhs()), shapeOf(op.getRhs()), why);
  return verifyShapedOp(op, {op.getLhs(), op.getRhs()}, inferred, why);
}

LogicalResult AddOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult SubOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult MulOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult DivOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult PowOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult MaximumOp::verify() { return verifyBroadcastOp(*this); }
LogicalResult MinimumOp::verify() { return verifyBroadcastOp(*this); }

LogicalResult CompareOp::verify() {
  if (!llvm::is_contained({"eq", "ne", "lt", "le", "gt", "ge"}, getPredicate()))
    return emitOpError() << "predicate must be one of eq, ne, lt, le, gt, ge, got \""
                         << getPredicate() << "\"";
  if (failed(verifySameElementType(*this, {getLhs(), getRhs()})))
    return failure();
  std::string why;
  auto inferred = shape::broadcast(shapeOf(getLhs()), shapeOf(getRhs()), why);
  return verifyResult(*this, getResult(), inferred, why,
                      IntegerType::get(getContext(), 1));
}

LogicalResult WhereOp::verify() {
  if (!elementTypeOf(getCondition()).isInteger(1))
    return emitOpError() << "condition must be a tensor of i1, got "
                         << getCondition().getType();
  if (failed(verifySameElementType(*this, {getInput(), getOther()})))
    return failure();
  std::string why;
  auto inferred = shape::broadcast(shapeOf(getInput()), shapeOf(getOther()), why);
  if (succeeded(inferred))
    inferred = shape::broadcast(shapeOf(getCondition()), *inferred, why);
  return verifyResult(*this, getResult(), inferred, why, elementTypeOf(getInput()));
}

LogicalResult GeluOp::verify() {
  if (getApproximate() != "none" && getApproximate() != "tanh")
    return emitOpError() << "approximate must be \"none\" or \"tanh\", got \""
                         << getApproximate() << "\"";
  return success();
}

LogicalResult ClampOp::verify() {
  if (!getMin() && !getMax())
    return emitOpError("at least one of 'min' or 'max' must be given");
  return success();
}

LogicalResult DropoutOp::verify() {
  double p = getP().convertToDouble();
  if (p < 0.0 || p > 1.0)
    return emitOpError() << "dropout probability has to be between 0 and 1, "
                            "but got "
                         << p;
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra, convolution, pooling
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::verify() {
  std::string why;
  auto inferred = shape::matmul(shapeOf(getLhs()), shapeOf(getRhs()), why);
  return verifyShapedOp(*this, {getLhs(), getRhs()}, inferred, why);
}

LogicalResult AttentionOp::verify() {
  // Static lengths and widths: a back end sizes its blocks of queries and
  // keys by them. Only the batch dimensions may be known at run time.
  // At most one leading dimension known only at run time: the lowering
  // flattens them and expands the result back, and MLIR 22's
  // expand-strided-metadata crashes on a group of several dynamic sizes.
  for (Value v : {getQuery(), getKey(), getValue()}) {
    ArrayRef<int64_t> shape = shapeOf(v);
    if (shape.size() >= 2 &&
        llvm::any_of(shape.take_back(2), ShapedType::isDynamic))
      return emitOpError() << "needs static sequence lengths and widths, "
                              "but got "
                           << v.getType();
    if (shape.size() >= 2 &&
        llvm::count(shape.drop_back(2), ShapedType::kDynamic) > 1)
      return emitOpError() << "takes at most one leading dimension known "
                              "only at run time, but got "
                           << v.getType();
  }
  std::string why;
  auto inferred = shape::attention(shapeOf(getQuery()), shapeOf(getKey()),
                                   shapeOf(getValue()), why);
  return verifyShapedOp(*this, {getQuery(), getKey(), getValue()}, inferred,
                        why);
}

LogicalResult LinearOp::verify() {
  std::string why;
  auto inferred = shape::linear(shapeOf(getInput()), shapeOf(getWeight()),
                                shapeOfOptional(getBias()), why);
  return verifyShapedOp(*this, {getInput(), getWeight(), getBias()}, inferred,
                        why);
}

LogicalResult Conv2dOp::verify() {
  std::string why;
  auto inferred = shape::conv2d(
      shapeOf(getInput()), shapeOf(getWeight()), shapeOfOptional(getBias()),
      getStride(), getPadding(), getDilation(), (int64_t)getGroups(), why);
  return verifyShapedOp(*this, {getInput(), getWeight(), getBias()}, inferred,
                        why);
}

LogicalResult MaxPool2dOp::verify() {
  std::string why;
  auto inferred = shape::pool2d(shapeOf(getInput()), getKernelSize(),
                                getStride(), getPadding(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

LogicalResult AvgPool2dOp::verify() {
  std::string why;
  auto inferred = shape::pool2d(shapeOf(getInput()), getKernelSize(),
                                getStride(), getPadding(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

LogicalResult AdaptiveAvgPool2dOp::verify() {
  std::string why;
  auto inferred =
      shape::adaptiveAvgPool2d(shapeOf(getInput()), getOutputSize(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

//===----------------------------------------------------------------------===//
// Softmax and reductions
//===----------------------------------------------------------------------===//

template <typename OpTy> static LogicalResult verifySoftmaxLike(OpTy op) {
  std::string why;
  if (failed(shape::normalizeDim((int64_t)op.getDim(),
                                 op.getInput().getType().getRank(), why)))
    return op.emitOpError() << why;
  return success();
}

LogicalResult SoftmaxOp::verify() { return verifySoftmaxLike(*this); }
LogicalResult LogSoftmaxOp::verify() { return verifySoftmaxLike(*this); }

template <typename OpTy> static LogicalResult verifyReduction(OpTy op) {
  std::string why;
  auto inferred =
      shape::reduce(shapeOf(op.getInput()), op.getDims(), op.getKeepdim(), why);
  return verifyShapedOp(op, op.getInput(), inferred, why);
}

LogicalResult MeanOp::verify() { return verifyReduction(*this); }
LogicalResult SumOp::verify() { return verifyReduction(*this); }
LogicalResult AmaxOp::verify() { return verifyReduction(*this); }
LogicalResult VarOp::verify() { return verifyReduction(*this); }

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

LogicalResult BatchNormStatsOp::verify() {
  std::string why;
  auto inferred = shape::batchNormStats(shapeOf(getInput()), why);
  Type elem = elementTypeOf(getInput());
  for (Value result : getResults())
    if (failed(verifyResult(*this, result, inferred, why, elem)))
      return failure();
  return success();
}

LogicalResult BatchNormOp::verify() {
  std::string why;
  SmallVector<ArrayRef<int64_t>> perChannel;
  for (Value v : {getMean(), getVar(), getWeight(), getBias()})
    if (v)
      perChannel.push_back(shapeOf(v));
  auto inferred = shape::batchNorm(shapeOf(getInput()), perChannel, why);
  return verifyShapedOp(
      *this, {getInput(), getMean(), getVar(), getWeight(), getBias()},
      inferred, why);
}

LogicalResult LayerNormOp::verify() {
  std::string why;
  auto inferred = shape::layerNorm(shapeOf(getInput()), getNormalizedShape(),
                                   shapeOfOptional(getWeight()),
                                   shapeOfOptional(getBias()), why);
  return verifyShapedOp(*this, {getInput(), getWeight(), getBias()}, inferred,
                        why);
}

//===----------------------------------------------------------------------===//
// Embedding and shape manipulation
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (std::optional<int64_t> pad = getPaddingIdx()) {
    int64_t rows = cast<RankedTensorType>(getWeight().getType()).getDimSize(0);
    if (*pad < 0 || (!ShapedType::isDynamic(rows) && *pad >= rows))
      return emitOpError() << "padding_idx " << *pad << " is outside the table's " << rows
                           << " rows";
  }
  std::string why;
  auto inferred =
      shape::embedding(shapeOf(getIndices()), shapeOf(getWeight()), why);
  // The result takes the table's element type, not the indices'.
  return verifyResult(*this, getResult(), inferred, why,
                      elementTypeOf(getWeight()));
}

LogicalResult ReshapeOp::verify() {
  std::string why;
  auto inferred = shape::reshape(shapeOf(getInput()), getShape(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

LogicalResult FlattenOp::verify() {
  std::string why;
  auto inferred = shape::flatten(shapeOf(getInput()), (int64_t)getStartDim(),
                                 (int64_t)getEndDim(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

LogicalResult PermuteOp::verify() {
  std::string why;
  auto inferred = shape::permute(shapeOf(getInput()), getDims(), why);
  return verifyShapedOp(*this, getInput(), inferred, why);
}

LogicalResult CatOp::verify() {
  if (getInputs().empty())
    return emitOpError("expected at least one input");
  std::string why;
  SmallVector<ArrayRef<int64_t>> shapes;
  for (Value v : getInputs())
    shapes.push_back(shapeOf(v));
  auto inferred = shape::cat(shapes, (int64_t)getDim(), why);
  return verifyShapedOp(*this, getInputs(), inferred, why);
}
