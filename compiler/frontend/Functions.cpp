//===- Functions.cpp - Built-in functions and operators -------------------===//
//
// The arithmetic operators and the built-in functions of LANGUAGE.md: one
// table of their names, signatures (PyTorch's argument names and defaults)
// and handlers, which the built-in modules' forwards call too (Linear's
// forward is linear()). Shapes come from the dialect's shape rules, so the
// frontend and the verifier agree; the frontend only adds the user's words to
// their messages.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/StringSwitch.h"

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"


#include "llvm/Support/CheckedArithmetic.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

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
  case B::FloorDiv: // Python's: floor, and the remainder takes the divisor's sign
    if (ints) {
      int64_t x = int64_t(a), y = int64_t(b), q = x / y;
      return Value::integer(q - ((x % y != 0) && ((x < 0) != (y < 0))));
    }
    return Value::real(std::floor(a / b));
  case B::Mod:
    if (ints) {
      int64_t x = int64_t(a), y = int64_t(b), m = x % y;
      return Value::integer(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
    }
    return Value::real(a - std::floor(a / b) * b);
  case B::Pow:
    if (ints && b >= 0) {
      int64_t result = 1;
      for (int64_t i = 0; i < int64_t(b); ++i)
        result *= int64_t(a);
      return Value::integer(result);
    }
    return Value::real(std::pow(a, b));
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
  if (lhs.kind == Value::Kind::Size || rhs.kind == Value::Kind::Size) {
    // A run-time size stays one through + - * // with ints: what reshape
    // and expand take it for (-1) does not depend on its value.
    bool sizeOrInt = (lhs.kind == Value::Kind::Size || lhs.kind == Value::Kind::Int) &&
                     (rhs.kind == Value::Kind::Size || rhs.kind == Value::Kind::Int);
    if (sizeOrInt && (op == B::Add || op == B::Sub || op == B::Mul || op == B::FloorDiv)) {
      auto text = [](const Value &v) { return v.kind == Value::Kind::Int ? std::to_string(v.i) : v.s; };
      return Value::runtimeSize(
          fmt::format("{} {} {}", text(lhs), ast::spell(op).str(), text(rhs)));
    }
    error(loc) << fmt::format("'{}' cannot combine {} and {}: a size known only at run time "
                              "can be added, subtracted, multiplied and floor-divided by ints, "
                              "and passed to reshape, view and expand",
                              ast::spell(op).str(), lhs.describe(), rhs.describe());
    return Value::poison();
  }
  if (!lhs.isTensor() && !rhs.isTensor()) {
    if ((op == B::Div || op == B::FloorDiv || op == B::Mod) && rhs.isNumber() &&
        rhs.number() == 0) {
      error(loc) << "division by zero in a compile-time expression";
      return Value::poison();
    }
    if (auto v = foldNumbers(op, lhs, rhs))
      return *v;
    error(loc) << fmt::format("'{}' cannot combine {} and {}", ast::spell(op).str(),
                              lhs.describe(), rhs.describe());
    return Value::poison();
  }
  // x ** p of a tensor is pow(x, p).
  if (op == B::Pow)
    return applyFunction("pow", "**", {{"input", lhs}, {"exponent", rhs}}, loc);
  if (op == B::FloorDiv || op == B::Mod) {
    error(loc) << fmt::format("'{}' of tensors is not supported yet; it works on compile-time "
                              "numbers",
                              ast::spell(op).str());
    return Value::poison();
  }
  // `bias != none`: whether an optional member exists is known at compile time.
  if ((op == B::Eq || op == B::Ne) && (lhs.isNone() || rhs.isNone()))
    return Value::boolean((lhs.isNone() && rhs.isNone()) == (op == B::Eq));
  bool arithmetic = op == B::Add || op == B::Sub || op == B::Mul || op == B::Div;
  bool comparison = op == B::Eq || op == B::Ne || op == B::Lt || op == B::Le ||
                    op == B::Gt || op == B::Ge;
  if ((!arithmetic && !comparison && op != B::MatMul) ||
      (!lhs.isTensor() && !lhs.isNumber()) || (!rhs.isTensor() && !rhs.isNumber())) {
    error(loc) << fmt::format("'{}' cannot combine {} and {}", ast::spell(op).str(),
                              lhs.describe(), rhs.describe());
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
  if (comparison) {
    // Compared in the promoted type; the result is bool, as in PyTorch.
    StringRef predicate = op == B::Eq ? "eq" : op == B::Ne ? "ne" : op == B::Lt ? "lt"
                        : op == B::Le ? "le" : op == B::Gt ? "gt" : "ge";
    return Value::ofTensor(mdl::CompareOp::create(builder, loc, tensorOf(*s, builder.getI1Type()),
                                                  a, b, builder.getStringAttr(predicate)));
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

//===----------------------------------------------------------------------===//
// Emitters of the functions that take a `what` for their diagnostics
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

Value Elaborator::emitEmbedding(const Value &indices, mlir::Value w,
                               std::optional<int64_t> paddingIdx, StringRef what,
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
  IntegerAttr padAttr;
  if (paddingIdx) {
    int64_t rows = wt.getDimSize(0), pad = *paddingIdx;
    if (pad < 0 && !ShapedType::isDynamic(rows))
      pad += rows;
    if (pad < 0 || (!ShapedType::isDynamic(rows) && pad >= rows)) {
      error(loc) << fmt::format("{}: padding_idx {} is outside the table's {} rows", what.str(),
                                *paddingIdx, rows);
      return Value::poison();
    }
    padAttr = builder.getI64IntegerAttr(pad);
  }
  return Value::ofTensor(mdl::EmbeddingOp::create(
      builder, loc, tensorOf(*s, wt.getElementType()), indices.tensor, w, padAttr));
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


//===----------------------------------------------------------------------===//
// The table of built-in functions
//===----------------------------------------------------------------------===//
//
// Each built-in function is one row: its name, its signature with PyTorch's
// argument names and defaults, the handler that emits it and, for the math
// that also works on numbers, its compile-time value. Binding, compile-time
// math, the "did you mean" of an unknown function and the forwards of the
// built-in modules all read the table, so a new function is a new row.

namespace {

/// A call of a built-in function, its arguments bound to the signature.
struct FunctionCall {
  Elaborator &e;
  /// The callee as diagnostics name it: "softmax", or "Softmax" when that
  /// module's forward calls the function.
  StringRef what;
  llvm::StringMap<Value> &a;
  Location loc;

  const Value &input() { return a["input"]; }
  OpBuilder &builder() { return e.builder; }
  /// An optional tensor argument: the tensor, or null for none.
  mlir::Value optTensor(StringRef name) {
    return a[name].isTensor() ? a[name].tensor : mlir::Value();
  }
  std::optional<SmallVector<int64_t>> ints(StringRef name, size_t arity) {
    return e.toInts(a[name], arity, name, loc);
  }
  /// The dtype argument `name` (f64 or "f64"), or `dflt` when it is none;
  /// failure after reporting an unknown name.
  FailureOr<Type> dtype(StringRef name, Type dflt) {
    const Value &dt = a[name];
    if (dt.isNone())
      return dflt;
    if (dt.kind == Value::Kind::Str)
      return e.parseDType(dt.s, loc);
    return dt.dtype;
  }
  /// Reports a shape rule's refusal as "what: why".
  Value fail(StringRef why) {
    e.error(loc) << fmt::format("{}: {}", what.str(), why.str());
    return Value::poison();
  }
  /// The input, in f32 when it holds ints: PyTorch computes transcendental
  /// functions of int tensors in its default dtype.
  mlir::Value floatInput() {
    const Value &x = input();
    if (llvm::isa<FloatType>(x.type().getElementType()))
      return x.tensor;
    return e.castTo(x.tensor, builder().getF32Type(), loc);
  }
};

/// Emits a call whose arguments are bound and checked against the signature.
using Handler = std::function<Value(FunctionCall &)>;
/// The value of a call whose arguments are all numbers, so that compile-time
/// math works anywhere (`kaiming_uniform(a=sqrt(5))`); empty for functions of
/// tensors only.
using Fold = std::function<Value(ArrayRef<Value>)>;

struct BuiltinFunction {
  StringRef name;
  Signature signature;
  Handler emit;
  Fold fold;
};

/// What an elementwise function does with an int tensor: relu and abs keep
/// its dtype, the transcendental functions compute in f32 (as PyTorch's).
enum class IntInput { Keep, ToF32 };

/// What a reduction does with an int tensor, as PyTorch: mean and var refuse
/// it, sum accumulates in i64, amax keeps its dtype.
enum class IntReduce { Keep, Refuse, ToI64 };

} // namespace

/// A function of one tensor that maps each element with `OpTy`.
template <typename OpTy>
static BuiltinFunction elementwise(StringRef name, IntInput ints, Fold fold = nullptr) {
  Handler emit = [ints](FunctionCall &c) {
    if (!c.e.expectTensor(c.input(), c.what, c.loc))
      return Value::poison();
    mlir::Value t = ints == IntInput::ToF32 ? c.floatInput() : c.input().tensor;
    return Value::ofTensor(OpTy::create(c.builder(), c.loc, t.getType(), t));
  };
  return {name, {{"input", ArgType::Tensor, std::nullopt}}, std::move(emit), std::move(fold)};
}

/// The compile-time value of a function of one number.
static Fold math(double (*f)(double)) {
  return [f](ArrayRef<Value> v) { return Value::real(f(v[0].number())); };
}

static Value gelu(FunctionCall &c) {
  if (!c.e.expectTensor(c.input(), c.what, c.loc))
    return Value::poison();
  mlir::Value t = c.floatInput();
  StringRef approx = c.a["approximate"].s;
  if (approx != "none" && approx != "tanh") {
    c.e.error(c.loc) << fmt::format("approximate must be \"none\" or \"tanh\", but got \"{}\"",
                                    approx.str());
    return Value::poison();
  }
  return Value::ofTensor(mdl::GeluOp::create(c.builder(), c.loc, t.getType(), t,
                                             c.builder().getStringAttr(approx)));
}

static Value leakyRelu(FunctionCall &c) {
  if (!c.e.expectTensor(c.input(), c.what, c.loc))
    return Value::poison();
  mlir::Value t = c.floatInput();
  return Value::ofTensor(mdl::LeakyReluOp::create(
      c.builder(), c.loc, t.getType(), t, c.builder().getF64FloatAttr(c.a["negative_slope"].f)));
}

static Handler softmax(bool isLog) {
  return [isLog](FunctionCall &c) {
    std::optional<int64_t> dim;
    if (!c.a["dim"].isNone())
      dim = c.a["dim"].i;
    return c.e.emitSoftmax(c.input(), dim, isLog, c.what, c.loc);
  };
}

/// max_pool2d and avg_pool2d; the stride defaults to the kernel size.
static Handler pool2d(bool isMax) {
  return [isMax](FunctionCall &c) {
    auto kernel = c.ints("kernel_size", 2);
    auto stride = c.a["stride"].isNone() ? kernel : c.ints("stride", 2);
    auto padding = c.ints("padding", 2);
    if (!kernel || !stride || !padding)
      return Value::poison();
    bool countIncludePad = isMax || c.a["count_include_pad"].b;
    return c.e.emitPool(isMax, c.input(), *kernel, *stride, *padding, countIncludePad, c.what,
                        c.loc);
  };
}

static Value narrowOf(FunctionCall &c, const Value &x, int64_t dim, int64_t size, int64_t start,
                      int64_t length);

/// A convolution's padding per spatial dimension. padding="same" pads
/// dilation·(kernel - 1) in all, the odd one on the right as PyTorch does:
/// that is `pad` on both sides and the output's first element dropped
/// (`trimFirst`).
struct ConvPadding {
  SmallVector<int64_t> pad;
  SmallVector<bool> trimFirst;
};

static std::optional<ConvPadding> convPadding(FunctionCall &c, ArrayRef<int64_t> kernel,
                                              ArrayRef<int64_t> stride,
                                              ArrayRef<int64_t> dilation) {
  size_t rank = kernel.size();
  const Value &p = c.a["padding"];
  ConvPadding out{{}, SmallVector<bool>(rank, false)};
  if (p.kind != Value::Kind::Str) {
    auto v = c.ints("padding", rank);
    if (!v)
      return std::nullopt;
    out.pad = *v;
    return out;
  }
  if (p.s == "valid") {
    out.pad.assign(rank, 0);
    return out;
  }
  if (llvm::any_of(stride, [](int64_t v) { return v != 1; })) {
    c.fail("padding='same' is not supported for strided convolutions");
    return std::nullopt;
  }
  for (size_t i = 0; i < rank; ++i) {
    int64_t total = dilation[i] * (kernel[i] - 1);
    out.pad.push_back((total + 1) / 2);
    out.trimFirst[i] = total % 2;
  }
  return out;
}

/// y without the first element of each spatial dimension that `padding`
/// says to trim (spatial dimensions from 2, the last `trim.size()`).
static Value trimConvOutput(FunctionCall &c, const Value &y, ArrayRef<bool> trim) {
  Value out = y;
  for (auto [i, t] : llvm::enumerate(trim)) {
    if (!t || out.isPoison())
      continue;
    int64_t dim = out.type().getRank() - int64_t(trim.size()) + int64_t(i);
    int64_t size = out.type().getDimSize(dim);
    if (ShapedType::isDynamic(size))
      return c.fail("padding='same' with an even total padding needs the input's spatial sizes "
                    "at compile time");
    out = narrowOf(c, out, dim, size, 1, size - 1);
  }
  return out;
}

static Value conv2d(FunctionCall &c) {
  auto stride = c.ints("stride", 2), dilation = c.ints("dilation", 2);
  const Value &w = c.a["weight"];
  if (!stride || !dilation || !c.e.expectTensor(w, c.what, c.loc))
    return Value::poison();
  if (w.type().getRank() != 4)
    return c.fail(fmt::format("expects a 4-D weight [out, in / groups, kh, kw], but it has shape {}",
                              formatShape(w.type().getShape())));
  auto padding = convPadding(c, w.type().getShape().drop_front(2), *stride, *dilation);
  if (!padding)
    return Value::poison();
  Value y = c.e.emitConv2d(c.input(), w.tensor, c.optTensor("bias"), *stride, padding->pad,
                           *dilation, c.a["groups"].i, c.what, c.loc);
  return trimConvOutput(c, y, padding->trimFirst);
}

/// conv_transpose2d(x, weight [in, out / groups, kh, kw]): the gradient of
/// a conv2d with that weight with respect to its input (mdl.conv2d_grad_input),
/// whose output size (H - 1)·stride - 2·padding + dilation·(k - 1) +
/// output_padding + 1 PyTorch's formula gives.
static Value convTranspose2d(FunctionCall &c) {
  const Value &x = c.input(), &w = c.a["weight"];
  auto stride = c.ints("stride", 2), padding = c.ints("padding", 2),
       outPad = c.ints("output_padding", 2), dilation = c.ints("dilation", 2);
  int64_t groups = c.a["groups"].i;
  if (!stride || !padding || !outPad || !dilation || !c.e.expectTensor(x, c.what, c.loc) ||
      !c.e.expectTensor(w, c.what, c.loc))
    return Value::poison();
  auto xs = x.type().getShape(), ws = w.type().getShape();
  if (xs.size() != 4 || ws.size() != 4 || !w.type().hasStaticShape())
    return c.fail(fmt::format("expects a 4-D input [N, C, H, W] and a 4-D weight [in, out / "
                              "groups, kh, kw] of known sizes, but got {} and {}",
                              formatShape(xs), formatShape(ws)));
  if (groups <= 0 || ws[0] % groups)
    return c.fail(fmt::format("groups ({}) must be positive and divide the weight's {} input "
                              "channels",
                              groups, ws[0]));
  if (!ShapedType::isDynamic(xs[1]) && xs[1] != ws[0])
    return c.fail(fmt::format("expects {} input channels, but its input has {}", ws[0], xs[1]));
  if (ShapedType::isDynamic(xs[2]) || ShapedType::isDynamic(xs[3]))
    return c.fail("the input's height and width must be known at compile time");
  SmallVector<int64_t> shape = {xs[0], ws[1] * groups};
  for (int d = 0; d < 2; ++d) {
    int64_t s = (*stride)[d], p = (*padding)[d], op = (*outPad)[d], dl = (*dilation)[d];
    if (s <= 0 || dl <= 0 || p < 0)
      return c.fail("stride and dilation must be positive and padding non-negative");
    // PyTorch allows output_padding up to max(stride, dilation) - 1; past
    // the stride, the extra rows are out of reach of a conv2d over them, and
    // of this gradient.
    if (op < 0 || op >= s)
      return c.fail(fmt::format("output padding must be smaller than the stride (modelc), but "
                                "got output_padding={} and stride={}",
                                formatShape(*outPad), formatShape(*stride)));
    int64_t size = (xs[2 + d] - 1) * s - 2 * p + dl * (ws[2 + d] - 1) + op + 1;
    if (size <= 0)
      return c.fail(fmt::format("the output's {} would be {}", d ? "width" : "height", size));
    shape.push_back(size);
  }
  Type elt = w.type().getElementType();
  auto &b = c.builder();
  Value y = Value::ofTensor(mdl::Conv2dGradInputOp::create(
      b, c.loc, c.e.tensorOf(shape, elt), c.e.castTo(x.tensor, elt, c.loc), w.tensor,
      b.getDenseI64ArrayAttr(*stride), b.getDenseI64ArrayAttr(*padding),
      b.getDenseI64ArrayAttr(*dilation), b.getI64IntegerAttr(groups)));
  const Value &bias = c.a["bias"];
  if (bias.isNone())
    return y;
  if (bias.type().getRank() != 1 || bias.type().getDimSize(0) != shape[1])
    return c.fail(fmt::format("expects a bias of shape [{}], but got {}", shape[1],
                              bias.describe()));
  auto column = mdl::ReshapeOp::create(b, c.loc, c.e.tensorOf({1, shape[1], 1, 1}, elt),
                                       bias.tensor, b.getDenseI64ArrayAttr({1, shape[1], 1, 1}));
  return c.e.binary(ast::BinaryOp::Add, y, Value::ofTensor(column), c.loc);
}

/// `x` reshaped to `dims` (one of them may be -1).
static Value reshapeTo(FunctionCall &c, const Value &x, ArrayRef<int64_t> dims) {
  std::string why;
  auto s = shape::reshape(x.type().getShape(), dims, why);
  if (failed(s))
    return c.fail(why);
  return Value::ofTensor(mdl::ReshapeOp::create(c.builder(), c.loc,
                                                c.e.tensorOf(*s, x.type().getElementType()),
                                                x.tensor, c.builder().getDenseI64ArrayAttr(dims)));
}

/// reshape and view: a size known only at run time in the shape is the one
/// reshape infers (-1).
static Value reshape(FunctionCall &c) {
  SmallVector<int64_t> dims = *c.ints("shape", 0);
  for (int64_t &d : dims)
    if (ShapedType::isDynamic(d))
      d = -1;
  return reshapeTo(c, c.input(), dims);
}

/// x broadcast to `shape`: where(true, x, x) over a constant true of the
/// target's static sizes (1 where a size is -1 or run-time), which works for
/// every dtype and is differentiated as a sum over the broadcast dims.
static Value broadcastTo(FunctionCall &c, const Value &x, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> maskShape;
  for (int64_t d : shape)
    maskShape.push_back(d < 0 || ShapedType::isDynamic(d) ? 1 : d);
  std::optional<int64_t> n = shape::numElements(maskShape);
  if (!n || *n > c.e.maxConstantElements)
    return c.fail("the expanded shape is larger than modelc supports");
  mlir::Value mask = c.e.splat(1.0, c.e.tensorOf(maskShape, c.builder().getI1Type()), c.loc);
  std::string why;
  auto s = shape::broadcast(maskShape, x.type().getShape(), why);
  if (failed(s))
    return c.fail(why);
  return Value::ofTensor(mdl::WhereOp::create(c.builder(), c.loc,
                                              c.e.tensorOf(*s, x.type().getElementType()), mask,
                                              x.tensor, x.tensor));
}

/// x.expand(sizes): size-1 dims stretched, -1 (or a run-time size) kept; new
/// leading dims may be added, as PyTorch's.
static Value expand(FunctionCall &c) {
  const Value &x = c.input();
  SmallVector<int64_t> want = *c.ints("size", 0);
  auto xs = x.type().getShape();
  if (want.size() < xs.size())
    return c.fail(fmt::format("the number of sizes ({}) must be at least the input's rank ({})",
                              want.size(), xs.size()));
  size_t lead = want.size() - xs.size();
  for (size_t i = 0; i < want.size(); ++i) {
    // A size known only at run time keeps one that the input has at run
    // time too; it cannot stretch a 1 (the broadcast needs the size).
    if (ShapedType::isDynamic(want[i])) {
      if (i < lead || !ShapedType::isDynamic(xs[i - lead]))
        return c.fail(fmt::format("dimension {} is expanded to a size known only at run time, "
                                  "which needs the input's size there to be that one (known "
                                  "only at run time too), but it is {}",
                                  i, i < lead ? "new" : std::to_string(xs[i - lead])));
      want[i] = -1;
    }
    if (want[i] == -1) {
      if (i < lead)
        return c.fail("-1 is not allowed for a new leading dimension");
      continue;
    }
    if (want[i] < 0)
      return c.fail(fmt::format("size {} is negative", want[i]));
    if (i >= lead) {
      int64_t have = xs[i - lead];
      if (have != 1 && have != want[i] && !ShapedType::isDynamic(have))
        return c.fail(fmt::format("the size {} of dimension {} cannot be expanded to {}; only "
                                  "sizes of 1 can",
                                  have, i - lead, want[i]));
    }
  }
  return broadcastTo(c, x, want);
}

/// x.repeat(counts): tiles as [r0·s0, r1·s1, ...] by viewing x as
/// [1, s0, 1, s1, ...], expanding the 1s to the counts and viewing the
/// result flat.
static Value repeat(FunctionCall &c) {
  const Value &x = c.input();
  SmallVector<int64_t> reps = *c.ints("repeats", 0);
  auto xs = x.type().getShape();
  if (reps.size() < xs.size())
    return c.fail(fmt::format("the number of repeats ({}) must be at least the input's rank ({})",
                              reps.size(), xs.size()));
  if (llvm::any_of(reps, [](int64_t r) { return r < 0; }))
    return c.fail("repeats must not be negative");
  SmallVector<int64_t> sizes(reps.size() - xs.size(), 1);
  sizes.append(xs.begin(), xs.end());
  if (llvm::count(sizes, ShapedType::kDynamic) > 1)
    return c.fail("an input with more than one size known only at run time is not supported");
  SmallVector<int64_t> interleaved, expanded, flat;
  for (auto [r, s] : llvm::zip(reps, sizes)) {
    int64_t dim = ShapedType::isDynamic(s) ? -1 : s;
    interleaved.append({1, dim});
    expanded.append({r, dim});
    flat.push_back(dim < 0 ? -1 : r * dim);
  }
  Value v = reshapeTo(c, x, interleaved);
  if (v.isPoison())
    return v;
  v = broadcastTo(c, v, expanded);
  return v.isPoison() ? v : reshapeTo(c, v, flat);
}

/// The 1-D convolutions and poolings run as the 2-D ones on a height of 1:
/// [N, C, L] as [N, C, 1, L], the kernel [O, C/g, K] as [O, C/g, 1, K]
/// (views: no data moves), and the result back to [N, O, L'].
/// `shape` with one dimension inserted at `at` (a size of -1 where the
/// shape is known only at run time; at most one such size).
static std::optional<SmallVector<int64_t>> withUnitDim(FunctionCall &c, const Value &x,
                                                       size_t at, bool drop) {
  SmallVector<int64_t> dims(x.type().getShape());
  if (drop)
    dims.erase(dims.begin() + at);
  else
    dims.insert(dims.begin() + at, 1);
  if (llvm::count(dims, ShapedType::kDynamic) > 1) {
    c.e.error(c.loc) << fmt::format("{}: an input {} with more than one size known only at run "
                                    "time is not supported; give all but one a size",
                                    c.what.str(), formatShape(x.type().getShape()));
    return std::nullopt;
  }
  for (int64_t &d : dims)
    if (ShapedType::isDynamic(d))
      d = -1;
  return dims;
}

static std::optional<Value> as2d(FunctionCall &c, const Value &x) {
  if (!c.e.expectTensor(x, c.what, c.loc))
    return std::nullopt;
  if (x.type().getRank() != 3) {
    c.e.error(c.loc) << fmt::format("{} expects a 3-D input [N, C, L], but its input has shape {}",
                                    c.what.str(), formatShape(x.type().getShape()));
    return std::nullopt;
  }
  auto dims = withUnitDim(c, x, 2, /*drop=*/false);
  if (!dims)
    return std::nullopt;
  return reshapeTo(c, x, *dims);
}

static Value as1d(FunctionCall &c, const Value &y) {
  if (y.isPoison())
    return y;
  auto dims = withUnitDim(c, y, 2, /*drop=*/true);
  return dims ? reshapeTo(c, y, *dims) : Value::poison();
}

//===- Shapes: unsqueeze, squeeze, size, pixel_shuffle -----------------------===//

/// `dim` of a tensor of `rank` (negative from the end), or an error.
static std::optional<int64_t> normalizedDim(FunctionCall &c, int64_t dim, int64_t rank) {
  if (dim < -rank || dim >= rank) {
    c.e.error(c.loc) << fmt::format("{}: dimension {} is out of range for rank {}", c.what.str(),
                                    dim, rank);
    return std::nullopt;
  }
  return dim < 0 ? dim + rank : dim;
}

static Value unsqueeze(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  auto d = normalizedDim(c, c.a["dim"].i, x.type().getRank() + 1);
  if (!d)
    return Value::poison();
  auto dims = withUnitDim(c, x, *d, /*drop=*/false);
  return dims ? reshapeTo(c, x, *dims) : Value::poison();
}

/// squeeze(x): every dimension of size 1 goes; squeeze(x, d): d if its size is 1.
static Value squeeze(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  ArrayRef<int64_t> shape = x.type().getShape();
  SmallVector<int64_t> keep;
  std::optional<int64_t> only;
  if (!c.a["dim"].isNone()) {
    only = normalizedDim(c, c.a["dim"].i, x.type().getRank());
    if (!only)
      return Value::poison();
  }
  for (auto [i, size] : llvm::enumerate(shape))
    if (size != 1 || (only && int64_t(i) != *only))
      keep.push_back(size);
  if (keep.size() == shape.size())
    return x;
  if (llvm::count(keep, ShapedType::kDynamic) > 1) {
    c.e.error(c.loc) << fmt::format("{}: {} has more than one size known only at run time",
                                    c.what.str(), x.describe());
    return Value::poison();
  }
  for (int64_t &s : keep)
    if (ShapedType::isDynamic(s))
      s = -1;
  return reshapeTo(c, x, keep);
}

/// size(x, d): a size known at compile time, as an int.
static Value sizeOf(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  auto d = normalizedDim(c, c.a["dim"].i, x.type().getRank());
  if (!d)
    return Value::poison();
  int64_t size = x.type().getDimSize(*d);
  if (ShapedType::isDynamic(size))
    return Value::runtimeSize(fmt::format("size({})", *d));
  return Value::integer(size);
}

/// pixel_shuffle(x, r): [N, C r², H, W] -> [N, C, H r, W r], as a reshape to
/// [N, C, r, r, H, W], a permutation to [N, C, H, r, W, r] and a reshape.
static Value pixelShuffle(FunctionCall &c) {
  const Value &x = c.input();
  int64_t r = c.a["upscale_factor"].i;
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  ArrayRef<int64_t> s = x.type().getShape();
  if (s.size() != 4 || r <= 0 || llvm::any_of(s.drop_front(), ShapedType::isDynamic) ||
      s[1] % (r * r)) {
    c.e.error(c.loc) << fmt::format("{} expects [N, C * {}², H, W] with known C, H and W, but "
                                    "got {}",
                                    c.what.str(), r, x.describe());
    return Value::poison();
  }
  int64_t ch = s[1] / (r * r);
  Value y = reshapeTo(c, x, {-1, ch, r, r, s[2], s[3]});
  if (y.isPoison())
    return y;
  y = Value::ofTensor(mdl::PermuteOp::create(
      c.builder(), c.loc,
      c.e.tensorOf({y.type().getDimSize(0), ch, s[2], r, s[3], r}, x.type().getElementType()),
      y.tensor, c.builder().getDenseI64ArrayAttr({0, 1, 4, 2, 5, 3})));
  return reshapeTo(c, y, {-1, ch, s[2] * r, s[3] * r});
}

/// The [out, in] matrix that resamples one dimension of size `in` to `out`
/// as PyTorch's upsample kernels do, in float as they compute: nearest takes
/// floor(dst · scale); bilinear weighs the two neighbours of scale · (dst +
/// 0.5) - 0.5 (clamped at 0), or of dst · (in - 1) / (out - 1) with
/// align_corners. `scale` is in / out, or 1 / scale_factor when one was given.
static std::vector<float> resampleMatrix(int64_t in, int64_t out, bool bilinear,
                                         bool alignCorners, float scale) {
  std::vector<float> m(size_t(out * in), 0.0f);
  for (int64_t o = 0; o < out; ++o) {
    float *row = &m[size_t(o * in)];
    if (!bilinear) {
      row[std::min<int64_t>(int64_t(std::floor(float(o) * scale)), in - 1)] = 1.0f;
      continue;
    }
    float src;
    if (alignCorners)
      src = out > 1 ? float(o) * (float(in - 1) / float(out - 1)) : 0.0f;
    else
      src = std::max(scale * (float(o) + 0.5f) - 0.5f, 0.0f);
    auto i0 = std::min<int64_t>(int64_t(src), in - 1);
    int64_t i1 = std::min<int64_t>(i0 + 1, in - 1);
    float lambda = src - float(i0);
    row[i0] += 1.0f - lambda;
    row[i1] += lambda;
  }
  return m;
}

/// interpolate(x, size, scale_factor, mode, align_corners) of [N, C, H, W].
/// Nearest by whole factors is [N, C, H, 1, W, 1] plus zeros of
/// [1, 1, 1, sh, 1, sw] (a broadcast: each value repeated), reshaped to
/// [N, C, H sh, W sw]; its gradient sums each block, as PyTorch's. Other
/// sizes, and bilinear, multiply by a constant resampling matrix on each
/// side: A_h · x · A_wᵀ, differentiated as matmuls.
static Value interpolate(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  StringRef mode = c.a["mode"].s;
  if (mode != "nearest" && mode != "bilinear")
    return c.fail(fmt::format("mode \"{}\" is not supported yet (nearest, bilinear)", mode.str()));
  bool bilinear = mode == "bilinear";
  const Value &ac = c.a["align_corners"];
  if (!ac.isNone() && ac.kind != Value::Kind::Bool)
    return c.fail(fmt::format("align_corners must be a bool or none, but got {}", ac.describe()));
  if (!bilinear && !ac.isNone())
    return c.fail("align_corners can only be set with the interpolating modes (bilinear)");
  bool alignCorners = !ac.isNone() && ac.b;
  ArrayRef<int64_t> s = x.type().getShape();
  if (s.size() != 4 || ShapedType::isDynamic(s[1]) || ShapedType::isDynamic(s[2]) ||
      ShapedType::isDynamic(s[3]))
    return c.fail(fmt::format("expects [N, C, H, W] with known C, H and W, but got {}",
                              x.describe()));
  SmallVector<int64_t> out;
  SmallVector<float> scales;
  if (!c.a["size"].isNone()) {
    if (!c.a["scale_factor"].isNone())
      return c.fail("only one of size or scale_factor should be defined");
    auto size = c.ints("size", 2);
    if (!size)
      return Value::poison();
    for (int d = 0; d < 2; ++d) {
      if ((*size)[d] <= 0)
        return c.fail(fmt::format("size must be positive, but got {}", formatShape(*size)));
      out.push_back((*size)[d]);
      scales.push_back(float(s[2 + d]) / float((*size)[d]));
    }
  } else if (!c.a["scale_factor"].isNone()) {
    const Value &f = c.a["scale_factor"];
    std::vector<Value> items = f.kind == Value::Kind::List ? f.elems : std::vector<Value>{f, f};
    if (items.size() != 2)
      return c.fail("scale_factor takes one number or two");
    for (auto [d, v] : llvm::enumerate(items)) {
      double factor = v.isNumber() && v.kind != Value::Kind::Bool ? v.number() : 0;
      double scaled = std::floor(double(s[2 + d]) * factor);
      int64_t size = scaled >= 1 && scaled < 0x1p62 ? int64_t(scaled) : 0;
      if (!(factor > 0) || size <= 0)
        return c.fail("scale_factor must be positive and give each output size from 1 to 2^62");
      out.push_back(size);
      scales.push_back(float(1.0 / factor));
    }
  } else {
    return c.fail("needs size or scale_factor");
  }
  if (out[0] * s[2] > c.e.maxConstantElements || out[1] * s[3] > c.e.maxConstantElements)
    return c.fail(fmt::format("the output size {} is larger than modelc supports",
                              formatShape(out)));
  Value xf = Value::ofTensor(c.floatInput());
  bool whole = !bilinear && out[0] % s[2] == 0 && out[1] % s[3] == 0 &&
               scales[0] == float(s[2]) / float(out[0]) && scales[1] == float(s[3]) / float(out[1]);
  if (whole) {
    int64_t fh = out[0] / s[2], fw = out[1] / s[3];
    Value y = reshapeTo(c, xf, {-1, s[1], s[2], 1, s[3], 1});
    if (y.isPoison())
      return y;
    Value zeros = Value::ofTensor(c.e.denseF32({1, 1, 1, fh, 1, fw},
                                               std::vector<float>(size_t(fh * fw), 0.0f), c.loc));
    y = c.e.binary(ast::BinaryOp::Add, y, zeros, c.loc);
    return reshapeTo(c, y, {-1, s[1], out[0], out[1]});
  }
  std::vector<float> ah = resampleMatrix(s[2], out[0], bilinear, alignCorners, scales[0]);
  std::vector<float> aw = resampleMatrix(s[3], out[1], bilinear, alignCorners, scales[1]);
  std::vector<float> awT(aw.size());
  for (int64_t o = 0; o < out[1]; ++o)
    for (int64_t i = 0; i < s[3]; ++i)
      awT[size_t(i * out[1] + o)] = aw[size_t(o * s[3] + i)];
  Value y = c.e.binary(ast::BinaryOp::MatMul, xf,
                       Value::ofTensor(c.e.denseF32({s[3], out[1]}, awT, c.loc)), c.loc);
  if (y.isPoison())
    return y;
  return c.e.binary(ast::BinaryOp::MatMul, Value::ofTensor(c.e.denseF32({out[0], s[2]}, ah, c.loc)),
                    y, c.loc);
}

//===- Slicing: narrow, select, chunk, split, unbind ------------------------===//
// All of them are slices along one dimension (mdl.slice, a view when the
// layout allows), with PyTorch's negative indices; the dimension sliced must
// have a size known at compile time.

/// The dimension `dim` of x (negative from the end) with its size, or an
/// error naming the function.
static std::optional<std::pair<int64_t, int64_t>> sliceDim(FunctionCall &c, const Value &x,
                                                           int64_t dim) {
  if (!c.e.expectTensor(x, c.what, c.loc))
    return std::nullopt;
  int64_t rank = x.type().getRank();
  if (dim < -rank || dim >= rank || rank == 0) {
    c.e.error(c.loc) << fmt::format("{}: dimension {} is out of range for {}", c.what.str(), dim,
                                    x.describe());
    return std::nullopt;
  }
  if (dim < 0)
    dim += rank;
  int64_t size = x.type().getDimSize(dim);
  if (ShapedType::isDynamic(size)) {
    c.e.error(c.loc) << fmt::format("{}: dimension {} of {} has a size known only at run time; "
                                    "only dimensions of known size can be sliced",
                                    c.what.str(), dim, x.describe());
    return std::nullopt;
  }
  return std::make_pair(dim, size);
}

/// x.narrow(dim, start, length), all checked.
static Value narrowOf(FunctionCall &c, const Value &x, int64_t dim, int64_t size, int64_t start,
                      int64_t length) {
  if (start < 0 || length < 0 || start + length > size) {
    c.e.error(c.loc) << fmt::format("{}: [{}, {}) is out of range for dimension {} of size {}",
                                    c.what.str(), start, start + length, dim, size);
    return Value::poison();
  }
  if (start == 0 && length == size)
    return x;
  SmallVector<int64_t> shape(x.type().getShape());
  shape[dim] = length;
  return Value::ofTensor(mdl::SliceOp::create(c.builder(), c.loc,
                                              c.e.tensorOf(shape, x.type().getElementType()),
                                              x.tensor, dim, start));
}

static Value narrow(FunctionCall &c) {
  auto d = sliceDim(c, c.input(), c.a["dim"].i);
  if (!d)
    return Value::poison();
  int64_t start = c.a["start"].i;
  if (start < 0)
    start += d->second;
  return narrowOf(c, c.input(), d->first, d->second, start, c.a["length"].i);
}

/// x.select(dim, index): the slice of length 1, without that dimension.
static Value selectOf(FunctionCall &c, const Value &x, int64_t dim, int64_t size, int64_t index) {
  if (index < -size || index >= size) {
    c.e.error(c.loc) << fmt::format("{}: index {} is out of range for dimension {} of size {}",
                                    c.what.str(), index, dim, size);
    return Value::poison();
  }
  Value one = narrowOf(c, x, dim, size, index < 0 ? index + size : index, 1);
  if (one.isPoison())
    return one;
  auto dims = withUnitDim(c, one, dim, /*drop=*/true);
  return dims ? reshapeTo(c, one, *dims) : Value::poison();
}

static Value select(FunctionCall &c) {
  auto d = sliceDim(c, c.input(), c.a["dim"].i);
  return d ? selectOf(c, c.input(), d->first, d->second, c.a["index"].i) : Value::poison();
}

/// Slices of `sizes` one after the other along `dim`, as a list.
static Value pieces(FunctionCall &c, const Value &x, int64_t dim, int64_t size,
                    ArrayRef<int64_t> sizes) {
  std::vector<Value> out;
  int64_t start = 0;
  for (int64_t n : sizes) {
    out.push_back(narrowOf(c, x, dim, size, start, n));
    if (out.back().isPoison())
      return Value::poison();
    start += n;
  }
  return Value::list(std::move(out));
}

static Value chunk(FunctionCall &c) {
  auto d = sliceDim(c, c.input(), c.a["dim"].i);
  int64_t chunks = c.a["chunks"].i;
  if (!d)
    return Value::poison();
  if (chunks <= 0) {
    c.e.error(c.loc) << fmt::format("{}: chunks must be positive, but got {}", c.what.str(),
                                    chunks);
    return Value::poison();
  }
  // PyTorch's: pieces of ceil(size / chunks), the last one smaller (and
  // fewer pieces than asked when they run out).
  int64_t each = std::max<int64_t>(1, (d->second + chunks - 1) / chunks);
  SmallVector<int64_t> sizes;
  for (int64_t left = d->second; left > 0; left -= each)
    sizes.push_back(std::min(each, left));
  return pieces(c, c.input(), d->first, d->second, sizes);
}

static Value split(FunctionCall &c) {
  auto d = sliceDim(c, c.input(), c.a["dim"].i);
  if (!d)
    return Value::poison();
  const Value &by = c.a["split_size_or_sections"];
  SmallVector<int64_t> sizes;
  if (by.kind == Value::Kind::Int) {
    if (by.i <= 0) {
      c.e.error(c.loc) << fmt::format("{}: split_size must be positive, but got {}",
                                      c.what.str(), by.i);
      return Value::poison();
    }
    for (int64_t left = d->second; left > 0; left -= by.i)
      sizes.push_back(std::min(by.i, left));
  } else {
    auto list = c.ints("split_size_or_sections", 0);
    if (!list)
      return Value::poison();
    int64_t total = 0;
    for (int64_t n : *list)
      total += n;
    if (total != d->second || llvm::any_of(*list, [](int64_t n) { return n < 0; })) {
      c.e.error(c.loc) << fmt::format("{}: sections {} do not add up to dimension {} of size {}",
                                      c.what.str(), formatShape(*list), d->first, d->second);
      return Value::poison();
    }
    sizes = *list;
  }
  return pieces(c, c.input(), d->first, d->second, sizes);
}

static Value unbind(FunctionCall &c) {
  auto d = sliceDim(c, c.input(), c.a["dim"].i);
  if (!d)
    return Value::poison();
  std::vector<Value> out;
  for (int64_t i = 0; i < d->second; ++i) {
    out.push_back(selectOf(c, c.input(), d->first, d->second, i));
    if (out.back().isPoison())
      return Value::poison();
  }
  return Value::list(std::move(out));
}

std::optional<Value> Elaborator::indexValue(const ast::ExprPtr &e, StringRef what,
                                            bool sliceBound, Env &env) {
  if (!e)
    return Value::none();
  Value v = evaluate(*e, env);
  if (v.isPoison())
    return std::nullopt;
  if (v.kind != Value::Kind::Int && !(sliceBound && v.isNone())) {
    error(e->getLoc()) << fmt::format("{} must be an integer known at compile time, but got {}",
                                      what.str(), v.describe());
    return std::nullopt;
  }
  return v;
}

Value Elaborator::emitIndex(const Value &x, const ast::IndexExpr &ix, Env &env) {
  mlir::Location loc = ix.getLoc();
  int64_t rank = x.type().getRank();
  int64_t explicitDims = 0, ellipses = 0;
  for (const ast::IndexItem &item : ix.items)
    (item.kind == ast::IndexItem::Kind::Ellipsis ? ellipses : explicitDims) += 1;
  if (ellipses > 1) {
    error(loc) << "an index can only have a single ellipsis ('...')";
    return Value::poison();
  }
  if (explicitDims > rank) {
    error(loc) << fmt::format("too many indices ({}) for {}", explicitDims, x.describe());
    return Value::poison();
  }
  auto apply = [&](StringRef fn, std::initializer_list<std::pair<StringRef, Value>> args,
                   mlir::Location at) { return applyFunction(fn, "indexing", args, at); };
  Value cur = x;
  int64_t dim = 0;
  for (const ast::IndexItem &item : ix.items) {
    if (cur.isPoison())
      return cur;
    switch (item.kind) {
    case ast::IndexItem::Kind::Ellipsis:
      dim += rank - explicitDims;
      break;
    case ast::IndexItem::Kind::Index: {
      auto index = indexValue(item.index, "an index", /*sliceBound=*/false, env);
      if (!index)
        return Value::poison();
      // The dimension goes away: the next item indexes the one after it.
      cur = apply("select", {{"input", cur}, {"dim", Value::integer(dim)}, {"index", *index}},
                  item.loc);
      break;
    }
    case ast::IndexItem::Kind::Slice: {
      auto start = indexValue(item.start, "a slice's start", /*sliceBound=*/true, env);
      auto stop = indexValue(item.stop, "a slice's stop", /*sliceBound=*/true, env);
      auto step = indexValue(item.step, "a slice's step", /*sliceBound=*/true, env);
      if (!start || !stop || !step)
        return Value::poison();
      int64_t stride = step->isNone() ? 1 : step->i;
      if (stride <= 0) {
        error(item.loc) << fmt::format("a slice's step must be positive, but got {}", stride);
        return Value::poison();
      }
      if (start->isNone() && stop->isNone() && stride == 1) { // ':' keeps the dimension
        ++dim;
        break;
      }
      int64_t size = cur.type().getDimSize(dim);
      if (ShapedType::isDynamic(size)) {
        error(item.loc) << fmt::format("indexing: dimension {} of {} has a size known only at "
                                       "run time; only dimensions of known size can be sliced",
                                       dim, cur.describe());
        return Value::poison();
      }
      // Python's bounds: negative from the end, then clamped to the size.
      auto bound = [&](const Value &v, int64_t dflt) {
        int64_t b = v.isNone() ? dflt : v.i;
        if (b < 0)
          b += size;
        return std::clamp<int64_t>(b, 0, size);
      };
      int64_t from = bound(*start, 0), to = bound(*stop, size);
      int64_t length = std::max<int64_t>(0, to - from);
      auto narrowTo = [&](const Value &v, int64_t at, int64_t n) {
        return apply("narrow",
                     {{"input", v}, {"dim", Value::integer(dim)}, {"start", Value::integer(at)},
                      {"length", Value::integer(n)}},
                     item.loc);
      };
      if (stride == 1) {
        cur = narrowTo(cur, from, length);
        ++dim;
        break;
      }
      // A step s: the n = ceil(length / s) elements are the first of each
      // group of s, [.., n, s, ..] taken at 0 along s; when the last group
      // is short, that element is cut out alone and appended.
      int64_t n = (length + stride - 1) / stride;
      int64_t whole = std::min(n, (size - from) / stride);
      std::vector<Value> parts;
      if (whole > 0) {
        Value groups = narrowTo(cur, from, whole * stride);
        SmallVector<int64_t> shape(groups.type().getShape());
        shape[dim] = whole;
        shape.insert(shape.begin() + dim + 1, stride);
        if (llvm::count(shape, ShapedType::kDynamic) > 1) {
          error(item.loc) << fmt::format("indexing with a step: {} has more than one size known "
                                         "only at run time",
                                         cur.describe());
          return Value::poison();
        }
        for (int64_t &d : shape)
          if (ShapedType::isDynamic(d))
            d = -1;
        Value split = apply("reshape", {{"input", groups}, {"shape", Value::ints(shape)}},
                            item.loc);
        parts.push_back(apply("select",
                              {{"input", split}, {"dim", Value::integer(dim + 1)},
                               {"index", Value::integer(0)}},
                              item.loc));
      }
      if (whole < n)
        parts.push_back(narrowTo(cur, from + whole * stride, 1));
      cur = parts.size() == 1 ? parts.front()
                              : apply("cat", {{"tensors", Value::list(parts)},
                                              {"dim", Value::integer(dim)}},
                                      item.loc);
      ++dim;
      break;
    }
    }
  }
  return cur;
}

/// scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal,
/// scale), as PyTorch's reference (math) implementation: softmax(q k^T *
/// scale + bias) v, the bias from attn_mask (added when float; where a bool
/// mask is false, a large negative number that softmax makes an exact 0) and
/// from is_causal (-inf above the diagonal, as PyTorch's tril). The scores
/// are materialized: memory grows as L * S.
static Value attention(FunctionCall &c) {
  const Value &q = c.a["query"], &k = c.a["key"], &v = c.a["value"];
  for (const Value *t : {&q, &k, &v})
    if (!c.e.expectTensor(*t, c.what, c.loc))
      return Value::poison();
  ArrayRef<int64_t> qs = q.type().getShape(), ks = k.type().getShape();
  if (qs.size() < 2 || ks.size() < 2 || v.type().getRank() < 2) {
    c.e.error(c.loc) << fmt::format("{} expects query, key and value of at least 2 dimensions "
                                    "[..., L, E], but got {}, {} and {}",
                                    c.what.str(), q.describe(), k.describe(), v.describe());
    return Value::poison();
  }
  double scale;
  if (c.a["scale"].isNone()) {
    if (ShapedType::isDynamic(qs.back())) {
      c.e.error(c.loc) << fmt::format("{}: the default scale needs the query's last size",
                                      c.what.str());
      return Value::poison();
    }
    scale = 1.0 / std::sqrt(double(qs.back()));
  } else {
    scale = c.a["scale"].f;
  }
  bool causal = c.a["is_causal"].b;
  int64_t l = qs[qs.size() - 2], s = ks[ks.size() - 2];
  int64_t sv = v.type().getDimSize(v.type().getRank() - 2);
  if (!ShapedType::isDynamic(s) && !ShapedType::isDynamic(sv) && s != sv) {
    c.e.error(c.loc) << fmt::format("{}: the key's length ({}) and the value's ({}) must be "
                                    "equal",
                                    c.what.str(), s, sv);
    return Value::poison();
  }
  if (causal && ShapedType::isDynamic(sv)) {
    c.e.error(c.loc) << fmt::format("{}: is_causal needs the value's length known at compile "
                                    "time",
                                    c.what.str());
    return Value::poison();
  }
  if (causal && (ShapedType::isDynamic(l) || ShapedType::isDynamic(s))) {
    c.e.error(c.loc) << fmt::format("{}: is_causal needs the query's and key's lengths known at "
                                    "compile time",
                                    c.what.str());
    return Value::poison();
  }
  const Value &mask = c.a["attn_mask"];
  double p = c.a["dropout_p"].f;
  auto narrowed = [&](const Value &x, int64_t dim, int64_t start, int64_t length) {
    int64_t size = x.type().getDimSize(x.type().getRank() + dim);
    if (start == 0 && length == size)
      return x;
    return narrowOf(c, x, x.type().getRank() + dim, size, start, length);
  };
  // The queries [r0, r0 + rows) against the keys [0, keys).
  auto block = [&](int64_t r0, int64_t rows, int64_t keys) -> Value {
    Value qb = rows == l ? q : narrowed(q, -2, r0, rows);
    Value kb = keys == s ? k : narrowed(k, -2, 0, keys);
    Value vb = keys == s ? v : narrowed(v, -2, 0, keys);
    Value kt = c.e.applyFunction("transpose", c.what,
                                 {{"input", kb}, {"dim0", Value::integer(-2)},
                                  {"dim1", Value::integer(-1)}},
                                 c.loc);
    Value scores = c.e.binary(ast::BinaryOp::MatMul, qb, kt, c.loc);
    scores = c.e.binary(ast::BinaryOp::Mul, scores, Value::real(scale), c.loc);
    if (scores.isPoison())
      return scores;
    if (causal)
      scores = c.e.binary(ast::BinaryOp::Add, scores,
                          Value::ofTensor(c.e.causalBias(rows, keys, r0, c.loc)), c.loc);
    if (!mask.isNone()) {
      // The mask's rows and columns of this block (where it has them).
      Value m = mask;
      if (m.type().getRank() >= 2 && m.type().getDimSize(m.type().getRank() - 2) == l)
        m = narrowed(m, -2, r0, rows);
      if (m.type().getRank() >= 1 && m.type().getDimSize(m.type().getRank() - 1) == s)
        m = narrowed(m, -1, 0, keys);
      Value bias = m;
      if (m.type().getElementType().isInteger(1)) {
        // true: attend (0), false: -3e38, which no score can lift.
        Value f = Value::ofTensor(c.e.castTo(m.tensor, c.builder().getF32Type(), c.loc));
        bias = c.e.binary(ast::BinaryOp::Mul, c.e.binary(ast::BinaryOp::Sub, f, Value::real(1), c.loc),
                          Value::real(3.0e38), c.loc);
      }
      scores = c.e.binary(ast::BinaryOp::Add, scores, bias, c.loc);
    }
    if (scores.isPoison())
      return scores;
    Value weights = c.e.emitSoftmax(scores, -1, /*isLog=*/false, c.what, c.loc);
    if (p > 0 && c.e.training)
      weights = c.e.emitDropout(weights, p, /*active=*/true, c.loc);
    return c.e.binary(ast::BinaryOp::MatMul, weights, vb, c.loc);
  };
  // Long sequences: in evaluation mode (forward, and a loss trained in
  // evaluation mode, whose backward recomputes the weights), one
  // mdl.attention, which the CPU computes as
  // flash attention (-mdl-attention-to-linalg): blocks of queries and keys
  // with an online softmax, memory O(L). It takes static lengths and
  // widths, the same leading dimensions for all three, at most one of them
  // known only at run time (MLIR 22's expand-strided-metadata crashes on
  // the [?, ?] the flattened batch would expand back to); a mask goes the
  // way below.
  constexpr int64_t kBlockScores = 1 << 16;
  bool byBlocks = !ShapedType::isDynamic(l) && !ShapedType::isDynamic(s) &&
                  l * s > kBlockScores && l >= 32;
  ArrayRef<int64_t> vs = v.type().getShape();
  auto f32 = [](const Value &x) { return x.type().getElementType().isF32(); };
  auto known = [](ArrayRef<int64_t> shape) {
    return !llvm::any_of(shape.take_back(2), ShapedType::isDynamic);
  };
  if (byBlocks && !c.e.training && mask.isNone() &&
      qs.size() == ks.size() && qs.size() == vs.size() && qs.drop_back(2) == ks.drop_back(2) &&
      qs.drop_back(2) == vs.drop_back(2) && known(qs) && known(ks) && known(vs) &&
      qs.back() == ks.back() && ks[ks.size() - 2] == vs[vs.size() - 2] &&
      llvm::count(qs.drop_back(2), ShapedType::kDynamic) <= 1 && f32(q) && f32(k) && f32(v)) {
    SmallVector<int64_t> shape(qs.drop_back());
    shape.push_back(vs.back());
    OpBuilder &b = c.builder();
    return Value::ofTensor(mdl::AttentionOp::create(
        b, c.loc, RankedTensorType::get(shape, b.getF32Type()), q.tensor, k.tensor, v.tensor,
        b.getF64FloatAttr(scale), causal ? b.getUnitAttr() : nullptr));
  }
  // Otherwise (training mode, a mask) long sequences go by blocks of queries, so
  // that the scores held at once are [rows, S] rather than [L, S]: memory
  // O(L) as flash attention's (not its online softmax: each block's rows
  // are whole). A causal block needs the keys up to its last query only,
  // which halves the work.
  if (!byBlocks)
    return block(0, l, causal ? std::min(l, s) : s);
  int64_t rows = std::max<int64_t>(16, kBlockScores / s / 16 * 16);
  std::vector<Value> parts;
  for (int64_t r0 = 0; r0 < l; r0 += rows) {
    int64_t n = std::min(rows, l - r0);
    parts.push_back(block(r0, n, causal ? std::min(s, r0 + n) : s));
    if (parts.back().isPoison())
      return parts.back();
  }
  return c.e.applyFunction("cat", c.what,
                           {{"tensors", Value::list(std::move(parts))},
                            {"dim", Value::integer(-2)}},
                           c.loc);
}

/// `v` ([C]) as [C, 1, ..., 1] for an input of `rank`: per channel
/// (dimension 1), broadcast over the rest.
static Value perChannel(FunctionCall &c, const Value &v, size_t rank) {
  SmallVector<int64_t> dims(rank - 1, 1);
  dims[0] = v.type().getDimSize(0);
  return reshapeTo(c, v, dims);
}

/// group_norm(x, G, weight, bias, eps): x [N, C, *] as [N, G, C/G * rest],
/// normalized over its last dimension by layer_norm (the same statistics:
/// biased variance), back to x's shape, then the per-channel affine.
static Value groupNorm(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  ArrayRef<int64_t> shape = x.type().getShape();
  int64_t groups = c.a["num_groups"].i;
  if (shape.size() < 2 || ShapedType::isDynamic(shape[1]) ||
      llvm::any_of(shape.drop_front(2), ShapedType::isDynamic)) {
    c.e.error(c.loc) << fmt::format("{} expects an input [N, C, ...] whose sizes past N are "
                                    "known, but got {}",
                                    c.what.str(), x.describe());
    return Value::poison();
  }
  if (groups <= 0 || shape[1] % groups) {
    c.e.error(c.loc) << fmt::format("{}: {} channels cannot be split into {} groups",
                                    c.what.str(), shape[1], groups);
    return Value::poison();
  }
  int64_t perGroup = shape[1] / groups;
  for (int64_t d : shape.drop_front(2))
    perGroup *= d;
  SmallVector<int64_t> back(shape);
  back[0] = -1;
  Value in = Value::ofTensor(c.floatInput());
  Value grouped = reshapeTo(c, in, {-1, groups, perGroup});
  if (grouped.isPoison())
    return grouped;
  Value y = c.e.emitLayerNorm(grouped, {perGroup}, mlir::Value(), mlir::Value(), c.a["eps"].f,
                              c.what, c.loc);
  if (y.isPoison())
    return y;
  y = reshapeTo(c, y, back);
  for (StringRef name : {"weight", "bias"}) {
    if (c.a[name].isNone())
      continue;
    const Value &v = c.a[name];
    if (v.type().getRank() != 1 || v.type().getDimSize(0) != shape[1]) {
      c.e.error(c.loc) << fmt::format("{}: {} must have shape [{}], but got {}", c.what.str(),
                                      name.str(), shape[1], v.describe());
      return Value::poison();
    }
    y = c.e.binary(name == "weight" ? ast::BinaryOp::Mul : ast::BinaryOp::Add, y,
                   perChannel(c, v, shape.size()), c.loc);
  }
  return y;
}

static Value conv1d(FunctionCall &c) {
  auto stride = c.ints("stride", 1), dilation = c.ints("dilation", 1);
  auto x = as2d(c, c.input());
  if (!stride || !dilation || !x)
    return Value::poison();
  Value w = c.a["weight"];
  if (w.type().getRank() != 3) {
    c.e.error(c.loc) << fmt::format("{} expects a 3-D weight [out, in / groups, kernel], but it "
                                    "has shape {}",
                                    c.what.str(), formatShape(w.type().getShape()));
    return Value::poison();
  }
  auto ws = w.type().getShape();
  auto padding = convPadding(c, ws.take_back(), *stride, *dilation);
  if (!padding)
    return Value::poison();
  Value w2 = reshapeTo(c, w, {ws[0], ws[1], 1, ws[2]});
  Value y = as1d(c, c.e.emitConv2d(*x, w2.tensor, c.optTensor("bias"), {1, (*stride)[0]},
                                   {0, padding->pad[0]}, {1, (*dilation)[0]}, c.a["groups"].i,
                                   c.what, c.loc));
  return trimConvOutput(c, y, padding->trimFirst);
}

static Handler pool1d(bool isMax) {
  return [isMax](FunctionCall &c) {
    auto kernel = c.ints("kernel_size", 1);
    auto stride = c.a["stride"].isNone() ? kernel : c.ints("stride", 1);
    auto padding = c.ints("padding", 1);
    auto x = as2d(c, c.input());
    if (!kernel || !stride || !padding || !x)
      return Value::poison();
    bool countIncludePad = isMax || c.a["count_include_pad"].b;
    return as1d(c, c.e.emitPool(isMax, *x, {1, (*kernel)[0]}, {1, (*stride)[0]},
                                {0, (*padding)[0]}, countIncludePad, c.what, c.loc));
  };
}

static Value adaptiveAvgPool1d(FunctionCall &c) {
  auto out = c.ints("output_size", 1);
  auto x = as2d(c, c.input());
  if (!out || !x)
    return Value::poison();
  return as1d(c, c.e.emitAdaptiveAvgPool(*x, {1, (*out)[0]}, c.what, c.loc));
}

/// permute and transpose: both reorder the input's dimensions by `dims`.
static Value permuteDims(FunctionCall &c, ArrayRef<int64_t> dims) {
  const Value &x = c.input();
  std::string why;
  auto s = shape::permute(x.type().getShape(), dims, why);
  if (failed(s))
    return c.fail(why);
  return Value::ofTensor(mdl::PermuteOp::create(c.builder(), c.loc,
                                                c.e.tensorOf(*s, x.type().getElementType()),
                                                x.tensor, c.builder().getDenseI64ArrayAttr(dims)));
}

static Value transpose(FunctionCall &c) {
  int64_t rank = c.input().type().getRank();
  std::string why;
  auto d0 = shape::normalizeDim(c.a["dim0"].i, rank, why);
  auto d1 = succeeded(d0) ? shape::normalizeDim(c.a["dim1"].i, rank, why) : d0;
  if (failed(d1))
    return c.fail(why);
  SmallVector<int64_t> dims = llvm::to_vector(llvm::seq<int64_t>(0, std::max<int64_t>(rank, 1)));
  std::swap(dims[*d0], dims[*d1]);
  dims.resize(rank);
  return permuteDims(c, dims);
}

static Value power(FunctionCall &c) {
  const Value &base = c.input(), &e = c.a["exponent"];
  Type elt = base.isTensor() ? base.type().getElementType() : e.type().getElementType();
  if (!llvm::isa<FloatType>(elt))
    elt = c.builder().getF32Type();
  mlir::Value l = c.e.asTensor(base, elt, c.loc), r = c.e.asTensor(e, elt, c.loc);
  std::string why;
  auto lt = llvm::cast<RankedTensorType>(l.getType());
  auto rt = llvm::cast<RankedTensorType>(r.getType());
  auto s = shape::broadcast(lt.getShape(), rt.getShape(), why);
  if (failed(s))
    return c.fail(why);
  return Value::ofTensor(mdl::PowOp::create(c.builder(), c.loc, c.e.tensorOf(*s, elt), l, r));
}

static Value clamp(FunctionCall &c) {
  const Value &x = c.input();
  auto attr = [&](StringRef name) {
    return c.a[name].isNone() ? FloatAttr() : c.builder().getF64FloatAttr(c.a[name].f);
  };
  if (c.a["min"].isNone() && c.a["max"].isNone()) {
    c.e.error(c.loc) << "clamp needs at least one of 'min' and 'max'";
    return Value::poison();
  }
  return Value::ofTensor(
      mdl::ClampOp::create(c.builder(), c.loc, x.type(), x.tensor, attr("min"), attr("max")));
}

/// The hard activations of torch.nn as PyTorch's CPU kernels compute them,
/// from clamp and arithmetic (their gradients follow from those ops'):
///   hardtanh(x, lo, hi) = clamp(x, lo, hi); relu6(x) = hardtanh(x, 0, 6)
///   hardsigmoid(x) = clamp(x + 3, 0, 6) / 6
///   hardswish(x) = x * clamp(x + 3, 0, 6) / 6
static Value clampTo(FunctionCall &c, const Value &x, double lo, double hi) {
  return Value::ofTensor(mdl::ClampOp::create(c.builder(), c.loc, x.type(), x.tensor,
                                              c.builder().getF64FloatAttr(lo),
                                              c.builder().getF64FloatAttr(hi)));
}

/// The input of a hard activation: a float tensor (an integer one in f32).
static std::optional<Value> hardInput(FunctionCall &c) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return std::nullopt;
  if (!isa<FloatType>(x.type().getElementType()))
    return Value::ofTensor(c.e.castTo(x.tensor, c.builder().getF32Type(), c.loc));
  return x;
}

static Handler hardtanh(std::optional<std::pair<double, double>> fixed) {
  return [fixed](FunctionCall &c) {
    auto x = hardInput(c);
    if (!x)
      return Value::poison();
    double lo = fixed ? fixed->first : c.a["min_val"].f;
    double hi = fixed ? fixed->second : c.a["max_val"].f;
    if (lo > hi) {
      c.e.error(c.loc) << fmt::format("hardtanh: min_val ({}) must not exceed max_val ({})", lo,
                                      hi);
      return Value::poison();
    }
    return clampTo(c, *x, lo, hi);
  };
}

static Handler hardSigmoidOrSwish(bool swish) {
  return [swish](FunctionCall &c) {
    auto x = hardInput(c);
    if (!x)
      return Value::poison();
    Value gate = clampTo(c, c.e.binary(ast::BinaryOp::Add, *x, Value::real(3), c.loc), 0, 6);
    if (swish)
      gate = c.e.binary(ast::BinaryOp::Mul, *x, gate, c.loc);
    return c.e.binary(ast::BinaryOp::Div, gate, Value::real(6), c.loc);
  };
}

/// Built-in function `fn` of `x`, its other parameters at their defaults.
static Value callOn(FunctionCall &c, StringRef fn, const Value &x) {
  return c.e.applyFunction(fn, c.what, {{"input", x}}, c.loc);
}

/// The smooth activations of torch.nn from relu, exp, log, tanh and
/// arithmetic, written so that no intermediate overflows and that the
/// gradient at a kink of the pieces is PyTorch's. min(x, t) is x - relu(x -
/// t): its gradient is 1 at t, as PyTorch's ELU and PReLU take x <= 0 (and
/// softplus beta x <= threshold) to be the curved side (clamp's gradient is
/// 0 on its bound).
///   elu(x, a)         = relu(x) + a * (exp(min(x, 0)) - 1)
///   softplus(x, beta) = (log(1 + exp(min(beta x, t))) + relu(beta x - t)) / beta
///     for PyTorch's threshold t: beta x itself above it, as PyTorch
///   mish(x)           = x * tanh(softplus(x))
static Value minAt(FunctionCall &c, const Value &x, double t) {
  Value over = t == 0 ? x : c.e.binary(ast::BinaryOp::Sub, x, Value::real(t), c.loc);
  return c.e.binary(ast::BinaryOp::Sub, x, callOn(c, "relu", over), c.loc);
}

static Value elu(FunctionCall &c) {
  auto x = hardInput(c);
  if (!x)
    return Value::poison();
  Value below = callOn(c, "exp", minAt(c, *x, 0));
  below = c.e.binary(ast::BinaryOp::Sub, below, Value::real(1), c.loc);
  below = c.e.binary(ast::BinaryOp::Mul, Value::real(c.a["alpha"].f), below, c.loc);
  return c.e.binary(ast::BinaryOp::Add, callOn(c, "relu", *x), below, c.loc);
}

static Value softplusOf(FunctionCall &c, const Value &x, double beta, double threshold) {
  Value bx = beta == 1 ? x : c.e.binary(ast::BinaryOp::Mul, Value::real(beta), x, c.loc);
  Value smooth = callOn(c, "exp", minAt(c, bx, threshold));
  smooth = callOn(c, "log", c.e.binary(ast::BinaryOp::Add, Value::real(1), smooth, c.loc));
  Value linear =
      callOn(c, "relu", c.e.binary(ast::BinaryOp::Sub, bx, Value::real(threshold), c.loc));
  Value sp = c.e.binary(ast::BinaryOp::Add, smooth, linear, c.loc);
  return beta == 1 ? sp : c.e.binary(ast::BinaryOp::Div, sp, Value::real(beta), c.loc);
}

static Value softplus(FunctionCall &c) {
  auto x = hardInput(c);
  if (!x)
    return Value::poison();
  if (c.a["beta"].f <= 0) {
    c.e.error(c.loc) << fmt::format("softplus: beta must be positive, but got {}",
                                    c.a["beta"].f);
    return Value::poison();
  }
  return softplusOf(c, *x, c.a["beta"].f, c.a["threshold"].f);
}

static Value mish(FunctionCall &c) {
  auto x = hardInput(c);
  if (!x)
    return Value::poison();
  return c.e.binary(ast::BinaryOp::Mul, *x, callOn(c, "tanh", softplusOf(c, *x, 1, 20)), c.loc);
}

/// prelu(x, w) = relu(x) + w * min(x, 0), as torch.nn.functional.prelu (and
/// its gradient: w at 0): one weight for every element, or one per channel
/// (dimension 1 of x).
static Value prelu(FunctionCall &c) {
  auto x = hardInput(c);
  if (!x)
    return Value::poison();
  const Value &w = c.a["weight"];
  if (!c.e.expectTensor(w, c.what, c.loc))
    return Value::poison();
  auto wType = w.type();
  int64_t n = wType.getRank() == 0 ? 1 : wType.getNumElements();
  auto xShape = x->type().getShape();
  mlir::Value weight = w.tensor;
  if (n > 1) {
    if (xShape.size() < 2 || (xShape[1] != ShapedType::kDynamic && xShape[1] != n)) {
      c.e.error(c.loc) << fmt::format("{}: {} weights need an input with {} channels "
                                      "(dimension 1), but its shape is {}",
                                      c.what.str(), n, n, formatShape(xShape));
      return Value::poison();
    }
    // [C] as [C, 1, ..., 1]: one weight per channel, broadcast over the rest.
    SmallVector<int64_t> dims(xShape.size() - 1, 1);
    dims[0] = n;
    weight = mdl::ReshapeOp::create(c.builder(), c.loc,
                                    c.e.tensorOf(dims, wType.getElementType()), w.tensor,
                                    c.builder().getDenseI64ArrayAttr(dims));
  } else if (wType.getRank() != 0) {
    weight = mdl::ReshapeOp::create(c.builder(), c.loc, c.e.tensorOf({}, wType.getElementType()),
                                    w.tensor, c.builder().getDenseI64ArrayAttr({}));
  }
  Value below = c.e.binary(ast::BinaryOp::Mul, Value::ofTensor(weight), minAt(c, *x, 0), c.loc);
  return c.e.binary(ast::BinaryOp::Add, callOn(c, "relu", *x), below, c.loc);
}

/// Makes a reduction's op from its result type, input, dims and keepdim.
using BuildReduction =
    llvm::function_ref<mlir::Value(RankedTensorType, mlir::Value, DenseI64ArrayAttr, BoolAttr)>;

/// mean, sum, amax and var: over `dims`, or over every dimension without it.
static Value reduce(FunctionCall &c, IntReduce ints, BuildReduction build) {
  const Value &x = c.input();
  if (!c.e.expectTensor(x, c.what, c.loc))
    return Value::poison();
  SmallVector<int64_t> d;
  if (!c.a["dims"].isNone())
    d = *c.ints("dims", 0);
  bool keepdim = c.a["keepdim"].b;
  std::string why;
  auto s = shape::reduce(x.type().getShape(), d, keepdim, why);
  if (failed(s))
    return c.fail(why);
  mlir::Value t = x.tensor;
  Type elt = x.type().getElementType();
  if (ints == IntReduce::Refuse && !llvm::isa<FloatType>(elt)) {
    c.e.error(c.loc) << fmt::format("{} needs a floating-point input, but got {}; cast it first",
                                    c.what.str(), x.describe());
    return Value::poison();
  }
  if (ints == IntReduce::ToI64 && llvm::isa<IntegerType>(elt)) {
    elt = c.builder().getI64Type();
    t = c.e.castTo(t, elt, c.loc);
  }
  return Value::ofTensor(build(c.e.tensorOf(*s, elt), t, c.builder().getDenseI64ArrayAttr(d),
                               c.builder().getBoolAttr(keepdim)));
}

static Value concat(FunctionCall &c) {
  std::vector<Value> &ts = c.a["tensors"].elems;
  Type elt = ts.front().type().getElementType();
  for (const Value &t : ts)
    elt = promote(elt, t.type().getElementType(), c.e.ctx);
  SmallVector<mlir::Value> operands;
  SmallVector<ArrayRef<int64_t>> shapes;
  for (const Value &t : ts) {
    operands.push_back(c.e.castTo(t.tensor, elt, c.loc));
    shapes.push_back(t.type().getShape());
  }
  std::string why;
  auto s = shape::cat(shapes, c.a["dim"].i, why);
  if (failed(s))
    return c.fail(why);
  auto d = shape::normalizeDim(c.a["dim"].i, shapes.front().size(), why);
  return Value::ofTensor(mdl::CatOp::create(c.builder(), c.loc, c.e.tensorOf(*s, elt), operands,
                                            c.builder().getI64IntegerAttr(*d)));
}

static Value castToDType(FunctionCall &c) {
  FailureOr<Type> t = c.dtype("dtype", Type());
  if (failed(t))
    return Value::poison();
  return Value::ofTensor(c.e.castTo(c.input().tensor, *t, c.loc));
}

/// zeros_like and ones_like.
static Handler fullLike(double v) {
  return [v](FunctionCall &c) {
    const Value &x = c.input();
    return Value::ofTensor(mdl::FullLikeOp::create(c.builder(), c.loc, x.type(), x.tensor,
                                                   c.builder().getF64FloatAttr(v)));
  };
}

/// A loss function of Losses.cpp.
static Handler loss(StringRef name) {
  return [name](FunctionCall &c) { return c.e.emitLoss(name, c.a, c.what, c.loc); };
}

/// torch.where(condition, input, other): `input` and `other`, tensors or
/// numbers, promote as the binary ops' operands do.
static Value whereOf(FunctionCall &c, const Value &cond, const Value &x, const Value &y) {
  if (!c.e.expectTensor(cond, c.what, c.loc))
    return Value::poison();
  if (!cond.type().getElementType().isInteger(1))
    return c.fail(fmt::format("the condition must be a bool tensor, such as x > 0, but got {}",
                              cond.describe()));
  MLIRContext *ctx = c.e.ctx;
  Type elt = x.isTensor() && y.isTensor()
                 ? promote(x.type().getElementType(), y.type().getElementType(), ctx)
             : x.isTensor() ? promoteWithNumber(x.type().getElementType(), y, ctx)
             : y.isTensor() ? promoteWithNumber(y.type().getElementType(), x, ctx)
             : x.kind == Value::Kind::Float || y.kind == Value::Kind::Float
                 ? Type(Float32Type::get(ctx))
                 : Type(IntegerType::get(ctx, 64));
  mlir::Value a = c.e.asTensor(x, elt, c.loc), b = c.e.asTensor(y, elt, c.loc);
  std::string why;
  auto s = shape::broadcast(llvm::cast<RankedTensorType>(a.getType()).getShape(),
                            llvm::cast<RankedTensorType>(b.getType()).getShape(), why);
  if (succeeded(s))
    s = shape::broadcast(cond.type().getShape(), *s, why);
  if (failed(s))
    return c.fail(why);
  return Value::ofTensor(
      mdl::WhereOp::create(c.builder(), c.loc, c.e.tensorOf(*s, elt), cond.tensor, a, b));
}

/// x.masked_fill(mask, value): where(mask, value, x) in x's dtype and shape.
static Value maskedFill(FunctionCall &c) {
  const Value &x = c.input(), &value = c.a["value"];
  if (value.isTensor() && value.type().getRank() != 0)
    return c.fail("the fill value must be a number or a 0-d tensor");
  Value v = value.isTensor()
                ? Value::ofTensor(c.e.castTo(value.tensor, x.type().getElementType(), c.loc))
                : Value::ofTensor(c.e.asTensor(value, x.type().getElementType(), c.loc));
  Value r = whereOf(c, c.a["mask"], v, x);
  if (!r.isPoison() && !shape::compatible(r.type().getShape(), x.type().getShape()))
    return c.fail(fmt::format("the mask of shape {} does not broadcast to the input's shape {}",
                              formatShape(c.a["mask"].type().getShape()),
                              formatShape(x.type().getShape())));
  return r;
}

/// torch.arange(start, end, step): a constant, i64 when every bound is an
/// int and f32 otherwise, as PyTorch's default dtypes.
static Value arange(FunctionCall &c) {
  Value start = c.a["start"], end = c.a["end"], step = c.a["step"];
  if (end.isNone())
    std::swap(start, end), start = Value::integer(0);
  for (const Value *v : {&start, &end, &step})
    if (!v->isNumber() || v->kind == Value::Kind::Bool)
      return c.fail(fmt::format("start, end and step must be numbers known at compile time, "
                                "but got {}",
                                v->describe()));
  double a = start.number(), b = end.number(), h = step.number();
  if (h == 0 || !std::isfinite(a) || !std::isfinite(b) || !std::isfinite(h))
    return c.fail("step must be nonzero and the bounds finite");
  double n = std::ceil((b - a) / h);
  if (n < 0)
    return c.fail(fmt::format("the range from {} to {} by {} is empty the wrong way round",
                              a, b, h));
  if (n > double(c.e.maxConstantElements))
    return c.fail(fmt::format("{} elements are more than modelc's limit of {} for a constant",
                              n, c.e.maxConstantElements));
  bool ints = start.kind == Value::Kind::Int && end.kind == Value::Kind::Int &&
              step.kind == Value::Kind::Int;
  FailureOr<Type> elt =
      c.dtype("dtype", ints ? Type(c.builder().getI64Type()) : Type(c.builder().getF32Type()));
  if (failed(elt))
    return Value::poison();
  auto count = int64_t(n);
  auto type = c.e.tensorOf({count}, *elt);
  DenseElementsAttr attr;
  if (auto ft = llvm::dyn_cast<FloatType>(*elt)) {
    std::vector<APFloat> values;
    for (int64_t i = 0; i < count; ++i) {
      APFloat f(a + double(i) * h);
      bool lost;
      f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
      values.push_back(f);
    }
    attr = DenseElementsAttr::get(type, values);
  } else {
    // Each value truncated as PyTorch's integer arange, and checked to fit.
    unsigned width = elt->getIntOrFloatBitWidth();
    std::vector<APInt> values;
    for (int64_t i = 0; i < count; ++i) {
      double v = std::trunc(a + double(i) * h);
      bool fits = width == 1 ? (v == 0 || v == 1)
                             : v >= -std::ldexp(1.0, int(width) - 1) &&
                                   v < std::ldexp(1.0, int(width) - 1);
      if (!fits)
        return c.fail(fmt::format("{} does not fit the dtype {}", v, formatDType(*elt)));
      values.push_back(APInt(width, uint64_t(int64_t(v)), /*isSigned=*/width > 1));
    }
    attr = DenseElementsAttr::get(type, values);
  }
  return Value::ofTensor(arith::ConstantOp::create(c.builder(), c.loc, type, attr));
}

/// zeros, ones and full: a splat constant of a shape known at compile time.
static Handler factory(std::optional<double> value) {
  return [value](FunctionCall &c) {
    SmallVector<int64_t> shape = *c.ints("size", 0);
    const Value &fill = c.a["fill_value"];
    if (!value && !fill.isNumber())
      return c.fail(fmt::format("the fill value must be a number known at compile time, but got "
                                "{}",
                                fill.describe()));
    double v = value ? *value : fill.number();
    Type dflt = c.builder().getF32Type();
    if (!value && fill.kind != Value::Kind::Float)
      dflt = fill.kind == Value::Kind::Bool ? Type(c.builder().getI1Type())
                                            : Type(c.builder().getI64Type());
    FailureOr<Type> elt = c.dtype("dtype", dflt);
    if (failed(elt))
      return Value::poison();
    unsigned width = elt->getIntOrFloatBitWidth();
    if (!llvm::isa<FloatType>(*elt) && width > 1 &&
        !(v == std::trunc(v) && v >= -std::ldexp(1.0, int(width) - 1) &&
          v < std::ldexp(1.0, int(width) - 1)))
      return c.fail(fmt::format("{} does not fit the dtype {}", v, formatDType(*elt)));
    if (llvm::any_of(shape, [](int64_t d) { return d < 0; }))
      return c.fail(fmt::format("sizes must not be negative, but got {}", formatShape(shape)));
    if (std::optional<int64_t> n = shape::numElements(shape); !n || *n > c.e.maxConstantElements)
      return c.fail(fmt::format("{} elements are more than modelc's limit of {} for a "
                                "constant",
                                formatShape(shape), c.e.maxConstantElements));
    return Value::ofTensor(c.e.splat(v, c.e.tensorOf(shape, *elt), c.loc));
  };
}

/// tril and triu: x with the elements above (tril) or below (triu) diagonal
/// `diagonal` of its last two dimensions zeroed, by a constant bool mask.
static Handler triangle(bool lower) {
  return [lower](FunctionCall &c) {
    const Value &x = c.input();
    auto s = x.type().getShape();
    if (s.size() < 2 || ShapedType::isDynamic(s[s.size() - 2]) || ShapedType::isDynamic(s.back()))
      return c.fail(fmt::format("expects a tensor whose last two sizes are known at compile "
                                "time, but got {}",
                                x.describe()));
    int64_t rows = s[s.size() - 2], cols = s.back(), k = c.a["diagonal"].i;
    if (rows * cols > c.e.maxConstantElements)
      return c.fail("the matrix is larger than modelc's limit for a constant mask");
    auto type = c.e.tensorOf({rows, cols}, c.builder().getI1Type());
    llvm::SmallVector<bool> keep;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        keep.push_back(lower ? j - i <= k : j - i >= k);
    mlir::Value mask = arith::ConstantOp::create(c.builder(), c.loc, type,
                                                 DenseElementsAttr::get(type, llvm::ArrayRef<bool>(keep)));
    return whereOf(c, Value::ofTensor(mask), x, Value::integer(0));
  };
}

static const std::vector<BuiltinFunction> &builtinFunctions() {
  auto I = [](int64_t v) { return std::optional<Value>(Value::integer(v)); };
  auto F = [](double v) { return std::optional<Value>(Value::real(v)); };
  auto B = [](bool v) { return std::optional<Value>(Value::boolean(v)); };
  std::optional<Value> none = Value::none();
  std::optional<Value> req;
  ParamSpec input = {"input", ArgType::Tensor, req};
  Signature maxPool = {input, {"kernel_size", ArgType::IntOrInts, req},
                       {"stride", ArgType::OptIntOrInts, none},
                       {"padding", ArgType::IntOrInts, I(0)}};
  Signature avgPool = maxPool;
  avgPool.push_back({"count_include_pad", ArgType::Bool, B(true)});
  auto reduction = [&](std::vector<ParamSpec> options) {
    Signature sig = {input, {"dims", ArgType::OptInts, none}};
    sig.insert(sig.end(), options.begin(), options.end());
    return sig;
  };
  static const std::vector<BuiltinFunction> table = {
      {"linear", {input, {"weight", ArgType::Tensor, req}, {"bias", ArgType::OptTensor, none}},
       [](FunctionCall &c) {
         return c.e.emitLinear(c.input(), c.a["weight"].tensor, c.optTensor("bias"), c.what,
                               c.loc);
       }},
      {"conv2d",
       {input, {"weight", ArgType::Tensor, req}, {"bias", ArgType::OptTensor, none},
        {"stride", ArgType::IntOrInts, I(1)}, {"padding", ArgType::Padding, I(0)},
        {"dilation", ArgType::IntOrInts, I(1)}, {"groups", ArgType::Int, I(1)}},
       conv2d},
      elementwise<mdl::ReluOp>("relu", IntInput::Keep),
      elementwise<mdl::SigmoidOp>("sigmoid", IntInput::ToF32,
                                  math([](double v) { return 1.0 / (1.0 + std::exp(-v)); })),
      elementwise<mdl::TanhOp>("tanh", IntInput::ToF32,
                               math([](double v) { return std::tanh(v); })),
      elementwise<mdl::SiluOp>("silu", IntInput::ToF32),
      elementwise<mdl::ExpOp>("exp", IntInput::ToF32, math([](double v) { return std::exp(v); })),
      elementwise<mdl::LogOp>("log", IntInput::ToF32, math([](double v) { return std::log(v); })),
      elementwise<mdl::SqrtOp>("sqrt", IntInput::ToF32,
                               math([](double v) { return std::sqrt(v); })),
      elementwise<mdl::RsqrtOp>("rsqrt", IntInput::ToF32,
                                math([](double v) { return 1.0 / std::sqrt(v); })),
      // abs of an int stays an int, as Python's.
      elementwise<mdl::AbsOp>("abs", IntInput::Keep,
                              [](ArrayRef<Value> v) {
                                return v[0].kind == Value::Kind::Int
                                           ? Value::integer(std::llabs(v[0].i))
                                           : Value::real(std::fabs(v[0].number()));
                              }),
      {"square", {input},
       [](FunctionCall &c) { return c.e.binary(ast::BinaryOp::Mul, c.input(), c.input(), c.loc); }},
      {"gelu", {input, {"approximate", ArgType::Str, Value::str("none")}}, gelu},
      {"leaky_relu", {input, {"negative_slope", ArgType::Float, F(0.01)}}, leakyRelu},
      {"softmax", {input, {"dim", ArgType::OptInt, none}}, softmax(/*isLog=*/false)},
      {"log_softmax", {input, {"dim", ArgType::OptInt, none}}, softmax(/*isLog=*/true)},
      {"max_pool2d", maxPool,
       pool2d(/*isMax=*/true)},
      {"avg_pool2d", avgPool,
       pool2d(/*isMax=*/false)},
      {"scaled_dot_product_attention",
       {{"query", ArgType::Tensor, req}, {"key", ArgType::Tensor, req},
        {"value", ArgType::Tensor, req}, {"attn_mask", ArgType::OptTensor, none},
        {"dropout_p", ArgType::Float, F(0.0)}, {"is_causal", ArgType::Bool, B(false)},
        {"scale", ArgType::OptFloat, none}},
       attention},
      {"interpolate",
       {input, {"size", ArgType::OptIntOrInts, none}, {"scale_factor", ArgType::Any, none},
        {"mode", ArgType::Str, Value::str("nearest")}, {"align_corners", ArgType::Any, none}},
       interpolate},
      {"unsqueeze", {input, {"dim", ArgType::Int, req}}, unsqueeze},
      {"squeeze", {input, {"dim", ArgType::OptInt, none}}, squeeze},
      {"view", {input, {"shape", ArgType::Shape, req}}, reshape},
      {"size", {input, {"dim", ArgType::Int, req}}, sizeOf},
      {"pixel_shuffle", {input, {"upscale_factor", ArgType::Int, req}}, pixelShuffle},
      {"narrow", {input, {"dim", ArgType::Int, req}, {"start", ArgType::Int, req},
                  {"length", ArgType::Int, req}},
       narrow},
      {"select", {input, {"dim", ArgType::Int, req}, {"index", ArgType::Int, req}}, select},
      {"chunk", {input, {"chunks", ArgType::Int, req}, {"dim", ArgType::Int, I(0)}}, chunk},
      {"split", {input, {"split_size_or_sections", ArgType::IntOrInts, req},
                 {"dim", ArgType::Int, I(0)}},
       split},
      {"unbind", {input, {"dim", ArgType::Int, I(0)}}, unbind},
      {"group_norm",
       {input, {"num_groups", ArgType::Int, req}, {"weight", ArgType::OptTensor, none},
        {"bias", ArgType::OptTensor, none}, {"eps", ArgType::Float, F(1e-5)}},
       groupNorm},
      {"conv_transpose2d",
       {input, {"weight", ArgType::Tensor, req}, {"bias", ArgType::OptTensor, none},
        {"stride", ArgType::IntOrInts, I(1)}, {"padding", ArgType::IntOrInts, I(0)},
        {"output_padding", ArgType::IntOrInts, I(0)}, {"groups", ArgType::Int, I(1)},
        {"dilation", ArgType::IntOrInts, I(1)}},
       convTranspose2d},
      {"conv1d",
       {input, {"weight", ArgType::Tensor, req}, {"bias", ArgType::OptTensor, none},
        {"stride", ArgType::IntOrInts, I(1)}, {"padding", ArgType::Padding, I(0)},
        {"dilation", ArgType::IntOrInts, I(1)}, {"groups", ArgType::Int, I(1)}},
       conv1d},
      {"max_pool1d", maxPool,
       pool1d(/*isMax=*/true)},
      {"avg_pool1d", avgPool,
       pool1d(/*isMax=*/false)},
      {"adaptive_avg_pool1d", {input, {"output_size", ArgType::IntOrInts, req}},
       adaptiveAvgPool1d},
      {"adaptive_avg_pool2d", {input, {"output_size", ArgType::IntOrInts, req}},
       [](FunctionCall &c) {
         auto out = c.ints("output_size", 2);
         return out ? c.e.emitAdaptiveAvgPool(c.input(), *out, c.what, c.loc) : Value::poison();
       }},
      // PyTorch's adaptive windows of a size that the output divides are
      // max_pool2d's with kernel = stride = size / output; others are refused.
      {"adaptive_max_pool2d", {input, {"output_size", ArgType::IntOrInts, req}},
       [](FunctionCall &c) {
         auto out = c.ints("output_size", 2);
         const Value &x = c.input();
         if (!out || !c.e.expectTensor(x, c.what, c.loc))
           return Value::poison();
         ArrayRef<int64_t> s = x.type().getShape();
         SmallVector<int64_t> kernel;
         for (int d = 0; d < 2; ++d) {
           int64_t size = s.size() == 4 ? s[2 + d] : ShapedType::kDynamic;
           if (ShapedType::isDynamic(size) || (*out)[d] <= 0 || size % (*out)[d]) {
             c.e.error(c.loc) << fmt::format("{}: an input [N, C, H, W] whose H and W the output "
                                             "size {} divides is supported, not {}",
                                             c.what.str(), formatShape(*out), x.describe());
             return Value::poison();
           }
           kernel.push_back(size / (*out)[d]);
         }
         return c.e.emitPool(/*isMax=*/true, x, kernel, kernel, {0, 0}, true, c.what, c.loc);
       }},
      {"flatten", {input, {"start_dim", ArgType::Int, I(0)}, {"end_dim", ArgType::Int, I(-1)}},
       [](FunctionCall &c) {
         return c.e.emitFlatten(c.input(), c.a["start_dim"].i, c.a["end_dim"].i, c.what, c.loc);
       }},
      {"reshape", {input, {"shape", ArgType::Shape, req}}, reshape},
      {"expand", {input, {"size", ArgType::Shape, req}}, expand},
      {"repeat", {input, {"repeats", ArgType::Ints, req}}, repeat},
      {"permute", {input, {"dims", ArgType::Ints, req}},
       [](FunctionCall &c) { return permuteDims(c, *c.ints("dims", 0)); }},
      {"transpose", {input, {"dim0", ArgType::Int, req}, {"dim1", ArgType::Int, req}}, transpose},
      {"matmul", {input, {"other", ArgType::Tensor, req}},
       [](FunctionCall &c) {
         return c.e.binary(ast::BinaryOp::MatMul, c.input(), c.a["other"], c.loc);
       }},
      {"pow",
       {{"input", ArgType::TensorOrNumber, req}, {"exponent", ArgType::TensorOrNumber, req}},
       power,
       [](ArrayRef<Value> v) { return Value::real(std::pow(v[0].number(), v[1].number())); }},
      {"clamp", {input, {"min", ArgType::OptFloat, none}, {"max", ArgType::OptFloat, none}},
       clamp},
      {"hardtanh", {input, {"min_val", ArgType::Float, F(-1)}, {"max_val", ArgType::Float, F(1)}},
       hardtanh(std::nullopt)},
      {"relu6", {input}, hardtanh(std::make_pair(0.0, 6.0))},
      {"hardsigmoid", {input}, hardSigmoidOrSwish(/*swish=*/false)},
      {"elu", {input, {"alpha", ArgType::Float, F(1.0)}}, elu},
      {"softplus", {input, {"beta", ArgType::Float, F(1.0)}, {"threshold", ArgType::Float, F(20.0)}},
       softplus},
      {"mish", {input}, mish},
      {"prelu", {input, {"weight", ArgType::Tensor, req}}, prelu},
      {"hardswish", {input}, hardSigmoidOrSwish(/*swish=*/true)},
      {"mean", reduction({{"keepdim", ArgType::Bool, B(false)}}),
       [](FunctionCall &c) {
         return reduce(c, IntReduce::Refuse, [&](auto type, auto t, auto dims, auto keep) {
           return mdl::MeanOp::create(c.builder(), c.loc, type, t, dims, keep);
         });
       }},
      {"sum", reduction({{"keepdim", ArgType::Bool, B(false)}}),
       [](FunctionCall &c) {
         return reduce(c, IntReduce::ToI64, [&](auto type, auto t, auto dims, auto keep) {
           return mdl::SumOp::create(c.builder(), c.loc, type, t, dims, keep);
         });
       }},
      {"amax", reduction({{"keepdim", ArgType::Bool, B(false)}}),
       [](FunctionCall &c) {
         return reduce(c, IntReduce::Keep, [&](auto type, auto t, auto dims, auto keep) {
           return mdl::AmaxOp::create(c.builder(), c.loc, type, t, dims, keep);
         });
       }},
      {"var",
       reduction({{"unbiased", ArgType::Bool, B(true)}, {"keepdim", ArgType::Bool, B(false)}}),
       [](FunctionCall &c) {
         return reduce(c, IntReduce::Refuse, [&](auto type, auto t, auto dims, auto keep) {
           return mdl::VarOp::create(c.builder(), c.loc, type, t, dims,
                                     c.builder().getBoolAttr(c.a["unbiased"].b), keep);
         });
       }},
      {"cat", {{"tensors", ArgType::TensorList, req}, {"dim", ArgType::Int, I(0)}}, concat},
      {"cast", {input, {"dtype", ArgType::DType, req}}, castToDType},
      {"layer_norm",
       {input, {"normalized_shape", ArgType::Ints, req}, {"weight", ArgType::OptTensor, none},
        {"bias", ArgType::OptTensor, none}, {"eps", ArgType::Float, F(1e-5)}},
       [](FunctionCall &c) {
         auto shape = c.ints("normalized_shape", 0);
         return c.e.emitLayerNorm(c.input(), *shape, c.optTensor("weight"), c.optTensor("bias"),
                                  c.a["eps"].f, c.what, c.loc);
       }},
      {"embedding",
       {input, {"weight", ArgType::Tensor, req}, {"padding_idx", ArgType::OptInt, none}},
       [](FunctionCall &c) {
         std::optional<int64_t> pad;
         if (!c.a["padding_idx"].isNone())
           pad = c.a["padding_idx"].i;
         return c.e.emitEmbedding(c.input(), c.a["weight"].tensor, pad, c.what, c.loc);
       }},
      // F.dropout defaults to training=True; in a model description the
      // natural default is the module's own mode.
      {"dropout",
       {input, {"p", ArgType::Float, F(0.5)}, {"training", ArgType::Bool, none}},
       [](FunctionCall &c) {
         bool active = c.a["training"].isNone() ? c.e.training : c.a["training"].b;
         return c.e.emitDropout(c.input(), c.a["p"].f, active, c.loc);
       }},
      // Loss functions (spec/TRAINING.md), as torch.nn.functional's.
      {"cross_entropy",
       {input, {"target", ArgType::Tensor, req}, {"weight", ArgType::OptTensor, none},
        {"ignore_index", ArgType::Int, I(-100)}, {"reduction", ArgType::Str, Value::str("mean")},
        {"label_smoothing", ArgType::Float, F(0.0)}},
       loss("cross_entropy")},
      {"nll_loss",
       {input, {"target", ArgType::Tensor, req}, {"weight", ArgType::OptTensor, none},
        {"ignore_index", ArgType::Int, I(-100)}, {"reduction", ArgType::Str, Value::str("mean")}},
       loss("nll_loss")},
      {"mse_loss",
       {input, {"target", ArgType::Tensor, req}, {"reduction", ArgType::Str, Value::str("mean")}},
       loss("mse_loss")},
      {"l1_loss",
       {input, {"target", ArgType::Tensor, req}, {"reduction", ArgType::Str, Value::str("mean")}},
       loss("l1_loss")},
      {"smooth_l1_loss",
       {input, {"target", ArgType::Tensor, req}, {"reduction", ArgType::Str, Value::str("mean")},
        {"beta", ArgType::Float, F(1.0)}},
       loss("smooth_l1_loss")},
      {"huber_loss",
       {input, {"target", ArgType::Tensor, req}, {"reduction", ArgType::Str, Value::str("mean")},
        {"delta", ArgType::Float, F(1.0)}},
       loss("huber_loss")},
      {"binary_cross_entropy",
       {input, {"target", ArgType::Tensor, req}, {"weight", ArgType::OptTensor, none},
        {"reduction", ArgType::Str, Value::str("mean")}},
       loss("binary_cross_entropy")},
      {"binary_cross_entropy_with_logits",
       {input, {"target", ArgType::Tensor, req}, {"weight", ArgType::OptTensor, none},
        {"reduction", ArgType::Str, Value::str("mean")},
        {"pos_weight", ArgType::OptTensor, none}},
       loss("binary_cross_entropy_with_logits")},
      {"where",
       {{"condition", ArgType::Tensor, req}, {"input", ArgType::TensorOrNumber, req},
        {"other", ArgType::TensorOrNumber, req}},
       [](FunctionCall &c) { return whereOf(c, c.a["condition"], c.input(), c.a["other"]); }},
      {"masked_fill",
       {input, {"mask", ArgType::Tensor, req}, {"value", ArgType::TensorOrNumber, req}},
       maskedFill},
      {"arange",
       {{"start", ArgType::Any, req}, {"end", ArgType::Any, none}, {"step", ArgType::Any, I(1)},
        {"dtype", ArgType::DType, none}},
       arange},
      {"tril", {input, {"diagonal", ArgType::Int, I(0)}}, triangle(/*lower=*/true)},
      {"triu", {input, {"diagonal", ArgType::Int, I(0)}}, triangle(/*lower=*/false)},
      {"zeros", {{"size", ArgType::Ints, req}, {"dtype", ArgType::DType, none}},
       factory(0.0)},
      {"ones", {{"size", ArgType::Ints, req}, {"dtype", ArgType::DType, none}}, factory(1.0)},
      {"full",
       {{"size", ArgType::Ints, req}, {"fill_value", ArgType::Any, req},
        {"dtype", ArgType::DType, none}},
       factory(std::nullopt)},
      {"zeros_like", {input}, fullLike(0.0)},
      {"ones_like", {input}, fullLike(1.0)},
  };
  return table;
}

static const BuiltinFunction *findFunction(StringRef name) {
  return findBuiltin(builtinFunctions(), name);
}

bool Elaborator::isBuiltinFunction(StringRef name) { return findFunction(name); }

SmallVector<StringRef> Elaborator::builtinFunctionNames() {
  return builtinNames(builtinFunctions());
}

/// PyTorch's methods and factories take sizes as separate arguments too:
/// x.view(2, -1) and zeros(2, 3) are x.view([2, -1]) and zeros([2, 3]). Packs
/// the positional arguments from `first` on into one list, unless there is
/// one and it is a list already.
static void packSizes(std::vector<ArgValue> &args, size_t first) {
  size_t positional = first;
  while (positional < args.size() && args[positional].keyword.empty())
    ++positional;
  if (positional <= first)
    return;
  const Value &one = args[first].value;
  if (positional == first + 1 && one.kind != Value::Kind::Int && one.kind != Value::Kind::Size)
    return;
  std::vector<Value> items;
  for (size_t i = first; i < positional; ++i)
    items.push_back(args[i].value);
  ArgValue packed{"", args[first].loc, Value::list(std::move(items))};
  args.erase(args.begin() + first, args.begin() + positional);
  args.insert(args.begin() + first, std::move(packed));
}

Value Elaborator::callFunction(const ast::CallExpr &call, Env &env) {
  auto args = evaluateArgs(call.args, env);
  if (!args)
    return Value::poison();
  if (llvm::is_contained({"zeros", "ones"}, call.callee))
    packSizes(*args, 0);
  return callFunctionWith(call.callee, *args, env, call.getLoc());
}

Value Elaborator::callFunctionWith(StringRef name, ArrayRef<ArgValue> args, Env &env,
                                   Location loc) {
  const BuiltinFunction *f = findFunction(name);
  assert(f && "callFunctionWith is called for built-in functions only");
  auto isNumber = [](const ArgValue &a) { return a.value.isNumber(); };
  if (f->fold && args.size() == f->signature.size() && llvm::all_of(args, isNumber))
    return f->fold(llvm::map_to_vector(args, [](const ArgValue &a) { return a.value; }));
  if (!env.inForward()) {
    error(loc) << fmt::format("'{}' works on tensors and can be called only inside forward",
                              f->name.str());
    return Value::poison();
  }
  auto bound = bind(f->signature, args, fmt::format("'{}'", f->name.str()), loc);
  if (!bound)
    return Value::poison();
  FunctionCall c{*this, f->name, *bound, loc};
  return f->emit(c);
}

/// The methods whose name is not the function's: x.float() is cast(x, f32).
static std::optional<StringRef> castMethod(StringRef name) {
  return llvm::StringSwitch<std::optional<StringRef>>(name)
      .Case("float", StringRef("f32"))
      .Case("double", StringRef("f64"))
      .Case("half", StringRef("f16"))
      .Case("bfloat16", StringRef("bf16"))
      .Case("long", StringRef("i64"))
      .Case("int", StringRef("i32"))
      .Case("bool", StringRef("bool"))
      .Default(std::nullopt);
}

Value Elaborator::callMethod(const ast::CallExpr &call, Env &env) {
  Location loc = call.getLoc();
  auto evaluated = evaluateArgs(call.args, env);
  if (!evaluated)
    return Value::poison();
  std::vector<ArgValue> args = std::move(*evaluated);
  const Value &self = args.front().value;
  StringRef name = call.callee;
  bool attribute = call.form == ast::CallExpr::Form::Attribute;
  std::string what = fmt::format("'.{}{}'", name.str(), attribute ? "" : "()");
  if (!expectTensor(self, what, loc))
    return Value::poison();
  RankedTensorType type = self.type();
  auto shapeValue = [&] {
    std::vector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      sizes.push_back(type.isDynamicDim(d) ? Value::runtimeSize(fmt::format("shape[{}]", d))
                                           : Value::integer(type.getDimSize(d)));
    return Value::list(std::move(sizes));
  };
  if (attribute) {
    if (name == "shape")
      return shapeValue();
    if (name == "ndim")
      return Value::integer(type.getRank());
    if (name == "dtype")
      return Value::ofDType(type.getElementType());
    if (name == "T" || name == "mT") {
      if (name == "mT" && type.getRank() < 2) {
        error(loc) << fmt::format("'.mT' needs at least 2 dimensions, but got {}",
                                  self.describe());
        return Value::poison();
      }
      // .T reverses every dimension; .mT swaps the last two.
      SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
      if (name == "T")
        std::reverse(perm.begin(), perm.end());
      else
        std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
      return applyFunction("permute", what, {{"input", self}, {"dims", Value::ints(perm)}},
                           loc);
    }
    error(loc) << fmt::format("tensors have no attribute '{}' in modelc; the attributes are "
                              "shape, ndim, dtype, T and mT",
                              name.str());
    return Value::poison();
  }
  auto noArguments = [&]() {
    if (args.size() == 1)
      return true;
    error(args[1].loc) << fmt::format("{} takes no arguments", what);
    return false;
  };
  if (name == "size" && args.size() == 1)
    return shapeValue();
  if (name == "dim")
    return noArguments() ? Value::integer(type.getRank()) : Value::poison();
  if (name == "contiguous" || name == "clone")
    return noArguments() ? self : Value::poison();
  if (std::optional<StringRef> dtype = castMethod(name)) {
    if (!noArguments())
      return Value::poison();
    FailureOr<Type> t = parseDType(*dtype, loc);
    return Value::ofTensor(castTo(self.tensor, *t, loc));
  }
  if (name == "type_as") {
    if (args.size() != 2) {
      error(loc) << fmt::format("{} takes one tensor", what);
      return Value::poison();
    }
    if (!expectTensor(args[1].value, what, args[1].loc))
      return Value::poison();
    return Value::ofTensor(castTo(self.tensor, args[1].value.type().getElementType(), loc));
  }
  // x.where(condition, y) is where(condition, x, y).
  if (name == "where" && args.size() >= 2 && args[1].keyword.empty())
    std::swap(args[0], args[1]);
  // x.view(2, -1) as view(x, [2, -1]).
  if (llvm::is_contained({"view", "reshape", "expand", "permute", "repeat"}, name))
    packSizes(args, 1);
  if (!isBuiltinFunction(name)) {
    auto diag = error(loc) << fmt::format("tensors have no method '{}' in modelc", name.str());
    if (auto best = closestMatch(name, builtinFunctionNames()))
      diag << fmt::format("; did you mean '{}'?", *best);
    return Value::poison();
  }
  return callFunctionWith(name, args, env, loc);
}

Value Elaborator::applyFunction(StringRef fn, StringRef what,
                                llvm::function_ref<Value(const ParamSpec &)> argument,
                                Location loc) {
  const BuiltinFunction *f = findFunction(fn);
  assert(f && "a built-in module forwards to a function missing from the table");
  llvm::StringMap<Value> args;
  for (const ParamSpec &p : f->signature)
    args[p.name] = argument(p);
  FunctionCall c{*this, what, args, loc};
  return f->emit(c);
}

Value Elaborator::applyFunction(StringRef fn, StringRef what,
                                ArrayRef<std::pair<StringRef, Value>> args, Location loc) {
  return applyFunction(
      fn, what,
      [&](const ParamSpec &p) {
        for (const auto &[name, v] : args)
          if (p.name == name)
            return v;
        assert(p.def && "a required argument of a built-in function not given");
        return *p.def;
      },
      loc);
}

} // namespace modelc
