//===- Differentiate.cpp - reverse-mode gradients of a model's loss -------===//
//
// Implements -mdl-differentiate (see Passes.td). For each `@loss_<mode>` of
// an mdl.model it builds `@loss_backward_<mode>`, one joint forward-backward
// function in the mdl dialect, as AOTAutograd's joint graph: the loss's
// forward ops, then their vector-Jacobian products in reverse order, and it
// returns the loss followed by d loss / d p for every parameter p in
// declaration order. Every later pass (fusion, the GEMM and convolution
// kernels, the thread pool) then works on it as on a forward function.
//
// Only values that depend on a parameter are differentiated ("active"):
// buffers, constants, integer tensors and inputs carry no gradient, and
// `mdl.write` (a buffer's update) is never differentiated through. The rules
// follow PyTorch's derivatives.yaml, edges included: relu'(0) = 0, abs'(0) =
// 0, clamp passes the gradient on its bounds, max pooling routes it to the
// first maximal element, maximum/minimum split it on ties, BatchNorm in
// training back-propagates through the batch statistics, dropout reuses its
// mask.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"
#include "mdl/IR/TypedBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"

#include <fmt/format.h>

#include <limits>
#include <numeric>

namespace modelc::lowering {
#define GEN_PASS_DEF_DIFFERENTIATELOSS
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;
namespace mdl = mlir::mdl;

namespace modelc::lowering {
namespace {

using Gradients = mdl::TypedBuilder;
using mdl::typeOf;

/// Reverse-mode differentiation of one loss function.
class Differentiator {
public:
  Differentiator(mdl::ModelOp model, func::FuncOp fn) : model(model), fn(fn) {}

  /// Back-propagates from `seeds`: each value's cotangent, a null one
  /// meaning 1 (the loss). Collects d / d p into `paramGrads` by name.
  LogicalResult run(ArrayRef<std::pair<Value, Value>> seeds,
                    llvm::StringMap<Value> &paramGrads);

private:
  void markActive();
  bool isActive(Value v) const { return active.contains(v); }
  /// Adds `g` to the gradient of `v` (a no-op for an inactive `v`).
  void accumulate(Value v, Value g);
  LogicalResult differentiate(Operation *op, ArrayRef<Value> resultGrads);
  InFlightDiagnostic noGradient(Operation *op, StringRef why = "");
  /// Accumulates into `w` the weight gradient of conv2d(x, w) whose output
  /// gradient is `grad` (conv2d's and, with the roles of x and grad
  /// swapped, the transposed convolution's).
  LogicalResult convWeightGrad(Operation *op, Value grad, Value x, Value w,
                               DenseI64ArrayAttr stride, DenseI64ArrayAttr padding,
                               DenseI64ArrayAttr dilation, IntegerAttr groups);

  mdl::ModelOp model;
  func::FuncOp fn;
  DenseSet<Value> active;
  DenseMap<Value, Value> grads;
  llvm::StringMap<Value> *paramGrads = nullptr;
  std::unique_ptr<OpBuilder> builder;
  std::unique_ptr<Gradients> G;
};

bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

/// `dims` of a reduction over `x` as non-negative indices; every dimension
/// when empty (the reductions' "all").
SmallVector<int64_t> reducedDims(Value x, ArrayRef<int64_t> dims) {
  int64_t rank = typeOf(x).getRank();
  if (dims.empty())
    return llvm::to_vector(llvm::seq<int64_t>(0, rank));
  SmallVector<int64_t> out;
  for (int64_t d : dims)
    out.push_back(d < 0 ? d + rank : d);
  llvm::sort(out);
  return out;
}

void Differentiator::markActive() {
  for (Operation &op : fn.getBody().front()) {
    if (auto read = dyn_cast<mdl::ReadOp>(op)) {
      auto state = mdl::lookupState(model, read.getState());
      if (state && state->kind == mdl::StateKind::Parameter && isFloatTensor(read.getResult()))
        active.insert(read.getResult());
      continue;
    }
    // Values that do not depend on their operand's values.
    if (isa<mdl::FullLikeOp, mdl::OneHotOp, mdl::WriteOp>(op))
      continue;
    if (llvm::any_of(op.getOperands(), [&](Value v) { return isActive(v); }))
      for (Value r : op.getResults())
        if (isFloatTensor(r))
          active.insert(r);
  }
}

void Differentiator::accumulate(Value v, Value g) {
  if (!isActive(v))
    return;
  auto it = grads.find(v);
  if (it == grads.end())
    grads[v] = g;
  else
    it->second = G->add(it->second, g);
}

InFlightDiagnostic Differentiator::noGradient(Operation *op, StringRef why) {
  return op->emitError(fmt::format("training: '{}' has no gradient{} (differentiating loss)",
                                   op->getName().getStringRef().str(), why.str()));
}

LogicalResult Differentiator::convWeightGrad(Operation *op, Value grad, Value x, Value w,
                                             DenseI64ArrayAttr stride, DenseI64ArrayAttr padding,
                                             DenseI64ArrayAttr dilation, IntegerAttr groups) {
  Gradients &g = *G;
  RankedTensorType wt = typeOf(w), gt = typeOf(grad), xt = typeOf(x);
  if (groups.getInt() != 1) {
    accumulate(w, mdl::Conv2dGradWeightOp::create(g.b, g.loc, w.getType(), grad, x, stride,
                                                  padding, dilation, groups));
    return success();
  }
  // dW = gradᵀ · patches: [F, N·Ho·Wo] x [N·Ho·Wo, C·kh·kw], a GEMM over the
  // batch's pixels whatever the batch size (as Linear's dW).
  int64_t f = wt.getDimSize(0), ckk = wt.getDimSize(1) * wt.getDimSize(2) * wt.getDimSize(3);
  SmallVector<int64_t> colShape = {ShapedType::kDynamic, ckk};
  if (!xt.isDynamicDim(0))
    colShape[0] = xt.getDimSize(0) * gt.getDimSize(2) * gt.getDimSize(3);
  Value col = mdl::Im2colOp::create(g.b, g.loc,
                                    RankedTensorType::get(colShape, wt.getElementType()), x,
                                    g.b.getDenseI64ArrayAttr({wt.getDimSize(2), wt.getDimSize(3)}),
                                    stride, padding, dilation);
  FailureOr<Value> rows =
      g.reshapeTo(g.permute(grad, {0, 2, 3, 1}),
                  RankedTensorType::get({colShape[0], f}, wt.getElementType()));
  if (failed(rows))
    return noGradient(op);
  accumulate(w, *g.reshapeTo(g.matmul(g.permute(*rows, {1, 0}), col), wt));
  return success();
}

LogicalResult Differentiator::run(ArrayRef<std::pair<Value, Value>> seeds,
                                  llvm::StringMap<Value> &outGrads) {
  paramGrads = &outGrads;
  markActive();
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  builder = std::make_unique<OpBuilder>(ret);
  G = std::make_unique<Gradients>(*builder);
  // A value no parameter reaches seeds nothing: its gradients are 0.
  for (auto [value, cotangent] : seeds) {
    if (!isActive(value))
      continue;
    G->loc = value.getLoc();
    accumulate(value, cotangent ? cotangent : G->full(value, 1.0));
  }

  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  for (Operation *op : llvm::reverse(forward)) {
    SmallVector<Value> resultGrads;
    bool any = false;
    for (Value r : op->getResults()) {
      Value g = grads.lookup(r);
      resultGrads.push_back(g);
      any |= bool(g);
    }
    if (!any)
      continue;
    G->loc = op->getLoc();
    if (failed(differentiate(op, resultGrads)))
      return failure();
  }
  return success();
}

LogicalResult Differentiator::differentiate(Operation *op, ArrayRef<Value> rg) {
  Gradients &g = *G;
  Value grad = rg.empty() ? Value() : rg.front();
  auto operand = [&](unsigned i) { return op->getOperand(i); };
  auto sumTo = [&](Value v, Value target) -> LogicalResult {
    if (!isActive(target))
      return success();
    FailureOr<Value> r = g.sumTo(v, target);
    if (failed(r))
      return noGradient(op, " for operands with several sizes known only at run time");
    accumulate(target, *r);
    return success();
  };

  if (auto read = dyn_cast<mdl::ReadOp>(op)) {
    StringRef name = read.getState();
    Value &slot = (*paramGrads)[name];
    slot = slot ? g.add(slot, grad) : grad;
    return success();
  }
  if (isa<mdl::AddOp>(op))
    return success(succeeded(sumTo(grad, operand(0))) && succeeded(sumTo(grad, operand(1))));
  if (isa<mdl::SubOp>(op))
    return success(succeeded(sumTo(grad, operand(0))) &&
                   succeeded(sumTo(isActive(operand(1)) ? g.neg(grad) : grad, operand(1))));
  if (isa<mdl::MulOp>(op)) {
    Value x = operand(0), y = operand(1);
    if (isActive(x) && failed(sumTo(g.mul(grad, y), x)))
      return failure();
    if (isActive(y) && failed(sumTo(g.mul(grad, x), y)))
      return failure();
    return success();
  }
  if (isa<mdl::DivOp>(op)) {
    Value x = operand(0), y = operand(1);
    if (isActive(x) && failed(sumTo(g.div(grad, y), x)))
      return failure();
    // d(x / y)/dy = -x / y², as PyTorch: -grad * x / (y * y).
    if (isActive(y) && failed(sumTo(g.div(g.mul(g.neg(grad), x), g.mul(y, y)), y)))
      return failure();
    return success();
  }
  if (isa<mdl::PowOp>(op)) {
    Value x = operand(0), y = operand(1), r = op->getResult(0);
    // derivatives.yaml's masks: 0 for the base where the exponent is 0, and
    // for the exponent where the base is 0 and the exponent >= 0 (not the
    // NaN and -inf of 0 · log 0).
    if (isActive(x)) {
      Value one = g.constant(1.0, typeOf(y).getElementType());
      Value d = g.mul(g.mul(grad, y), g.pow(x, g.sub(y, one)));
      d = g.elementwiseGrad(d, y, g.constant(0.0, typeOf(y).getElementType()), "unequal");
      if (failed(sumTo(d, x)))
        return failure();
    }
    if (isActive(y)) {
      Value e = g.elementwiseGrad(g.mul(g.mul(grad, r), g.log(x)), x, y, "pow_exponent");
      if (failed(sumTo(e, y)))
        return failure();
    }
    return success();
  }
  if (isa<mdl::BinaryCrossEntropyOp>(op)) {
    Value x = operand(0), t = operand(1);
    if (isActive(x) && failed(sumTo(g.elementwiseGrad(grad, x, t, "bce"), x)))
      return failure();
    if (isActive(t)) { // grad · (max(log(1 - x), -100) - max(log(x), -100))
      auto clampedLog = [&](Value v) -> Value {
        Value lg = g.log(v);
        return mdl::ClampOp::create(g.b, g.loc, lg.getType(), lg, g.b.getF64FloatAttr(-100),
                                    FloatAttr());
      };
      Value one = g.constant(1.0, typeOf(x).getElementType());
      if (failed(sumTo(g.mul(grad, g.sub(clampedLog(g.sub(one, x)), clampedLog(x))), t)))
        return failure();
    }
    return success();
  }
  if (auto where = dyn_cast<mdl::WhereOp>(op)) {
    // The gradient goes to the operand that was chosen; the condition has none.
    Value c = where.getCondition(), x = where.getInput(), y = where.getOther();
    Value zero = g.constant(0.0, typeOf(grad).getElementType());
    auto choose = [&](Value a, Value b) {
      return mdl::WhereOp::create(g.b, g.loc, grad.getType(), c, a, b).getResult();
    };
    if (isActive(x) && failed(sumTo(choose(grad, zero), x)))
      return failure();
    if (isActive(y) && failed(sumTo(choose(zero, grad), y)))
      return failure();
    return success();
  }
  if (isa<mdl::MaximumOp, mdl::MinimumOp>(op)) {
    StringRef kind = isa<mdl::MaximumOp>(op) ? "maximum" : "minimum";
    Value x = operand(0), y = operand(1);
    if (isActive(x) && failed(sumTo(g.elementwiseGrad(grad, x, y, kind), x)))
      return failure();
    if (isActive(y) && failed(sumTo(g.elementwiseGrad(grad, y, x, kind), y)))
      return failure();
    return success();
  }
  Value x = op->getNumOperands() ? operand(0) : Value();
  Value y = op->getNumResults() ? op->getResult(0) : Value();
  if (isa<mdl::ReluOp>(op)) {
    accumulate(x, g.elementwiseGrad(grad, x, {}, "relu"));
    return success();
  }
  if (isa<mdl::AbsOp>(op)) {
    accumulate(x, g.elementwiseGrad(grad, x, {}, "abs"));
    return success();
  }
  if (auto clamp = dyn_cast<mdl::ClampOp>(op)) {
    std::optional<double> lo, hi;
    if (clamp.getMin())
      lo = clamp.getMin()->convertToDouble();
    if (clamp.getMax())
      hi = clamp.getMax()->convertToDouble();
    auto gradOp = mdl::ElementwiseGradOp::create(
        g.b, g.loc, typeOf(grad), grad, x, Value(), g.b.getStringAttr("clamp"),
        lo ? g.b.getF64FloatAttr(*lo) : FloatAttr(), hi ? g.b.getF64FloatAttr(*hi) : FloatAttr());
    accumulate(x, gradOp);
    return success();
  }
  if (auto leaky = dyn_cast<mdl::LeakyReluOp>(op)) {
    accumulate(x, g.elementwiseGrad(grad, x, {}, "leaky_relu",
                                    leaky.getNegativeSlope().convertToDouble()));
    return success();
  }
  if (auto gelu = dyn_cast<mdl::GeluOp>(op)) {
    accumulate(x, g.elementwiseGrad(grad, x, {},
                                    gelu.getApproximate() == "tanh" ? "gelu_tanh" : "gelu"));
    return success();
  }
  if (isa<mdl::NegOp>(op)) {
    accumulate(x, g.neg(grad));
    return success();
  }
  if (isa<mdl::AllReduceOp>(op)) {
    // Every rank's result is the sum of every rank's input: each input's
    // gradient is the sum of every rank's result gradient (SyncBatchNorm's
    // backward all-reduces its two sums this way).
    accumulate(x, mdl::AllReduceOp::create(g.b, g.loc, grad.getType(), grad));
    return success();
  }
  if (isa<mdl::SigmoidOp>(op)) { // grad * (1 - y) * y
    accumulate(x, g.mul(g.mul(grad, g.sub(g.constant(1.0), y)), y));
    return success();
  }
  if (isa<mdl::TanhOp>(op)) { // grad * (1 - y²)
    accumulate(x, g.mul(grad, g.sub(g.constant(1.0), g.mul(y, y))));
    return success();
  }
  if (isa<mdl::SiluOp>(op)) { // grad * s * (1 + x * (1 - s))
    Value s = g.sigmoid(x);
    Value one = g.constant(1.0);
    accumulate(x, g.mul(g.mul(grad, s), g.add(one, g.mul(x, g.sub(one, s)))));
    return success();
  }
  if (isa<mdl::ExpOp>(op)) {
    accumulate(x, g.mul(grad, y));
    return success();
  }
  if (isa<mdl::LogOp>(op)) {
    accumulate(x, g.div(grad, x));
    return success();
  }
  if (isa<mdl::SqrtOp>(op)) { // grad / (2 y)
    accumulate(x, g.div(grad, g.mul(g.constant(2.0), y)));
    return success();
  }
  if (isa<mdl::RsqrtOp>(op)) { // -0.5 * grad * y³
    accumulate(x, g.mul(g.mul(g.constant(-0.5), grad), g.mul(g.mul(y, y), y)));
    return success();
  }
  if (isa<mdl::CastOp>(op)) {
    if (isFloatTensor(x))
      accumulate(x, mdl::CastOp::create(g.b, g.loc, x.getType(), grad));
    return success();
  }
  if (isa<mdl::ReshapeOp, mdl::FlattenOp>(op)) {
    FailureOr<Value> r = g.reshapeTo(grad, typeOf(x));
    if (failed(r))
      return noGradient(op, " for an input with several sizes known only at run time");
    accumulate(x, *r);
    return success();
  }
  if (auto perm = dyn_cast<mdl::PermuteOp>(op)) {
    ArrayRef<int64_t> dims = perm.getDims();
    SmallVector<int64_t> inverse(dims.size());
    for (auto [i, d] : llvm::enumerate(dims))
      inverse[d] = int64_t(i);
    accumulate(x, g.permute(grad, inverse));
    return success();
  }
  if (isa<mdl::SumOp, mdl::MeanOp>(op)) {
    ArrayRef<int64_t> dims = isa<mdl::SumOp>(op) ? cast<mdl::SumOp>(op).getDims()
                                                 : cast<mdl::MeanOp>(op).getDims();
    bool keepdim = isa<mdl::SumOp>(op) ? cast<mdl::SumOp>(op).getKeepdim()
                                       : cast<mdl::MeanOp>(op).getKeepdim();
    SmallVector<int64_t> all = reducedDims(x, dims);
    Value gk = grad;
    if (!keepdim) {
      std::string why;
      auto shape = mdl::shape::reduce(typeOf(x).getShape(), all, /*keepdim=*/true, why);
      FailureOr<Value> r = g.reshapeTo(grad, RankedTensorType::get(*shape, typeOf(grad).getElementType()));
      if (failed(r))
        return noGradient(op, " for a result with several sizes known only at run time");
      gk = *r;
    }
    if (isa<mdl::MeanOp>(op))
      gk = g.div(gk, g.count(x, all));
    accumulate(x, g.add(g.full(x, 0.0), gk));
    return success();
  }
  if (auto var = dyn_cast<mdl::VarOp>(op)) {
    SmallVector<int64_t> all = reducedDims(x, var.getDims());
    Value gk = grad;
    if (!var.getKeepdim()) {
      std::string why;
      auto shape = mdl::shape::reduce(typeOf(x).getShape(), all, true, why);
      FailureOr<Value> r = g.reshapeTo(grad, RankedTensorType::get(*shape, typeOf(grad).getElementType()));
      if (failed(r))
        return noGradient(op, " for a result with several sizes known only at run time");
      gk = *r;
    }
    Value n = g.count(x, all);
    if (var.getUnbiased())
      n = g.sub(n, g.constant(1.0));
    Value centered = g.sub(x, g.mean(x, all, true));
    accumulate(x, g.mul(g.div(g.mul(g.constant(2.0), gk), n), centered));
    return success();
  }
  if (auto attention = dyn_cast<mdl::AttentionOp>(op)) {
    // The weights p = softmax(s), s = q kᵀ · scale (-inf where a key comes
    // after its query), computed again, as flash attention's backward does
    // (here materialized, [.., L, S]); then dv = pᵀ g, dp = g vᵀ,
    // ds = p (dp - rowsum(dp p)) · scale, dq = ds k, dk = dsᵀ q.
    Value q = operand(0), k = operand(1), v = operand(2);
    Type elt = typeOf(grad).getElementType();
    Value scale = g.constant(attention.getScale().convertToDouble(), elt);
    Value s = g.mul(g.matmul(q, g.transposeLast(k)), scale);
    int64_t last = typeOf(s).getRank() - 1;
    if (attention.getIsCausal()) {
      int64_t l = typeOf(s).getDimSize(last - 1), n = typeOf(s).getDimSize(last);
      auto numbers = [&](int64_t count, ArrayRef<int64_t> shape) -> Value {
        auto type = RankedTensorType::get(shape, g.b.getI64Type());
        SmallVector<int64_t> values(count);
        std::iota(values.begin(), values.end(), 0);
        return arith::ConstantOp::create(g.b, g.loc, type,
                                         DenseElementsAttr::get(type, ArrayRef(values)));
      };
      auto maskType = RankedTensorType::get({l, n}, g.b.getI1Type());
      Value later = mdl::CompareOp::create(g.b, g.loc, maskType, numbers(n, {1, n}),
                                           numbers(l, {l, 1}), g.b.getStringAttr("gt"));
      Value bias = mdl::WhereOp::create(g.b, g.loc, RankedTensorType::get({l, n}, elt), later,
                                        g.constant(-std::numeric_limits<double>::infinity(), elt),
                                        g.constant(0.0, elt));
      s = g.add(s, bias);
    }
    Value p = mdl::SoftmaxOp::create(g.b, g.loc, s.getType(), s, g.b.getI64IntegerAttr(last));
    if (isActive(v))
      accumulate(v, g.matmul(g.transposeLast(p), grad));
    if (isActive(q) || isActive(k)) {
      Value dp = g.matmul(grad, g.transposeLast(v));
      Value ds = g.mul(g.mul(p, g.sub(dp, g.sum(g.mul(dp, p), {last}, true))), scale);
      if (isActive(q))
        accumulate(q, g.matmul(ds, k));
      if (isActive(k))
        accumulate(k, g.matmul(g.transposeLast(ds), q));
    }
    return success();
  }
  if (auto sm = dyn_cast<mdl::SoftmaxOp>(op)) { // y * (g - sum(g * y))
    int64_t d = reducedDims(x, {int64_t(sm.getDim())}).front();
    accumulate(x, g.mul(y, g.sub(grad, g.sum(g.mul(grad, y), {d}, true))));
    return success();
  }
  if (auto lsm = dyn_cast<mdl::LogSoftmaxOp>(op)) { // g - exp(y) * sum(g)
    int64_t d = reducedDims(x, {int64_t(lsm.getDim())}).front();
    accumulate(x, g.sub(grad, g.mul(g.exp(y), g.sum(grad, {d}, true))));
    return success();
  }
  if (isa<mdl::MatmulOp>(op)) {
    // A 1-D operand is a matrix of one row (lhs) or one column (rhs), as
    // torch.matmul promotes it; the result then lacks that dimension.
    Value a = operand(0), bm = operand(1), gm = grad;
    bool rowVector = typeOf(a).getRank() == 1, columnVector = typeOf(bm).getRank() == 1;
    Type elt = typeOf(grad).getElementType();
    auto withUnit = [&](Value v, int64_t at) -> FailureOr<Value> {
      SmallVector<int64_t> shape(typeOf(v).getShape());
      shape.insert(shape.begin() + (at < 0 ? int64_t(shape.size()) + 1 + at : at), 1);
      return g.reshapeTo(v, RankedTensorType::get(shape, elt));
    };
    FailureOr<Value> a2 = rowVector ? withUnit(a, 0) : FailureOr<Value>(a);
    FailureOr<Value> b2 = columnVector ? withUnit(bm, -1) : FailureOr<Value>(bm);
    FailureOr<Value> g2 = gm;
    if (succeeded(g2) && rowVector)
      g2 = withUnit(*g2, typeOf(*g2).getRank() - (columnVector ? 0 : 1));
    if (succeeded(g2) && columnVector)
      g2 = withUnit(*g2, -1);
    if (failed(a2) || failed(b2) || failed(g2))
      return noGradient(op, " for operands with several sizes known only at run time");
    if (isActive(a)) {
      Value da = g.matmul(*g2, g.transposeLast(*b2));
      if (rowVector) { // [..., 1, K] summed to [K]
        FailureOr<Value> r = g.sumTo(da, *a2);
        if (failed(r) || failed(r = g.reshapeTo(*r, typeOf(a))))
          return noGradient(op);
        accumulate(a, *r);
      } else if (failed(sumTo(da, a))) {
        return failure();
      }
    }
    if (isActive(bm)) {
      Value db = g.matmul(g.transposeLast(*a2), *g2);
      if (columnVector) {
        FailureOr<Value> r = g.sumTo(db, *b2);
        if (failed(r) || failed(r = g.reshapeTo(*r, typeOf(bm))))
          return noGradient(op);
        accumulate(bm, *r);
      } else if (failed(sumTo(db, bm))) {
        return failure();
      }
    }
    return success();
  }
  if (auto emb = dyn_cast<mdl::EmbeddingOp>(op)) {
    // dW = onehot(indices)ᵀ · grad over every looked-up row: rows used
    // twice add up, unused rows get 0.
    Value w = emb.getWeight(), idx = emb.getIndices();
    if (!isActive(w))
      return success();
    int64_t rows = typeOf(w).getDimSize(0), width = typeOf(w).getDimSize(1);
    Type elt = typeOf(w).getElementType();
    auto flatIdx = g.reshapeTo(idx, RankedTensorType::get({ShapedType::kDynamic},
                                                          typeOf(idx).getElementType()));
    auto flatGrad = g.reshapeTo(grad, RankedTensorType::get({ShapedType::kDynamic, width}, elt));
    if (failed(flatIdx) || failed(flatGrad))
      return noGradient(op);
    SmallVector<int64_t> ohShape(typeOf(*flatIdx).getShape());
    ohShape.push_back(rows);
    // Only padding_idx is ignored (INT64_MIN, never an index, when there is
    // none): any index outside [0, rows) fails the call, where forward's
    // gather would clamp it.
    auto onehot = mdl::OneHotOp::create(
        g.b, g.loc, RankedTensorType::get(ohShape, elt), *flatIdx, rows,
        emb.getPaddingIdx().value_or(std::numeric_limits<int64_t>::min()));
    onehot->setAttr(mdl::kEmbeddingIndicesAttr, g.b.getUnitAttr());
    accumulate(w, *g.reshapeTo(g.matmul(g.permute(onehot, {1, 0}), *flatGrad), typeOf(w)));
    return success();
  }
  if (auto amax = dyn_cast<mdl::AmaxOp>(op)) {
    // Shared evenly among the maxima, as PyTorch's amax.
    SmallVector<int64_t> all = reducedDims(x, amax.getDims());
    std::string why;
    auto keepShape = mdl::shape::reduce(typeOf(x).getShape(), all, true, why);
    auto keepType = RankedTensorType::get(*keepShape, typeOf(x).getElementType());
    FailureOr<Value> yk = g.reshapeTo(y, keepType), gk = g.reshapeTo(grad, keepType);
    if (failed(yk) || failed(gk))
      return noGradient(op, " for a result with several sizes known only at run time");
    Value ties = g.sum(g.elementwiseGrad(g.full(x, 1.0), x, *yk, "equal"), all, true);
    accumulate(x, g.elementwiseGrad(g.div(*gk, ties), x, *yk, "equal"));
    return success();
  }
  if (auto cat = dyn_cast<mdl::CatOp>(op)) {
    int64_t dim = reducedDims(y, {int64_t(cat.getDim())}).front(), start = 0;
    for (Value in : cat.getInputs()) {
      int64_t size = typeOf(in).getDimSize(dim);
      if (ShapedType::isDynamic(size))
        return noGradient(op, " along a size known only at run time");
      if (isActive(in)) {
        SmallVector<int64_t> shape(typeOf(grad).getShape());
        shape[dim] = size;
        accumulate(in, mdl::SliceOp::create(g.b, g.loc,
                                            RankedTensorType::get(shape, typeOf(grad).getElementType()),
                                            grad, dim, start));
      }
      start += size;
    }
    return success();
  }
  if (auto slice = dyn_cast<mdl::SliceOp>(op)) {
    // narrow's gradient: grad where the slice was, zeros around it (the
    // zeros shaped by slices of x itself), along the one dimension.
    Value in = slice.getInput();
    int64_t dim = slice.getDim(), start = slice.getStart();
    int64_t total = typeOf(in).getDimSize(dim), length = typeOf(y).getDimSize(dim);
    if (ShapedType::isDynamic(total) || ShapedType::isDynamic(length))
      return noGradient(op, " along a size known only at run time");
    auto zeros = [&](int64_t from, int64_t size) {
      SmallVector<int64_t> shape(typeOf(in).getShape());
      shape[dim] = size;
      Value part = mdl::SliceOp::create(
          g.b, g.loc, RankedTensorType::get(shape, typeOf(in).getElementType()), in, dim, from);
      return g.full(part, 0.0);
    };
    SmallVector<Value> parts;
    if (start > 0)
      parts.push_back(zeros(0, start));
    parts.push_back(grad);
    if (start + length < total)
      parts.push_back(zeros(start + length, total - start - length));
    accumulate(in, parts.size() == 1 ? grad
                                     : mdl::CatOp::create(g.b, g.loc, typeOf(in), parts,
                                                          g.b.getI64IntegerAttr(dim))
                                           .getResult());
    return success();
  }
  if (auto pool = dyn_cast<mdl::AvgPool2dOp>(op)) {
    for (int64_t d : {2, 3})
      if (typeOf(x).isDynamicDim(d))
        return noGradient(op, " for spatial sizes known only at run time");
    accumulate(x, mdl::AvgPool2dGradOp::create(g.b, g.loc, x.getType(), grad, x,
                                               pool.getKernelSizeAttr(), pool.getStrideAttr(),
                                               pool.getPaddingAttr(), pool.getCountIncludePadAttr()));
    return success();
  }
  if (auto lin = dyn_cast<mdl::LinearOp>(op)) {
    Value w = lin.getWeight(), bias = lin.getBias();
    int64_t rank = typeOf(x).getRank();
    if (isActive(x))
      accumulate(x, typeOf(x).getRank() == 1
                        ? Value(*g.reshapeTo(g.matmul(*g.reshapeTo(grad, RankedTensorType::get(
                                                           {1, typeOf(grad).getDimSize(0)},
                                                           typeOf(grad).getElementType())),
                                                      w),
                                             typeOf(x)))
                        : g.matmul(grad, w));
    if (isActive(w)) {
      // dW = gᵀ x over all leading dimensions.
      int64_t out = typeOf(w).getDimSize(0), in = typeOf(w).getDimSize(1);
      Type f32 = typeOf(grad).getElementType();
      auto g2 = g.reshapeTo(grad, RankedTensorType::get({ShapedType::kDynamic, out}, f32));
      auto x2 = g.reshapeTo(x, RankedTensorType::get({ShapedType::kDynamic, in}, f32));
      if (failed(g2) || failed(x2))
        return noGradient(op);
      Value dw = g.matmul(g.permute(*g2, {1, 0}), *x2);
      accumulate(w, *g.reshapeTo(dw, typeOf(w)));
    }
    if (bias && isActive(bias)) {
      SmallVector<int64_t> lead = llvm::to_vector(llvm::seq<int64_t>(0, rank - 1));
      accumulate(bias, lead.empty() ? grad : g.sum(grad, lead, false));
    }
    return success();
  }
  if (auto conv = dyn_cast<mdl::Conv2dOp>(op)) {
    Value w = conv.getWeight(), bias = conv.getBias();
    for (int64_t d : {2, 3})
      if (typeOf(x).isDynamicDim(d))
        return noGradient(op, " for spatial sizes known only at run time");
    if (isActive(x))
      accumulate(x, mdl::Conv2dGradInputOp::create(g.b, g.loc, x.getType(), grad, w,
                                                   conv.getStrideAttr(), conv.getPaddingAttr(),
                                                   conv.getDilationAttr(), conv.getGroupsAttr()));
    if (isActive(w) &&
        failed(convWeightGrad(op, grad, x, w, conv.getStrideAttr(), conv.getPaddingAttr(),
                              conv.getDilationAttr(), conv.getGroupsAttr())))
      return failure();
    if (bias && isActive(bias))
      accumulate(bias, g.sum(grad, {0, 2, 3}, false));
    return success();
  }
  if (auto convT = dyn_cast<mdl::Conv2dGradInputOp>(op)) {
    // ConvTranspose2d: y = convᵀ(x, W), the adjoint of z -> conv(z, W).
    // So dx = conv(dy, W), and dW is conv's weight gradient with x in the
    // place of its output gradient and dy in the place of its input.
    Value x = convT.getGrad(), w = convT.getWeight();
    if (isActive(x))
      accumulate(x, mdl::Conv2dOp::create(g.b, g.loc, x.getType(), grad, w, Value(),
                                          convT.getStrideAttr(), convT.getPaddingAttr(),
                                          convT.getDilationAttr(), convT.getGroupsAttr()));
    if (isActive(w) &&
        failed(convWeightGrad(op, x, grad, w, convT.getStrideAttr(), convT.getPaddingAttr(),
                              convT.getDilationAttr(), convT.getGroupsAttr())))
      return failure();
    return success();
  }
  if (auto pool = dyn_cast<mdl::MaxPool2dOp>(op)) {
    for (int64_t d : {2, 3})
      if (typeOf(x).isDynamicDim(d))
        return noGradient(op, " for spatial sizes known only at run time");
    accumulate(x, mdl::MaxPool2dGradOp::create(g.b, g.loc, x.getType(), grad, x,
                                               pool.getKernelSizeAttr(), pool.getStrideAttr(),
                                               pool.getPaddingAttr()));
    return success();
  }
  if (auto pool = dyn_cast<mdl::AdaptiveAvgPool2dOp>(op)) {
    ArrayRef<int64_t> out = pool.getOutputSize();
    if (out[0] == 1 && out[1] == 1) { // the mean over H and W
      accumulate(x, g.add(g.full(x, 0.0), g.div(grad, g.count(x, {2, 3}))));
      return success();
    }
    for (int64_t d : {2, 3})
      if (typeOf(x).getRank() != 4 || typeOf(x).isDynamicDim(d))
        return noGradient(op, " for spatial sizes known only at run time");
    accumulate(x, mdl::AdaptiveAvgPool2dGradOp::create(g.b, g.loc, x.getType(), grad, x));
    return success();
  }
  if (auto stats = dyn_cast<mdl::BatchNormStatsOp>(op)) {
    // mean = E[x], var = E[(x - mean)²], unbiased = var * M / (M - 1), over
    // every dimension but the channels'.
    int64_t rank = typeOf(x).getRank();
    SmallVector<int64_t> dims = {0};
    for (int64_t d = 2; d < rank; ++d)
      dims.push_back(d);
    Value m = g.count(x, dims);
    Value zero = g.full(x, 0.0);
    Value dx = zero;
    if (rg[0])
      dx = g.add(dx, g.div(g.channelShaped(rg[0], rank), m));
    Value centered;
    auto centeredX = [&] {
      if (!centered)
        centered = g.sub(x, g.channelShaped(stats.getMean(), rank));
      return centered;
    };
    if (rg[1])
      dx = g.add(dx, g.mul(g.div(g.mul(g.constant(2.0), g.channelShaped(rg[1], rank)), m),
                           centeredX()));
    if (rg[2])
      dx = g.add(dx, g.mul(g.div(g.mul(g.constant(2.0), g.channelShaped(rg[2], rank)),
                                 g.sub(m, g.constant(1.0))),
                           centeredX()));
    accumulate(x, dx);
    return success();
  }
  if (auto bn = dyn_cast<mdl::BatchNormOp>(op)) {
    Value mean = bn.getMean(), var = bn.getVar(), w = bn.getWeight(), bias = bn.getBias();
    int64_t rank = typeOf(x).getRank();
    SmallVector<int64_t> dims = {0};
    for (int64_t d = 2; d < rank; ++d)
      dims.push_back(d);
    Value invstd = g.rsqrt(g.add(var, g.constant(bn.getEps().convertToDouble())));
    Value centered = g.sub(x, g.channelShaped(mean, rank));
    Value invstdC = g.channelShaped(invstd, rank);
    if (w && isActive(w))
      accumulate(w, g.sum(g.mul(grad, g.mul(centered, invstdC)), dims, false));
    if (bias && isActive(bias))
      accumulate(bias, g.sum(grad, dims, false));
    Value dxhat = w ? g.mul(grad, g.channelShaped(w, rank)) : grad;
    if (isActive(x))
      accumulate(x, g.mul(dxhat, invstdC));
    if (isActive(mean))
      accumulate(mean, g.mul(g.neg(g.sum(dxhat, dims, false)), invstd));
    if (isActive(var)) {
      Value cube = g.mul(g.mul(invstd, invstd), invstd);
      accumulate(var, g.mul(g.mul(g.sum(g.mul(dxhat, centered), dims, false),
                                  g.constant(-0.5)),
                            cube));
    }
    return success();
  }
  if (auto ln = dyn_cast<mdl::LayerNormOp>(op)) {
    int64_t rank = typeOf(x).getRank();
    int64_t k = int64_t(ln.getNormalizedShape().size());
    SmallVector<int64_t> inner, outer;
    for (int64_t d = 0; d < rank; ++d)
      (d >= rank - k ? inner : outer).push_back(d);
    Value w = ln.getWeight(), bias = ln.getBias();
    Value mu = g.mean(x, inner, true);
    Value centered = g.sub(x, mu);
    Value v = g.mean(g.mul(centered, centered), inner, true);
    Value invstd = g.rsqrt(g.add(v, g.constant(ln.getEps().convertToDouble())));
    Value xhat = g.mul(centered, invstd);
    if (w && isActive(w))
      accumulate(w, outer.empty() ? g.mul(grad, xhat) : g.sum(g.mul(grad, xhat), outer, false));
    if (bias && isActive(bias))
      accumulate(bias, outer.empty() ? grad : g.sum(grad, outer, false));
    if (isActive(x)) {
      Value dxhat = w ? g.mul(grad, w) : grad;
      Value dx = g.mul(invstd, g.sub(g.sub(dxhat, g.mean(dxhat, inner, true)),
                                     g.mul(xhat, g.mean(g.mul(dxhat, xhat), inner, true))));
      accumulate(x, dx);
    }
    return success();
  }
  if (isa<arith::ConstantOp>(op))
    return success();
  return noGradient(op, " yet");
}

/// Dropout's mask as its own value, so that backward reuses it: `y =
/// dropout(x)` becomes `y = x * dropout(ones_like(x))`, PyTorch's `x *
/// mask` with the mask scaled by 1 / (1 - p).
void separateDropoutMasks(func::FuncOp fn) {
  SmallVector<mdl::DropoutOp> drops;
  fn.walk([&](mdl::DropoutOp d) { drops.push_back(d); });
  for (mdl::DropoutOp d : drops) {
    OpBuilder b(d);
    Value x = d.getInput();
    Value ones = mdl::FullLikeOp::create(b, d.getLoc(), x.getType(), x, b.getF64FloatAttr(1.0));
    auto mask = mdl::DropoutOp::create(b, d.getLoc(), x.getType(), ones, d.getPAttr());
    mask->setAttrs(d->getAttrs());
    Value y = mdl::MulOp::create(b, d.getLoc(), x.getType(), x, mask);
    d.replaceAllUsesWith(y);
    d.erase();
  }
}

/// Clones `fn` as `name` (a joint function), differentiates it from the
/// seeds `seedsOf` gives (of the clone), and makes it return `kept` results
/// of the original followed by every parameter's gradient in declaration
/// order (zeros for a parameter nothing reaches).
LogicalResult buildJoint(
    mdl::ModelOp model, func::FuncOp fn, StringRef name, TypeRange extraArgs,
    llvm::function_ref<SmallVector<std::pair<Value, Value>>(func::FuncOp, func::ReturnOp)>
        seedsOf) {
  OpBuilder b(fn);
  auto joint = cast<func::FuncOp>(b.clone(*fn));
  joint.setSymName(name);
  joint->setAttr(mdl::kBackwardAttr, b.getUnitAttr());
  for (Type t : extraArgs)
    (void)joint.insertArgument(joint.getNumArguments(), t, DictionaryAttr(), fn.getLoc());
  separateDropoutMasks(joint);

  auto ret = cast<func::ReturnOp>(joint.getBody().front().getTerminator());
  llvm::StringMap<Value> paramGrads;
  Differentiator d(model, joint);
  if (failed(d.run(seedsOf(joint, ret), paramGrads)))
    return failure();

  OpBuilder rb(ret);
  SmallVector<Value> results(ret.getOperands());
  for (const mdl::StateInfo &s : mdl::getStates(model)) {
    if (s.kind != mdl::StateKind::Parameter)
      continue;
    Value gradValue = paramGrads.lookup(s.name);
    if (!gradValue) {
      Value p = mdl::ReadOp::create(rb, ret.getLoc(), s.type,
                                    FlatSymbolRefAttr::get(rb.getContext(), s.name));
      gradValue = mdl::FullLikeOp::create(rb, ret.getLoc(), s.type, p, rb.getF64FloatAttr(0.0));
    } else if (gradValue.getType() != s.type) {
      gradValue = mdl::ReshapeOp::create(rb, ret.getLoc(), s.type, gradValue,
                                         rb.getDenseI64ArrayAttr(s.type.getShape()));
    }
    results.push_back(gradValue);
  }
  func::ReturnOp::create(rb, ret.getLoc(), results);
  ret.erase();
  joint.setType(FunctionType::get(b.getContext(), joint.getArgumentTypes(),
                                  ValueRange(results).getTypes()));
  return success();
}

/// @loss_<mode> -> @loss_backward_<mode>(inputs) -> (loss, grads...).
LogicalResult differentiateLoss(mdl::ModelOp model, func::FuncOp loss) {
  StringRef mode = loss.getSymName().drop_front(StringRef("loss_").size());
  return buildJoint(model, loss, ("loss_backward_" + mode).str(), {},
                    [](func::FuncOp, func::ReturnOp ret) {
                      return SmallVector<std::pair<Value, Value>>{{ret.getOperand(0), Value()}};
                    });
}

/// @forward_<mode> -> @forward_backward_<mode>(inputs, grad_outputs) ->
/// (outputs..., grads...): y.backward(g) (the ABI's forward_backward).
LogicalResult differentiateForward(mdl::ModelOp model, func::FuncOp forward) {
  StringRef mode = forward.getSymName().drop_front(StringRef("forward_").size());
  unsigned numInputs = forward.getNumArguments();
  return buildJoint(model, forward, ("forward_backward_" + mode).str(),
                    forward.getResultTypes(), [&](func::FuncOp joint, func::ReturnOp ret) {
                      SmallVector<std::pair<Value, Value>> seeds;
                      OpBuilder b(ret);
                      for (auto [i, output] : llvm::enumerate(ret.getOperands())) {
                        if (!isFloatTensor(output))
                          continue;
                        // output-shaped zeros + g: the elementwise lowering
                        // checks that a size known only at run time of g is
                        // the output's, before anything reads g.
                        Value g = joint.getArgument(numInputs + i);
                        Value zeros = mdl::FullLikeOp::create(b, output.getLoc(), output.getType(),
                                                              output, b.getF64FloatAttr(0.0));
                        seeds.push_back({output, mdl::AddOp::create(b, output.getLoc(),
                                                                    output.getType(), zeros, g)});
                      }
                      return seeds;
                    });
}

struct DifferentiateLossPass
    : public impl::DifferentiateLossBase<DifferentiateLossPass> {
  void runOnOperation() override {
    for (auto model : getOperation().getOps<mdl::ModelOp>()) {
      SmallVector<func::FuncOp> losses;
      for (auto fn : model.getBody()->getOps<func::FuncOp>())
        if (fn.getSymName().starts_with("loss_") && !fn->hasAttr(mdl::kBackwardAttr))
          losses.push_back(fn);
      for (func::FuncOp loss : losses) {
        if (failed(differentiateLoss(model, loss)))
          return signalPassFailure();
        // Only the joint function is an entry of the library.
        loss.erase();
      }
      // y.backward(g) for the forward of a model that trains, on request:
      // two more joint functions, which double the training code.
      if (!losses.empty() && getOperation()->hasAttr(mdl::kForwardBackwardAttr))
        for (StringRef mode : {"eval", "train"})
          if (auto forward = model.lookupSymbol<func::FuncOp>(("forward_" + mode).str()))
            if (failed(differentiateForward(model, forward)))
              return signalPassFailure();
    }
  }
};

} // namespace
} // namespace modelc::lowering
