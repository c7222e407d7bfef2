//===- TypedBuilder.h - mdl ops with their result types inferred -*- C++ -*-===//
//
// The frontend's loss functions and -mdl-differentiate both compose many mdl
// ops; this builder gives each the result type its shape rule infers, so
// that neither spells types out.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_TYPEDBUILDER_H
#define MDL_IR_TYPEDBUILDER_H

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/Sequence.h"

#include <cassert>
#include <optional>

namespace mlir::mdl {

inline RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Builds mdl ops at the builder's insertion point, each with the result
/// type its shape rule gives (ShapeInference.h), for code that composes ops
/// rather than tracing a source: loss functions, gradients.
class TypedBuilder {
public:
  explicit TypedBuilder(OpBuilder &b) : b(b) {}

  // ---- small builders, each giving its result type ------------------------

  Value constant(double v, Type elt = {}) {
    auto type = RankedTensorType::get({}, elt ? elt : b.getF32Type());
    return arith::ConstantOp::create(b, loc, type,
                                     DenseElementsAttr::get(type, FloatAttr::get(type.getElementType(), v)));
  }
  FailureOr<RankedTensorType> broadcastType(Value x, Value y) {
    std::string why;
    auto shape = shape::broadcast(typeOf(x).getShape(), typeOf(y).getShape(), why);
    if (failed(shape))
      return failure();
    return RankedTensorType::get(*shape, typeOf(x).getElementType());
  }
  /// A 0-d operand (a constant such as 2 or eps) takes the other operand's
  /// element type, so that f16 and bf16 models compose as f32 ones do.
  template <typename OpTy> Value binary(Value x, Value y) {
    Type ex = typeOf(x).getElementType(), ey = typeOf(y).getElementType();
    if (ex != ey && typeOf(y).getRank() == 0)
      y = CastOp::create(b, loc, RankedTensorType::get({}, ex), y);
    else if (ex != ey && typeOf(x).getRank() == 0)
      x = CastOp::create(b, loc, RankedTensorType::get({}, ey), x);
    auto type = broadcastType(x, y);
    assert(succeeded(type) && "gradient operands broadcast as the forward's did");
    return OpTy::create(b, loc, *type, x, y);
  }
  Value add(Value x, Value y) { return binary<AddOp>(x, y); }
  Value sub(Value x, Value y) { return binary<SubOp>(x, y); }
  Value mul(Value x, Value y) { return binary<MulOp>(x, y); }
  Value div(Value x, Value y) { return binary<DivOp>(x, y); }
  Value neg(Value x) { return NegOp::create(b, loc, x.getType(), x); }
  Value exp(Value x) { return ExpOp::create(b, loc, x.getType(), x); }
  Value log(Value x) { return LogOp::create(b, loc, x.getType(), x); }
  Value rsqrt(Value x) { return RsqrtOp::create(b, loc, x.getType(), x); }
  Value sigmoid(Value x) { return SigmoidOp::create(b, loc, x.getType(), x); }
  Value pow(Value x, Value y) { return binary<PowOp>(x, y); }
  Value full(Value like, double v) {
    return FullLikeOp::create(b, loc, like.getType(), like, b.getF64FloatAttr(v));
  }
  Value sum(Value x, ArrayRef<int64_t> dims, bool keepdim) {
    std::string why;
    auto shape = shape::reduce(typeOf(x).getShape(), dims, keepdim, why);
    assert(succeeded(shape));
    return SumOp::create(b, loc, RankedTensorType::get(*shape, typeOf(x).getElementType()),
                              x, b.getDenseI64ArrayAttr(dims), b.getBoolAttr(keepdim));
  }
  Value mean(Value x, ArrayRef<int64_t> dims, bool keepdim) {
    std::string why;
    auto shape = shape::reduce(typeOf(x).getShape(), dims, keepdim, why);
    assert(succeeded(shape));
    return MeanOp::create(b, loc, RankedTensorType::get(*shape, typeOf(x).getElementType()),
                               x, b.getDenseI64ArrayAttr(dims), b.getBoolAttr(keepdim));
  }
  /// `x` reshaped to `type`'s shape (one dynamic size at most: -1).
  FailureOr<Value> reshapeTo(Value x, RankedTensorType type) {
    if (typeOf(x).getShape() == type.getShape())
      return x;
    SmallVector<int64_t> shape(type.getShape());
    if (llvm::count_if(shape, ShapedType::isDynamic) > 1)
      return failure();
    for (int64_t &d : shape)
      if (ShapedType::isDynamic(d))
        d = -1;
    std::string why;
    auto inferred = shape::reshape(typeOf(x).getShape(), shape, why);
    if (failed(inferred))
      return failure();
    return Value(ReshapeOp::create(
        b, loc, RankedTensorType::get(*inferred, typeOf(x).getElementType()), x,
        b.getDenseI64ArrayAttr(shape)));
  }
  Value permute(Value x, ArrayRef<int64_t> perm) {
    std::string why;
    auto shape = shape::permute(typeOf(x).getShape(), perm, why);
    assert(succeeded(shape));
    return PermuteOp::create(b, loc, RankedTensorType::get(*shape, typeOf(x).getElementType()),
                                  x, b.getDenseI64ArrayAttr(perm));
  }
  Value matmul(Value x, Value y) {
    std::string why;
    auto shape = shape::matmul(typeOf(x).getShape(), typeOf(y).getShape(), why);
    assert(succeeded(shape));
    return MatmulOp::create(b, loc, RankedTensorType::get(*shape, typeOf(x).getElementType()),
                                 x, y);
  }
  /// Swaps the last two dimensions.
  Value transposeLast(Value x) {
    int64_t r = typeOf(x).getRank();
    SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, r));
    std::swap(perm[r - 1], perm[r - 2]);
    return permute(x, perm);
  }
  Value elementwiseGrad(Value g, Value x, Value other, StringRef kind,
                        std::optional<double> a = std::nullopt,
                        std::optional<double> bb = std::nullopt) {
    std::string why;
    auto shape = shape::broadcast(typeOf(g).getShape(), typeOf(x).getShape(), why);
    assert(succeeded(shape));
    if (other)
      shape = shape::broadcast(*shape, typeOf(other).getShape(), why);
    assert(succeeded(shape));
    auto type = RankedTensorType::get(*shape, typeOf(g).getElementType());
    auto op = ElementwiseGradOp::create(b, loc, type, g, x, other, b.getStringAttr(kind),
                                             a ? b.getF64FloatAttr(*a) : FloatAttr(),
                                             bb ? b.getF64FloatAttr(*bb) : FloatAttr());
    return op;
  }
  /// Number of elements of `x` in `dims`: a constant when they are static,
  /// else counted at run time.
  Value count(Value x, ArrayRef<int64_t> dims) {
    int64_t n = 1;
    bool dynamic = false;
    for (int64_t d : dims) {
      int64_t size = typeOf(x).getDimSize(d);
      dynamic |= ShapedType::isDynamic(size);
      n *= ShapedType::isDynamic(size) ? 1 : size;
    }
    if (!dynamic)
      return constant(double(n), typeOf(x).getElementType());
    return sum(full(x, 1.0), dims, /*keepdim=*/true);
  }
  /// `g` (the gradient of a broadcast result) summed down to `target`'s
  /// shape, as autograd's sum_to.
  FailureOr<Value> sumTo(Value g, Value target) {
    ArrayRef<int64_t> gs = typeOf(g).getShape(), ts = typeOf(target).getShape();
    int64_t lead = int64_t(gs.size()) - int64_t(ts.size());
    SmallVector<int64_t> dims;
    for (int64_t i = 0; i < int64_t(gs.size()); ++i)
      if (i < lead || (ts[i - lead] == 1 && gs[i] != 1))
        dims.push_back(i);
    Value r = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
    return reshapeTo(r, RankedTensorType::get(ts, typeOf(g).getElementType()));
  }
  /// A per-channel vector [C] shaped to broadcast along dimension 1 of a
  /// rank-`rank` tensor: [1, C, 1, ...].
  Value channelShaped(Value v, int64_t rank) {
    SmallVector<int64_t> shape(rank, 1);
    shape[1] = typeOf(v).getDimSize(0);
    return ReshapeOp::create(b, loc, RankedTensorType::get(shape, typeOf(v).getElementType()),
                                  v, b.getDenseI64ArrayAttr(shape));
  }

  OpBuilder &b;
  Location loc = UnknownLoc::get(b.getContext());
};

} // namespace mlir::mdl

#endif // MDL_IR_TYPEDBUILDER_H
