//===- ElementwiseToLinalg.cpp - mdl elementwise ops to linalg.generic ----===//
//
// Every elementwise mdl op (binary with PyTorch broadcasting, activations,
// casts, fills, dropout) becomes one linalg.generic whose body is the scalar
// formula PyTorch uses, so that linalg's elementwise fusion can merge chains
// of them into one loop nest.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace mlir;

namespace modelc::lowering {
namespace {

//===----------------------------------------------------------------------===//
// Scalar formulas
//===----------------------------------------------------------------------===//

Value add(OpBuilder &b, Location l, Value x, Value y) {
  return isFloat(x.getType()) ? Value(arith::AddFOp::create(b, l, x, y))
                              : Value(arith::AddIOp::create(b, l, x, y));
}
Value sub(OpBuilder &b, Location l, Value x, Value y) {
  return isFloat(x.getType()) ? Value(arith::SubFOp::create(b, l, x, y))
                              : Value(arith::SubIOp::create(b, l, x, y));
}
Value mul(OpBuilder &b, Location l, Value x, Value y) {
  return isFloat(x.getType()) ? Value(arith::MulFOp::create(b, l, x, y))
                              : Value(arith::MulIOp::create(b, l, x, y));
}
Value cst(OpBuilder &b, Location l, Value like, double v) {
  return scalarConstant(b, l, like.getType(), v);
}
Value sigmoid(OpBuilder &b, Location l, Value x) {
  Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, x));
  return arith::DivFOp::create(b, l, cst(b, l, x, 1), arith::AddFOp::create(b, l, cst(b, l, x, 1), e));
}

/// Converts a scalar between the element types the language has.
Value convert(OpBuilder &b, Location l, Value x, Type to) {
  Type from = x.getType();
  if (from == to)
    return x;
  bool fromFloat = isFloat(from), toFloat = isFloat(to);
  if (fromFloat && toFloat)
    return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
               ? Value(arith::ExtFOp::create(b, l, to, x))
               : Value(arith::TruncFOp::create(b, l, to, x));
  if (to.isInteger(1)) // nonzero is true, as Tensor.bool()
    return fromFloat ? Value(arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNE, x,
                                                   cst(b, l, x, 0)))
                     : Value(arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, x,
                                                   cst(b, l, x, 0)));
  if (from.isInteger(1))
    return toFloat ? Value(arith::UIToFPOp::create(b, l, to, x))
                   : Value(arith::ExtUIOp::create(b, l, to, x));
  if (fromFloat)
    return arith::FPToSIOp::create(b, l, to, x);
  if (toFloat)
    return arith::SIToFPOp::create(b, l, to, x);
  return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
             ? Value(arith::ExtSIOp::create(b, l, to, x))
             : Value(arith::TruncIOp::create(b, l, to, x));
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Replaces `op` by an elementwise generic over its operands with `body`.
template <typename OpTy>
struct ElementwisePattern : OpRewritePattern<OpTy> {
  using Body = std::function<Value(OpTy, OpBuilder &, Location, ValueRange)>;
  ElementwisePattern(MLIRContext *ctx, Body body)
      : OpRewritePattern<OpTy>(ctx), body(std::move(body)) {}
  LogicalResult matchAndRewrite(OpTy op, PatternRewriter &rewriter) const override {
    auto type = llvm::cast<RankedTensorType>(op->getResult(0).getType());
    Value r = elementwise(rewriter, op.getLoc(), type, op->getOperands(),
                          [&](OpBuilder &b, Location l, ValueRange a) { return body(op, b, l, a); });
    rewriter.replaceOp(op, r);
    return success();
  }
  Body body;
};

template <typename OpTy>
void addElementwise(RewritePatternSet &patterns,
                    typename ElementwisePattern<OpTy>::Body body) {
  patterns.add(std::make_unique<ElementwisePattern<OpTy>>(patterns.getContext(), std::move(body)));
}

/// zeros_like / ones_like: a fill.
struct FullLikeLowering : OpRewritePattern<mlir::mdl::FullLikeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::FullLikeOp op, PatternRewriter &rewriter) const override {
    auto type = llvm::cast<RankedTensorType>(op.getType());
    rewriter.replaceOp(op, filled(rewriter, op.getLoc(), type, op.getInput(),
                                  op.getValueAttr().getValueAsDouble()));
    return success();
  }
};

/// Training-mode dropout: keep each element with probability 1-p and scale it
/// by 1/(1-p). The mask is a hash of the element's index and of the position
/// of the instance's random stream, a `memref<1xi64>` argument of the
/// function (mdl::kRngArgAttr, added by -mdl-lower-state) that each dropout
/// advances, so that consecutive calls and dropouts draw different masks and
/// instances created with the same seed draw the same ones.
struct DropoutLowering : OpRewritePattern<mlir::mdl::DropoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::mdl::DropoutOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto fn = op->getParentOfType<func::FuncOp>();
    auto rngArg = fn ? fn->getAttrOfType<IntegerAttr>(mlir::mdl::kRngArgAttr) : nullptr;
    if (!rngArg || rngArg.getInt() < 0 || rngArg.getInt() >= int64_t(fn.getNumArguments()))
      return op.emitOpError("needs the instance's random stream: an argument named by ")
             << mlir::mdl::kRngArgAttr << " (run -mdl-lower-state first)";
    Value stream = fn.getArgument(rngArg.getInt());
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value count = memref::LoadOp::create(rewriter, loc, stream, ValueRange{zero});
    Value next = arith::AddIOp::create(rewriter, loc, count,
                                       scalarConstant(rewriter, loc, rewriter.getI64Type(), 1));
    memref::StoreOp::create(rewriter, loc, next, stream, ValueRange{zero});

    auto type = llvm::cast<RankedTensorType>(op.getType());
    double p = op.getPAttr().getValueAsDouble();
    Value r = elementwise(rewriter, loc, type, op.getInput(), [&](OpBuilder &b, Location l, ValueRange a) {
      // Linear index of the element, mixed with the call counter (splitmix64).
      Type i64 = b.getI64Type();
      Value lin = scalarConstant(b, l, i64, 0);
      for (int64_t d = 0; d < type.getRank(); ++d) {
        Value idx = arith::IndexCastOp::create(b, l, i64, linalg::IndexOp::create(b, l, d));
        Value size = type.isDynamicDim(d)
                         ? Value(scalarConstant(b, l, i64, 1 << 30))
                         : Value(scalarConstant(b, l, i64, double(type.getDimSize(d))));
        lin = arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, lin, size), idx);
      }
      auto c = [&](uint64_t v) {
        return arith::ConstantOp::create(b, l, i64, b.getI64IntegerAttr(int64_t(v)));
      };
      Value z = arith::AddIOp::create(b, l, lin, arith::MulIOp::create(b, l, count, c(0x9E3779B97F4A7C15ull)));
      auto mixStep = [&](Value v, int shift, uint64_t m) {
        Value s = arith::XOrIOp::create(b, l, v, arith::ShRUIOp::create(b, l, v, c(shift)));
        return Value(arith::MulIOp::create(b, l, s, c(m)));
      };
      z = mixStep(z, 30, 0xBF58476D1CE4E5B9ull);
      z = mixStep(z, 27, 0x94D049BB133111EBull);
      z = arith::XOrIOp::create(b, l, z, arith::ShRUIOp::create(b, l, z, c(31)));
      // 24 random bits as a float in [0, 1).
      Value bits = arith::ShRUIOp::create(b, l, z, c(40));
      Value u = arith::MulFOp::create(b, l, arith::UIToFPOp::create(b, l, b.getF32Type(), bits),
                                      scalarConstant(b, l, b.getF32Type(), 1.0 / 16777216.0));
      Value keep = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGE, u,
                                         scalarConstant(b, l, b.getF32Type(), p));
      Value scaled = arith::MulFOp::create(b, l, a[0], cst(b, l, a[0], p < 1 ? 1.0 / (1.0 - p) : 0.0));
      return Value(arith::SelectOp::create(b, l, keep, scaled, cst(b, l, a[0], 0)));
    });
    rewriter.replaceOp(op, r);
    return success();
  }
};

} // namespace

void populateElementwiseToLinalgPatterns(RewritePatternSet &patterns) {
  namespace mdl = mlir::mdl;
  addElementwise<mdl::AddOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return add(b, l, a[0], a[1]);
  });
  addElementwise<mdl::SubOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return sub(b, l, a[0], a[1]);
  });
  addElementwise<mdl::MulOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return mul(b, l, a[0], a[1]);
  });
  addElementwise<mdl::DivOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(arith::DivFOp::create(b, l, a[0], a[1]))
                                   : Value(arith::DivSIOp::create(b, l, a[0], a[1]));
  });
  addElementwise<mdl::PowOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(math::PowFOp::create(b, l, a[0], a[1]))
                                   : Value(math::IPowIOp::create(b, l, a[0], a[1]));
  });
  addElementwise<mdl::MaximumOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(arith::MaximumFOp::create(b, l, a[0], a[1]))
                                   : Value(arith::MaxSIOp::create(b, l, a[0], a[1]));
  });
  addElementwise<mdl::BinaryCrossEntropyOp>(patterns, [](auto, OpBuilder &b, Location l,
                                                          ValueRange a) {
    // (t - 1) · max(log1p(-x), -100) - t · max(log(x), -100), as ATen.
    Value x = a[0], t = a[1];
    Value floor = cst(b, l, x, -100.0);
    Value logX = arith::MaximumFOp::create(b, l, math::LogOp::create(b, l, x), floor);
    Value log1mX = arith::MaximumFOp::create(
        b, l, math::Log1pOp::create(b, l, arith::NegFOp::create(b, l, x)), floor);
    return sub(b, l, mul(b, l, sub(b, l, t, cst(b, l, x, 1.0)), log1mX), mul(b, l, t, logX));
  });
  addElementwise<mdl::CompareOp>(patterns, [](mdl::CompareOp op, OpBuilder &b, Location l,
                                              ValueRange a) {
    StringRef p = op.getPredicate();
    if (isFloat(a[0].getType())) {
      // Ordered (false with a NaN) but for "ne", as IEEE and PyTorch.
      auto pred = llvm::StringSwitch<arith::CmpFPredicate>(p)
                      .Case("eq", arith::CmpFPredicate::OEQ)
                      .Case("ne", arith::CmpFPredicate::UNE)
                      .Case("lt", arith::CmpFPredicate::OLT)
                      .Case("le", arith::CmpFPredicate::OLE)
                      .Case("gt", arith::CmpFPredicate::OGT)
                      .Default(arith::CmpFPredicate::OGE);
      return Value(arith::CmpFOp::create(b, l, pred, a[0], a[1]));
    }
    // i1 compares as unsigned (false < true), other ints as signed.
    bool u = a[0].getType().isInteger(1);
    auto pred = llvm::StringSwitch<arith::CmpIPredicate>(p)
                    .Case("eq", arith::CmpIPredicate::eq)
                    .Case("ne", arith::CmpIPredicate::ne)
                    .Case("lt", u ? arith::CmpIPredicate::ult : arith::CmpIPredicate::slt)
                    .Case("le", u ? arith::CmpIPredicate::ule : arith::CmpIPredicate::sle)
                    .Case("gt", u ? arith::CmpIPredicate::ugt : arith::CmpIPredicate::sgt)
                    .Default(u ? arith::CmpIPredicate::uge : arith::CmpIPredicate::sge);
    return Value(arith::CmpIOp::create(b, l, pred, a[0], a[1]));
  });
  addElementwise<mdl::WhereOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(arith::SelectOp::create(b, l, a[0], a[1], a[2]));
  });
  addElementwise<mdl::MinimumOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(arith::MinimumFOp::create(b, l, a[0], a[1]))
                                   : Value(arith::MinSIOp::create(b, l, a[0], a[1]));
  });
  // relu(NaN) is NaN in PyTorch; maximumf propagates NaN.
  addElementwise<mdl::ReluOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(arith::MaximumFOp::create(b, l, a[0], cst(b, l, a[0], 0)))
                                   : Value(arith::MaxSIOp::create(b, l, a[0], cst(b, l, a[0], 0)));
  });
  addElementwise<mdl::SigmoidOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return sigmoid(b, l, a[0]);
  });
  addElementwise<mdl::TanhOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(math::TanhOp::create(b, l, a[0]));
  });
  addElementwise<mdl::SiluOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(arith::MulFOp::create(b, l, a[0], sigmoid(b, l, a[0])));
  });
  addElementwise<mdl::ExpOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(math::ExpOp::create(b, l, a[0]));
  });
  addElementwise<mdl::LogOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(math::LogOp::create(b, l, a[0]));
  });
  addElementwise<mdl::SqrtOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(math::SqrtOp::create(b, l, a[0]));
  });
  addElementwise<mdl::RsqrtOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return Value(math::RsqrtOp::create(b, l, a[0]));
  });
  addElementwise<mdl::AbsOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(math::AbsFOp::create(b, l, a[0]))
                                   : Value(math::AbsIOp::create(b, l, a[0]));
  });
  addElementwise<mdl::NegOp>(patterns, [](auto, OpBuilder &b, Location l, ValueRange a) {
    return isFloat(a[0].getType()) ? Value(arith::NegFOp::create(b, l, a[0]))
                                   : sub(b, l, cst(b, l, a[0], 0), a[0]);
  });
  addElementwise<mdl::GeluOp>(patterns, [](mdl::GeluOp op, OpBuilder &b, Location l, ValueRange a) {
    Value x = a[0], half = cst(b, l, x, 0.5), one = cst(b, l, x, 1);
    Value inner;
    if (op.getApproximate() == "tanh") {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      Value x3 = mul(b, l, mul(b, l, x, x), x);
      Value t = add(b, l, x, mul(b, l, cst(b, l, x, 0.044715), x3));
      inner = math::TanhOp::create(b, l, mul(b, l, cst(b, l, x, std::sqrt(2.0 / M_PI)), t));
    } else {
      // 0.5 x (1 + erf(x / sqrt(2)))
      inner = math::ErfOp::create(b, l, mul(b, l, x, cst(b, l, x, M_SQRT1_2)));
    }
    return mul(b, l, mul(b, l, half, x), add(b, l, one, inner));
  });
  addElementwise<mdl::LeakyReluOp>(patterns, [](mdl::LeakyReluOp op, OpBuilder &b, Location l,
                                                ValueRange a) {
    Value x = a[0];
    Value slope = cst(b, l, x, op.getNegativeSlopeAttr().getValueAsDouble());
    Value positive = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, x, cst(b, l, x, 0));
    return Value(arith::SelectOp::create(b, l, positive, x, mul(b, l, x, slope)));
  });
  addElementwise<mdl::ClampOp>(patterns, [](mdl::ClampOp op, OpBuilder &b, Location l, ValueRange a) {
    Value x = a[0];
    bool f = isFloat(x.getType());
    if (FloatAttr lo = op.getMinAttr())
      x = f ? Value(arith::MaximumFOp::create(b, l, x, cst(b, l, x, lo.getValueAsDouble())))
            : Value(arith::MaxSIOp::create(b, l, x, cst(b, l, x, lo.getValueAsDouble())));
    if (FloatAttr hi = op.getMaxAttr())
      x = f ? Value(arith::MinimumFOp::create(b, l, x, cst(b, l, x, hi.getValueAsDouble())))
            : Value(arith::MinSIOp::create(b, l, x, cst(b, l, x, hi.getValueAsDouble())));
    return x;
  });
  addElementwise<mdl::CastOp>(patterns, [](mdl::CastOp op, OpBuilder &b, Location l, ValueRange a) {
    return convert(b, l, a[0], llvm::cast<RankedTensorType>(op.getType()).getElementType());
  });
  patterns.add<FullLikeLowering, DropoutLowering>(patterns.getContext());
}

} // namespace modelc::lowering
