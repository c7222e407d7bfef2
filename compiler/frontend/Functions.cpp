//===- Functions.cpp - Built-in functions and operators -------------------===//
//
// The built-in functions of LANGUAGE.md with PyTorch's argument names and
// defaults, the arithmetic operators, and the emitters that built-in modules
// share with them (Linear calls the same emitter as linear()). Shapes come
// from the dialect's shape rules, so the frontend and the verifier agree; the
// frontend only adds the user's words to their messages.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

#include "llvm/Support/CheckedArithmetic.h"

#include <fmt/format.h>

#include <cmath>

using namespace mlir;
namespace shape = mlir::mdl::shape;

namespace modelc {

//===----------------------------------------------------------------------===//
// Type promotion and operators
//===----------------------------------------------------------------------===//

/// PyTorch's promotion of two tensor dtypes: floats beat ints, wider beats
/// narrower, and f16 with bf16 meet at f32.
static Type promote(Type a, Type b, MLIRContext *ctx) {
  if (a == b)
    return a;
  bool fa = llvm::isa<FloatType>(a), fb = llvm::isa<FloatType>(b);
  if (fa != fb)
    return fa ? a : b;
  unsigned wa = a.getIntOrFloatBitWidth(), wb = b.getIntOrFloatBitWidth();
  if (wa != wb)
    return wa > wb ? a : b;
  return Float32Type::get(ctx); // f16 and bf16
}

/// The dtype of `tensor op number`: the tensor's, unless an int tensor meets a
/// float number, which gives PyTorch's default dtype f32.
static Type promoteWithNumber(Type t, const Value &number, MLIRContext *ctx) {
  if (!llvm::isa<FloatType>(t) && number.kind == Value::Kind::Float)
    return Float32Type::get(ctx);
  if (t.isInteger(1) && number.kind == Value::Kind::Int)
    return IntegerType::get(ctx, 64);
  return t;
}

static std::optional<Value> foldNumbers(ast::BinaryOp op, const Value &l, const Value &r) {
  using B = ast::BinaryOp;
  if (l.kind == Value::Kind::Str || r.kind == Value::Kind::Str ||
      l.kind == Value::Kind::None || r.kind == Value::Kind::None) {
    if (op != B::Eq && op != B::Ne)
      return std::nullopt;
    bool eq = l.kind == r.kind && (l.kind == Value::Kind::None || l.s == r.s);
    return Value::boolean(op == B::Eq ? eq : !eq);
  }
  if (!l.isNumber() || !r.isNumber())
    return std::nullopt;
  bool ints = l.kind != Value::Kind::Float && r.kind != Value::Kind::Float;
  double a = l.number(), b = r.number();
  switch (op) {
  case B::Add: return ints ? Value::integer(int64_t(a) + int64_t(b)) : Value::real(a + b);
  case B::Sub: return ints ? Value::integer(int64_t(a) - int64_t(b)) : Value::real(a - b);
  case B::Mul: return ints ? Value::integer(int64_t(a) * int64_t(b)) : Value::real(a * b);
  case B::Div: return Value::real(a / b); // true division, as Python's `/`
  case B::Eq: return Value::boolean(a == b);
  case B::Ne: return Value::boolean(a != b);
  case B::Lt: return Value::boolean(a < b);
  case B::Le: return Value::boolean(a <= b);
  case B::Gt: return Value::boolean(a > b);
  case B::Ge: return Value::boolean(a >= b);
  default: return std::nullopt;
  }
}

Value Elaborator::binary(ast::BinaryOp op, const Value &lhs, const Value &rhs, Location loc) {
  using B = ast::BinaryOp;
  if (lhs.isPoison() || rhs.isPoison())
    return Value::poison();
  if (!lhs.isTensor() && !rhs.isTensor()) {
    if (op == B::Div && rhs.isNumber() && rhs.number() == 0) {
      error(loc) << "division by zero in a compile-time expression";
      return Value::poison();
    }
    if (auto v = foldNumbers(op, lhs, rhs))
      return *v;
    error(loc) << fmt::format("'{}' cannot combine {} and {}", ast::spell(op).str(),
                              lhs.describe(), rhs.describe());
    return Value::poison();
  }
  // `bias != none`: whether an optional member exists is known at compile time.
  if ((op == B::Eq || op == B::Ne) && (lhs.isNone() || rhs.isNone()))
    return Value::boolean((lhs.isNone() && rhs.isNone()) == (op == B::Eq));
  bool arithmetic = op == B::Add || op == B::Sub || op == B::Mul || op == B::Div;
  if ((!arithmetic && op != B::MatMul) || (!lhs.isTensor() && !lhs.isNumber()) ||
      (!rhs.isTensor() && !rhs.isNumber())) {
    error(loc) << fmt::format("'{}' cannot combine {} and {}{}", ast::spell(op).str(),
                              lhs.describe(), rhs.describe(),
                              arithmetic || op == B::MatMul
                                  ? ""
                                  : "; comparisons work on compile-time values only");
    return Value::poison();
  }

  Type elt = lhs.isTensor() && rhs.isTensor()
                 ? promote(lhs.type().getElementType(), rhs.type().getElementType(), ctx)
             : lhs.isTensor() ? promoteWithNumber(lhs.type().getElementType(), rhs, ctx)
                              : promoteWithNumber(rhs.type().getElementType(), lhs, ctx);
  // True division of ints gives floats, as in PyTorch.
  if (op == B::Div && !llvm::isa<FloatType>(elt))
    elt = builder.getF32Type();
  if (op == B::MatMul && (!lhs.isTensor() || !rhs.isTensor())) {
    error(loc) << fmt::format("'@' multiplies two tensors, but got {} and {}", lhs.describe(),
                              rhs.describe());
    return Value::poison();
  }
  mlir::Value a = asTensor(lhs, elt, loc), b = asTensor(rhs, elt, loc);
  auto ta = llvm::cast<RankedTensorType>(a.getType());
  auto tb = llvm::cast<RankedTensorType>(b.getType());
  std::string why;
  FailureOr<shape::Shape> s = op == B::MatMul
                                  ? shape::matmul(ta.getShape(), tb.getShape(), why)
                                  : shape::broadcast(ta.getShape(), tb.getShape(), why);
  if (failed(s)) {
    error(loc) << fmt::format("'{}' cannot combine tensors of shapes {} and {}: {}",
                              ast::spell(op).str(), shape::format(ta.getShape()),
                              shape::format(tb.getShape()), why);
    return Value::poison();
  }
  auto type = tensorOf(*s, elt);
  switch (op) {
  case B::Add: return Value::ofTensor(mdl::AddOp::create(builder, loc, type, a, b));
  case B::Sub: return Value::ofTensor(mdl::SubOp::create(builder, loc, type, a, b));
  case B::Mul: return Value::ofTensor(mdl::MulOp::create(builder, loc, type, a, b));
  case B::Div: return Value::ofTensor(mdl::DivOp::create(builder, loc, type, a, b));
  default: return Value::ofTensor(mdl::MatmulOp::create(builder, loc, type, a, b));
  }
}

/// Elementwise functions of one tensor (or compile-time number).
Value Elaborator::unary(StringRef fn, const Value &x, Location loc) {
  if (x.isPoison())
    return x;
  if (x.isNumber()) {
    double v = x.number();
    std::optional<double> r = llvm::StringSwitch<std::optional<double>>(fn)
                                  .Case("exp", std::exp(v))
                                  .Case("log", std::log(v))
                                  .Case("sqrt", std::sqrt(v))
                                  .Case("rsqrt", 1.0 / std::sqrt(v))
                                  .Case("abs", std::fabs(v))
                                  .Case("tanh", std::tanh(v))
                                  .Case("sigmoid", 1.0 / (1.0 + std::exp(-v)))
                                  .Default(std::nullopt);
    if (r) {
      if (fn == "abs" && x.kind == Value::Kind::Int)
        return Value::integer(std::llabs(x.i));
      return Value::real(*r);
    }
  }
  if (!expectTensor(x, fn, loc))
    return Value::poison();
  mlir::Value t = x.tensor;
  // Transcendental functions of int tensors compute in f32, as PyTorch's.
  bool needsFloat = !llvm::is_contained({"relu", "abs", "neg"}, fn);
  if (needsFloat && !llvm::isa<FloatType>(x.type().getElementType()))
    t = castTo(t, builder.getF32Type(), loc);
  Type type = t.getType();
  mlir::Value r = llvm::StringSwitch<std::function<mlir::Value()>>(fn)
      .Case("relu", [&] { return mdl::ReluOp::create(builder, loc, type, t); })
      .Case("sigmoid", [&] { return mdl::SigmoidOp::create(builder, loc, type, t); })
      .Case("tanh", [&] { return mdl::TanhOp::create(builder, loc, type, t); })
      .Case("silu", [&] { return mdl::SiluOp::create(builder, loc, type, t); })
      .Case("exp", [&] { return mdl::ExpOp::create(builder, loc, type, t); })
      .Case("log", [&] { return mdl::LogOp::create(builder, loc, type, t); })
      .Case("sqrt", [&] { return mdl::SqrtOp::create(builder, loc, type, t); })
      .Case("rsqrt", [&] { return mdl::RsqrtOp::create(builder, loc, type, t); })
      .Case("abs", [&] { return mdl::AbsOp::create(builder, loc, type, t); })
      .Default([&] { return mdl::NegOp::create(builder, loc, type, t); })();
  return Value::ofTensor(r);
}

//===----------------------------------------------------------------------===//
// Emitters shared with the built-in modules
//===----------------------------------------------------------------------===//

/// The shape of an optional operand, for the shape rules.
static std::optional<ArrayRef<int64_t>> optionalShape(mlir::Value v) {
  if (!v)
    return std::nullopt;
  return llvm::cast<RankedTensorType>(v.getType()).getShape();
}

Value Elaborator::emitLinear(const Value &x, mlir::Value w, mlir::Value b, StringRef what,
                             Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  auto wt = llvm::cast<RankedTensorType>(w.getType());
  std::string why;
  auto s = shape::linear(x.type().getShape(), wt.getShape(), optionalShape(b), why);
  if (failed(s)) {
    int64_t in = x.type().getRank() ? x.type().getShape().back() : 1;
    if (wt.getRank() == 2 && x.type().getRank() >= 1 && !ShapedType::isDynamic(in) &&
        in != wt.getDimSize(1))
      error(loc) << fmt::format("{} expects {} input features, but its input has {}",
                                what.str(), wt.getDimSize(1), in);
    else
      error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  mlir::Value xin = castTo(x.tensor, wt.getElementType(), loc);
  return Value::ofTensor(
      mdl::LinearOp::create(builder, loc, tensorOf(*s, wt.getElementType()), xin, w, b));
}

Value Elaborator::emitConv2d(const Value &x, mlir::Value w, mlir::Value b,
                             ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                             ArrayRef<int64_t> dilation, int64_t groups, StringRef what,
                             Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  auto wt = llvm::cast<RankedTensorType>(w.getType());
  std::string why;
  ArrayRef<int64_t> xs = x.type().getShape();
  if (xs.size() != 4) {
    error(loc) << fmt::format("{} expects a 4-D input [N, C, H, W], but its input has shape {}",
                              what.str(), shape::format(xs));
    return Value::poison();
  }
  int64_t weightIn = wt.getDimSize(1);
  std::optional<int64_t> expectIn = llvm::checkedMul(weightIn, groups);
  if (!ShapedType::isDynamic(xs[1]) && !ShapedType::isDynamic(weightIn) &&
      (!expectIn || xs[1] != *expectIn)) {
    error(loc) << fmt::format("{} expects {} input channels, but its input has {}", what.str(),
                              expectIn ? std::to_string(*expectIn) : "more than 2^63",
                              xs[1]);
    return Value::poison();
  }
  auto s = shape::conv2d(xs, wt.getShape(), optionalShape(b), stride, padding, dilation, groups, why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  mlir::Value xin = castTo(x.tensor, wt.getElementType(), loc);
  return Value::ofTensor(mdl::Conv2dOp::create(
      builder, loc, tensorOf(*s, wt.getElementType()), xin, w, b,
      builder.getDenseI64ArrayAttr(stride), builder.getDenseI64ArrayAttr(padding),
      builder.getDenseI64ArrayAttr(dilation), builder.getI64IntegerAttr(groups)));
}

Value Elaborator::emitPool(bool isMax, const Value &x, ArrayRef<int64_t> kernel,
                           ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                           bool countIncludePad, StringRef what, Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  for (auto [k, p] : llvm::zip(kernel, padding)) {
    if (p * 2 > k) {
      error(loc) << fmt::format("{}: padding should be at most half of the kernel size, but "
                                "got padding={} and kernel_size={}",
                                what.str(), p, k);
      return Value::poison();
    }
  }
  std::string why;
  auto s = shape::pool2d(x.type().getShape(), kernel, stride, padding, why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  auto type = tensorOf(*s, x.type().getElementType());
  auto k = builder.getDenseI64ArrayAttr(kernel), st = builder.getDenseI64ArrayAttr(stride),
       pd = builder.getDenseI64ArrayAttr(padding);
  if (isMax)
    return Value::ofTensor(mdl::MaxPool2dOp::create(builder, loc, type, x.tensor, k, st, pd));
  return Value::ofTensor(mdl::AvgPool2dOp::create(builder, loc, type, x.tensor, k, st, pd,
                                                  builder.getBoolAttr(countIncludePad)));
}

Value Elaborator::emitAdaptiveAvgPool(const Value &x, ArrayRef<int64_t> out, StringRef what,
                                      Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  std::string why;
  auto s = shape::adaptiveAvgPool2d(x.type().getShape(), out, why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  return Value::ofTensor(mdl::AdaptiveAvgPool2dOp::create(
      builder, loc, tensorOf(*s, x.type().getElementType()), x.tensor,
      builder.getDenseI64ArrayAttr(out)));
}

Value Elaborator::emitSoftmax(const Value &x, std::optional<int64_t> dim, bool isLog,
                              StringRef what, Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  int64_t rank = x.type().getRank();
  if (!dim) {
    // torch.nn.functional._get_softmax_dim, with its deprecation warning.
    dim = (rank == 0 || rank == 1 || rank == 3) ? 0 : 1;
    mlir::emitWarning(loc) << fmt::format(
        "{} without dim is deprecated; using dim={} for a {}-D input, as PyTorch does",
        what.str(), *dim, rank);
  }
  std::string why;
  auto d = shape::normalizeDim(*dim, rank, why);
  if (failed(d)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  mlir::Value t = x.tensor;
  if (!llvm::isa<FloatType>(x.type().getElementType()))
    t = castTo(t, builder.getF32Type(), loc);
  auto dimAttr = builder.getI64IntegerAttr(*d);
  if (isLog)
    return Value::ofTensor(mdl::LogSoftmaxOp::create(builder, loc, t.getType(), t, dimAttr));
  return Value::ofTensor(mdl::SoftmaxOp::create(builder, loc, t.getType(), t, dimAttr));
}

Value Elaborator::emitFlatten(const Value &x, int64_t start, int64_t end, StringRef what,
                              Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  std::string why;
  auto s = shape::flatten(x.type().getShape(), start, end, why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  return Value::ofTensor(mdl::FlattenOp::create(builder, loc,
                                                tensorOf(*s, x.type().getElementType()),
                                                x.tensor, builder.getI64IntegerAttr(start),
                                                builder.getI64IntegerAttr(end)));
}

Value Elaborator::emitLayerNorm(const Value &x, ArrayRef<int64_t> normalizedShape,
                                mlir::Value w, mlir::Value b, double eps, StringRef what,
                                Location loc) {
  if (!expectTensor(x, what, loc))
    return Value::poison();
  std::string why;
  auto s = shape::layerNorm(x.type().getShape(), normalizedShape, optionalShape(w), optionalShape(b), why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  Type elt = w ? llvm::cast<RankedTensorType>(w.getType()).getElementType()
               : x.type().getElementType();
  mlir::Value xin = castTo(x.tensor, elt, loc);
  return Value::ofTensor(mdl::LayerNormOp::create(
      builder, loc, xin.getType(), xin, w, b, builder.getDenseI64ArrayAttr(normalizedShape),
      builder.getF64FloatAttr(eps)));
}

Value Elaborator::emitEmbedding(const Value &indices, mlir::Value w, StringRef what,
                                Location loc) {
  if (!expectTensor(indices, what, loc))
    return Value::poison();
  if (!llvm::isa<IntegerType>(indices.type().getElementType()) ||
      indices.type().getElementType().isInteger(1)) {
    error(loc) << fmt::format("{} expects integer indices, but got {}", what.str(),
                              indices.describe());
    return Value::poison();
  }
  auto wt = llvm::cast<RankedTensorType>(w.getType());
  std::string why;
  auto s = shape::embedding(indices.type().getShape(), wt.getShape(), why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  return Value::ofTensor(mdl::EmbeddingOp::create(
      builder, loc, tensorOf(*s, wt.getElementType()), indices.tensor, w));
}

Value Elaborator::emitActivation(StringRef fn, const Value &x, llvm::StringMap<Value> &opts,
                                 Location loc) {
  if (fn == "gelu" || fn == "leaky_relu") {
    if (!expectTensor(x, fn, loc))
      return Value::poison();
    mlir::Value t = x.tensor;
    if (!llvm::isa<FloatType>(x.type().getElementType()))
      t = castTo(t, builder.getF32Type(), loc);
    if (fn == "gelu") {
      StringRef approx = opts["approximate"].s;
      if (approx != "none" && approx != "tanh") {
        error(loc) << fmt::format("approximate must be \"none\" or \"tanh\", but got \"{}\"",
                                  approx.str());
        return Value::poison();
      }
      return Value::ofTensor(
          mdl::GeluOp::create(builder, loc, t.getType(), t, builder.getStringAttr(approx)));
    }
    return Value::ofTensor(mdl::LeakyReluOp::create(
        builder, loc, t.getType(), t, builder.getF64FloatAttr(opts["negative_slope"].f)));
  }
  return unary(fn, x, loc);
}

Value Elaborator::emitDropout(const Value &x, double p, bool active, Location loc) {
  if (!expectTensor(x, "dropout", loc))
    return Value::poison();
  if (p < 0 || p > 1) {
    error(loc) << fmt::format("dropout probability has to be between 0 and 1, but got {}", p);
    return Value::poison();
  }
  if (!active || p == 0)
    return x;
  return Value::ofTensor(
      mdl::DropoutOp::create(builder, loc, x.type(), x.tensor, builder.getF64FloatAttr(p)));
}

Value Elaborator::emitReduce(StringRef fn, const Value &x, const Value &dims, bool keepdim,
                             bool unbiased, Location loc) {
  if (!expectTensor(x, fn, loc))
    return Value::poison();
  SmallVector<int64_t> d;
  if (!dims.isNone())
    d = *toInts(dims, 0, "dims", loc);
  std::string why;
  auto s = shape::reduce(x.type().getShape(), d, keepdim, why);
  if (failed(s)) {
    error(loc) << fmt::format("{}: {}", fn.str(), why);
    return Value::poison();
  }
  mlir::Value t = x.tensor;
  Type elt = x.type().getElementType();
  if ((fn == "mean" || fn == "var") && !llvm::isa<FloatType>(elt)) {
    error(loc) << fmt::format("{} needs a floating-point input, but got {}; cast it first",
                              fn.str(), x.describe());
    return Value::poison();
  }
  // PyTorch sums bools and ints into i64.
  if (fn == "sum" && llvm::isa<IntegerType>(elt)) {
    elt = builder.getI64Type();
    t = castTo(t, elt, loc);
  }
  auto type = tensorOf(*s, elt);
  auto dimsAttr = builder.getDenseI64ArrayAttr(d);
  auto keep = builder.getBoolAttr(keepdim);
  if (fn == "mean")
    return Value::ofTensor(mdl::MeanOp::create(builder, loc, type, t, dimsAttr, keep));
  if (fn == "sum")
    return Value::ofTensor(mdl::SumOp::create(builder, loc, type, t, dimsAttr, keep));
  if (fn == "amax")
    return Value::ofTensor(mdl::AmaxOp::create(builder, loc, type, t, dimsAttr, keep));
  return Value::ofTensor(mdl::VarOp::create(builder, loc, type, t, dimsAttr,
                                            builder.getBoolAttr(unbiased), keep));
}

//===----------------------------------------------------------------------===//
// The built-in functions
//===----------------------------------------------------------------------===//

static const llvm::StringMap<Signature> &functionSignatures() {
  auto I = [](int64_t v) { return std::optional<Value>(Value::integer(v)); };
  auto F = [](double v) { return std::optional<Value>(Value::real(v)); };
  auto B = [](bool v) { return std::optional<Value>(Value::boolean(v)); };
  std::optional<Value> none = Value::none();
  std::optional<Value> req;
  Signature x = {{"input", ArgType::Tensor, req}};
  static const llvm::StringMap<Signature> sigs = {
      {"linear", {{"input", ArgType::Tensor, req}, {"weight", ArgType::Tensor, req},
                  {"bias", ArgType::OptTensor, none}}},
      {"conv2d", {{"input", ArgType::Tensor, req}, {"weight", ArgType::Tensor, req},
                  {"bias", ArgType::OptTensor, none}, {"stride", ArgType::IntOrInts, I(1)},
                  {"padding", ArgType::IntOrInts, I(0)}, {"dilation", ArgType::IntOrInts, I(1)},
                  {"groups", ArgType::Int, I(1)}}},
      {"relu", x}, {"sigmoid", x}, {"tanh", x}, {"silu", x}, {"exp", x}, {"log", x},
      {"sqrt", x}, {"rsqrt", x}, {"abs", x},
      {"gelu", {{"input", ArgType::Tensor, req},
                {"approximate", ArgType::Str, std::optional<Value>(Value::str("none"))}}},
      {"leaky_relu", {{"input", ArgType::Tensor, req}, {"negative_slope", ArgType::Float, F(0.01)}}},
      {"softmax", {{"input", ArgType::Tensor, req}, {"dim", ArgType::OptInt, none}}},
      {"log_softmax", {{"input", ArgType::Tensor, req}, {"dim", ArgType::OptInt, none}}},
      {"max_pool2d", {{"input", ArgType::Tensor, req}, {"kernel_size", ArgType::IntOrInts, req},
                      {"stride", ArgType::OptIntOrInts, none}, {"padding", ArgType::IntOrInts, I(0)}}},
      {"avg_pool2d", {{"input", ArgType::Tensor, req}, {"kernel_size", ArgType::IntOrInts, req},
                      {"stride", ArgType::OptIntOrInts, none}, {"padding", ArgType::IntOrInts, I(0)},
                      {"count_include_pad", ArgType::Bool, B(true)}}},
      {"adaptive_avg_pool2d", {{"input", ArgType::Tensor, req},
                               {"output_size", ArgType::IntOrInts, req}}},
      {"flatten", {{"input", ArgType::Tensor, req}, {"start_dim", ArgType::Int, I(0)},
                   {"end_dim", ArgType::Int, I(-1)}}},
      {"reshape", {{"input", ArgType::Tensor, req}, {"shape", ArgType::Ints, req}}},
      {"permute", {{"input", ArgType::Tensor, req}, {"dims", ArgType::Ints, req}}},
      {"transpose", {{"input", ArgType::Tensor, req}, {"dim0", ArgType::Int, req},
                     {"dim1", ArgType::Int, req}}},
      {"matmul", {{"input", ArgType::Tensor, req}, {"other", ArgType::Tensor, req}}},
      {"pow", {{"input", ArgType::TensorOrNumber, req}, {"exponent", ArgType::TensorOrNumber, req}}},
      {"clamp", {{"input", ArgType::Tensor, req}, {"min", ArgType::OptFloat, none},
                 {"max", ArgType::OptFloat, none}}},
      {"mean", {{"input", ArgType::Tensor, req}, {"dims", ArgType::OptInts, none},
                {"keepdim", ArgType::Bool, B(false)}}},
      {"sum", {{"input", ArgType::Tensor, req}, {"dims", ArgType::OptInts, none},
               {"keepdim", ArgType::Bool, B(false)}}},
      {"amax", {{"input", ArgType::Tensor, req}, {"dims", ArgType::OptInts, none},
                {"keepdim", ArgType::Bool, B(false)}}},
      {"var", {{"input", ArgType::Tensor, req}, {"dims", ArgType::OptInts, none},
               {"unbiased", ArgType::Bool, B(true)}, {"keepdim", ArgType::Bool, B(false)}}},
      {"cat", {{"tensors", ArgType::TensorList, req}, {"dim", ArgType::Int, I(0)}}},
      {"cast", {{"input", ArgType::Tensor, req}, {"dtype", ArgType::DType, req}}},
      {"layer_norm", {{"input", ArgType::Tensor, req}, {"normalized_shape", ArgType::Ints, req},
                      {"weight", ArgType::OptTensor, none}, {"bias", ArgType::OptTensor, none},
                      {"eps", ArgType::Float, F(1e-5)}}},
      {"embedding", {{"input", ArgType::Tensor, req}, {"weight", ArgType::Tensor, req}}},
      // F.dropout defaults to training=True; in a model description the
      // natural default is the module's own mode.
      {"dropout", {{"input", ArgType::Tensor, req}, {"p", ArgType::Float, F(0.5)},
                   {"training", ArgType::Bool, none}}},
      {"zeros_like", x},
      {"ones_like", x},
  };
  return sigs;
}

bool Elaborator::isBuiltinFunction(StringRef name) {
  return functionSignatures().count(name);
}

/// Compile-time math on numbers, allowed anywhere (e.g. `kaiming_uniform(a=sqrt(5))`).
static bool isNumericFunction(StringRef fn) {
  return llvm::is_contained({"exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid"}, fn);
}

Value Elaborator::callFunction(const ast::CallExpr &call, Env &env) {
  StringRef fn = call.callee;
  Location loc = call.getLoc();
  auto args = evaluateArgs(call.args, env);
  if (!args)
    return Value::poison();
  if (isNumericFunction(fn) && args->size() == 1 && args->front().value.isNumber())
    return unary(fn, args->front().value, loc);
  if (fn == "pow" && args->size() == 2 && (*args)[0].value.isNumber() &&
      (*args)[1].value.isNumber())
    return Value::real(std::pow((*args)[0].value.number(), (*args)[1].value.number()));
  if (!env.inForward()) {
    error(loc) << fmt::format("'{}' works on tensors and can be called only inside forward",
                              fn.str());
    return Value::poison();
  }
  auto bound = bind(functionSignatures().lookup(fn), *args, fmt::format("'{}'", fn.str()), loc);
  if (!bound)
    return Value::poison();
  llvm::StringMap<Value> &a = *bound;
  const Value &x = a["input"];
  auto ints = [&](StringRef name, size_t arity) { return toInts(a[name], arity, name, loc); };
  auto optTensor = [&](StringRef name) {
    return a[name].isTensor() ? a[name].tensor : mlir::Value();
  };

  if (fn == "linear")
    return emitLinear(x, a["weight"].tensor, optTensor("bias"), "linear", loc);
  if (fn == "conv2d") {
    auto stride = ints("stride", 2), padding = ints("padding", 2),
         dilation = ints("dilation", 2);
    if (!stride || !padding || !dilation)
      return Value::poison();
    return emitConv2d(x, a["weight"].tensor, optTensor("bias"), *stride, *padding, *dilation,
                      a["groups"].i, "conv2d", loc);
  }
  if (fn == "gelu" || fn == "leaky_relu")
    return emitActivation(fn, x, a, loc);
  if (llvm::is_contained({"relu", "sigmoid", "tanh", "silu", "exp", "log", "sqrt", "rsqrt",
                          "abs"},
                         fn))
    return unary(fn, x, loc);
  if (fn == "softmax" || fn == "log_softmax") {
    std::optional<int64_t> dim;
    if (!a["dim"].isNone())
      dim = a["dim"].i;
    return emitSoftmax(x, dim, fn == "log_softmax", fn, loc);
  }
  if (fn == "max_pool2d" || fn == "avg_pool2d") {
    auto kernel = ints("kernel_size", 2);
    auto stride = a["stride"].isNone() ? kernel : ints("stride", 2);
    auto padding = ints("padding", 2);
    if (!kernel || !stride || !padding)
      return Value::poison();
    bool countIncludePad = fn == "avg_pool2d" ? a["count_include_pad"].b : true;
    return emitPool(fn == "max_pool2d", x, *kernel, *stride, *padding, countIncludePad, fn,
                    loc);
  }
  if (fn == "adaptive_avg_pool2d") {
    auto out = ints("output_size", 2);
    return out ? emitAdaptiveAvgPool(x, *out, fn, loc) : Value::poison();
  }
  if (fn == "flatten")
    return emitFlatten(x, a["start_dim"].i, a["end_dim"].i, fn, loc);
  if (fn == "reshape") {
    auto dims = ints("shape", 0);
    std::string why;
    auto s = shape::reshape(x.type().getShape(), *dims, why);
    if (failed(s)) {
      error(loc) << fmt::format("reshape: {}", why);
      return Value::poison();
    }
    return Value::ofTensor(mdl::ReshapeOp::create(builder, loc,
                                                  tensorOf(*s, x.type().getElementType()),
                                                  x.tensor, builder.getDenseI64ArrayAttr(*dims)));
  }
  if (fn == "permute" || fn == "transpose") {
    SmallVector<int64_t> dims;
    std::string why;
    int64_t rank = x.type().getRank();
    if (fn == "permute") {
      dims = *ints("dims", 0);
    } else {
      auto d0 = shape::normalizeDim(a["dim0"].i, rank, why);
      auto d1 = succeeded(d0) ? shape::normalizeDim(a["dim1"].i, rank, why) : d0;
      if (failed(d1)) {
        error(loc) << fmt::format("transpose: {}", why);
        return Value::poison();
      }
      dims = llvm::to_vector(llvm::seq<int64_t>(0, std::max<int64_t>(rank, 1)));
      std::swap(dims[*d0], dims[*d1]);
      dims.resize(rank);
    }
    auto s = shape::permute(x.type().getShape(), dims, why);
    if (failed(s)) {
      error(loc) << fmt::format("{}: {}", fn.str(), why);
      return Value::poison();
    }
    return Value::ofTensor(mdl::PermuteOp::create(
        builder, loc, tensorOf(*s, x.type().getElementType()), x.tensor,
        builder.getDenseI64ArrayAttr(dims)));
  }
  if (fn == "matmul")
    return binary(ast::BinaryOp::MatMul, x, a["other"], loc);
  if (fn == "pow") {
    const Value &base = x, &e = a["exponent"];
    Type elt = base.isTensor() ? base.type().getElementType() : e.type().getElementType();
    if (!llvm::isa<FloatType>(elt))
      elt = builder.getF32Type();
    mlir::Value l = asTensor(base, elt, loc), r = asTensor(e, elt, loc);
    std::string why;
    auto lt = llvm::cast<RankedTensorType>(l.getType()), rt = llvm::cast<RankedTensorType>(r.getType());
    auto s = shape::broadcast(lt.getShape(), rt.getShape(), why);
    if (failed(s)) {
      error(loc) << fmt::format("pow: {}", why);
      return Value::poison();
    }
    return Value::ofTensor(mdl::PowOp::create(builder, loc, tensorOf(*s, elt), l, r));
  }
  if (fn == "clamp") {
    auto attr = [&](StringRef name) {
      return a[name].isNone() ? FloatAttr() : builder.getF64FloatAttr(a[name].f);
    };
    if (a["min"].isNone() && a["max"].isNone()) {
      error(loc) << "clamp needs at least one of 'min' and 'max'";
      return Value::poison();
    }
    return Value::ofTensor(
        mdl::ClampOp::create(builder, loc, x.type(), x.tensor, attr("min"), attr("max")));
  }
  if (fn == "mean" || fn == "sum" || fn == "amax" || fn == "var")
    return emitReduce(fn, x, a["dims"], a["keepdim"].b, fn == "var" && a["unbiased"].b, loc);
  if (fn == "cat") {
    std::vector<Value> &ts = a["tensors"].elems;
    Type elt = ts.front().type().getElementType();
    for (const Value &t : ts)
      elt = promote(elt, t.type().getElementType(), ctx);
    SmallVector<mlir::Value> operands;
    SmallVector<ArrayRef<int64_t>> shapes;
    for (const Value &t : ts) {
      operands.push_back(castTo(t.tensor, elt, loc));
      shapes.push_back(t.type().getShape());
    }
    std::string why;
    auto s = shape::cat(shapes, a["dim"].i, why);
    if (failed(s)) {
      error(loc) << fmt::format("cat: {}", why);
      return Value::poison();
    }
    auto d = shape::normalizeDim(a["dim"].i, shapes.front().size(), why);
    return Value::ofTensor(mdl::CatOp::create(builder, loc, tensorOf(*s, elt), operands,
                                              builder.getI64IntegerAttr(*d)));
  }
  if (fn == "cast") {
    Value dt = a["dtype"];
    if (dt.kind == Value::Kind::Str) {
      FailureOr<Type> t = parseDType(dt.s, loc);
      if (failed(t))
        return Value::poison();
      dt = Value::ofDType(*t);
    }
    return Value::ofTensor(castTo(x.tensor, dt.dtype, loc));
  }
  if (fn == "layer_norm") {
    auto shape = ints("normalized_shape", 0);
    return emitLayerNorm(x, *shape, optTensor("weight"), optTensor("bias"), a["eps"].f, fn, loc);
  }
  if (fn == "embedding")
    return emitEmbedding(x, a["weight"].tensor, fn, loc);
  if (fn == "dropout") {
    bool active = a["training"].isNone() ? training : a["training"].b;
    return emitDropout(x, a["p"].f, active, loc);
  }
  // zeros_like, ones_like
  return Value::ofTensor(mdl::FullLikeOp::create(
      builder, loc, x.type(), x.tensor, builder.getF64FloatAttr(fn == "ones_like" ? 1.0 : 0.0)));
}

} // namespace modelc
