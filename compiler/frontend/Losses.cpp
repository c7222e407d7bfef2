//===- Losses.cpp - torch.nn.functional's loss functions ------------------===//
//
// The loss functions of spec/TRAINING.md, composed from mdl ops as
// PyTorch's own definitions compose them (aten/src/ATen/native/Loss*.cpp),
// so that -mdl-differentiate needs no rule of its own for them: class
// indices become one-hot rows (mdl.one_hot, zero for ignore_index), and
// every reduction is a sum or a mean.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include "mdl/IR/TypedBuilder.h"

#include <fmt/format.h>

using namespace mlir;

namespace modelc {

namespace {

struct LossEmitter {
  Elaborator &e;
  llvm::StringMap<Value> &a;
  StringRef what;
  Location loc;
  mdl::TypedBuilder tb;

  LossEmitter(Elaborator &e, llvm::StringMap<Value> &a, StringRef what, Location loc)
      : e(e), a(a), what(what), loc(loc), tb(e.builder) {
    tb.loc = loc;
  }

  Value fail(const std::string &why) {
    e.error(loc) << fmt::format("{}: {}", what.str(), why);
    return Value::poison();
  }
  /// A float tensor argument, in f32 when it holds ints.
  mlir::Value floatArg(StringRef name) {
    mlir::Value v = a[name].tensor;
    if (!isa<FloatType>(mdl::typeOf(v).getElementType()))
      v = e.castTo(v, e.builder.getF32Type(), loc);
    return v;
  }
  /// An optional tensor argument (weight, pos_weight): PyTorch does not
  /// differentiate a loss with respect to these ("the derivative for
  /// 'weight' is not implemented"), so one computed from a trainable
  /// parameter is refused rather than silently given a gradient.
  mlir::Value optTensor(StringRef name) {
    if (!a[name].isTensor())
      return mlir::Value();
    if (std::optional<std::string> param = trainableSource(a[name].tensor)) {
      fail(fmt::format("{} is computed from the trainable parameter '{}', but a loss is not "
                       "differentiated with respect to its {} (as PyTorch): pass a buffer, a "
                       "constant or a param(requires_grad=false)",
                       name.str(), *param, name.str()));
      return mlir::Value();
    }
    return floatArg(name);
  }
  /// The first trainable parameter `v` is computed from, if any.
  static std::optional<std::string> trainableSource(mlir::Value v) {
    llvm::SmallVector<mlir::Value> work = {v};
    llvm::DenseSet<mlir::Value> seen;
    while (!work.empty()) {
      mlir::Value x = work.pop_back_val();
      if (!seen.insert(x).second)
        continue;
      mlir::Operation *def = x.getDefiningOp();
      if (!def)
        continue;
      if (auto read = llvm::dyn_cast<mdl::ReadOp>(def)) {
        auto model = read->getParentOfType<mdl::ModelOp>();
        auto state = model ? mdl::lookupState(model, read.getState()) : std::nullopt;
        if (state && state->kind == mdl::StateKind::Parameter &&
            !state->decl->hasAttr(mdl::kFrozenAttr))
          return read.getState().str();
        continue;
      }
      llvm::append_range(work, def->getOperands());
    }
    return std::nullopt;
  }
  /// "mean", "sum" or "none" (checked by checkReduction) applied to the
  /// per-element losses `l`.
  mlir::Value reduce(mlir::Value l) {
    StringRef r = a["reduction"].s;
    SmallVector<int64_t> all = llvm::to_vector(llvm::seq<int64_t>(0, mdl::typeOf(l).getRank()));
    if (r == "mean")
      return tb.mean(l, all, false);
    if (r == "sum")
      return tb.sum(l, all, false);
    return l;
  }
  bool checkReduction() {
    StringRef r = a["reduction"].s;
    if (r == "mean" || r == "sum" || r == "none")
      return true;
    fail(fmt::format("reduction must be \"mean\", \"sum\" or \"none\", but got \"{}\"", r.str()));
    return false;
  }
  /// input and target of the same shape (the elementwise losses).
  bool sameShape(mlir::Value x, mlir::Value y) {
    if (mdl::shape::compatible(mdl::typeOf(x).getShape(), mdl::typeOf(y).getShape()))
      return true;
    fail(fmt::format("input of shape {} and target of shape {} differ",
                     formatShape(mdl::typeOf(x).getShape()),
                     formatShape(mdl::typeOf(y).getShape())));
    return false;
  }
  /// A [C] vector shaped to broadcast along the class dimension 1.
  mlir::Value alongClasses(mlir::Value v, int64_t rank) { return tb.channelShaped(v, rank); }

  Value emit(StringRef name);
  Value classification(bool logits);
  Value elementwise(StringRef name);
};

Value LossEmitter::classification(bool logits) {
  if (!e.expectTensor(a["input"], what, loc) || !e.expectTensor(a["target"], what, loc) ||
      !checkReduction())
    return Value::poison();
  mlir::Value x = floatArg("input");
  RankedTensorType xt = mdl::typeOf(x);
  int64_t rank = xt.getRank();
  if (rank < 2)
    return fail(fmt::format("expects an input of shape [N, C] or [N, C, d1, ...], but got {}",
                            a["input"].describe()));
  int64_t classes = xt.getDimSize(1);
  if (ShapedType::isDynamic(classes))
    return fail("the number of classes (dimension 1 of the input) must be known at compile time");
  mlir::Value weight = optTensor("weight");
  if (weight && (mdl::typeOf(weight).getRank() != 1 || mdl::typeOf(weight).getDimSize(0) != classes))
    return fail(fmt::format("weight must be a [{}] tensor (one per class), but got {}", classes,
                            a["weight"].describe()));
  double smoothing = logits ? a["label_smoothing"].number() : 0.0;
  if (smoothing < 0 || smoothing > 1)
    return fail(fmt::format("label_smoothing must be in [0, 1], but got {}", smoothing));
  mlir::Value logp = logits ? mdl::LogSoftmaxOp::create(e.builder, loc, xt, x, 1).getResult() : x;
  mlir::Value wC = weight ? alongClasses(weight, rank) : mlir::Value();
  SmallVector<int64_t> classDim = {1};
  mlir::Value target = a["target"].tensor;
  RankedTensorType tt = mdl::typeOf(target);
  StringRef reduction = a["reduction"].s;

  if (isa<FloatType>(tt.getElementType())) {
    // Class probabilities (cross_entropy only).
    if (!logits)
      return fail(fmt::format("target must hold class indices (i64), but got {}",
                              a["target"].describe()));
    if (!mdl::shape::compatible(xt.getShape(), tt.getShape()))
      return fail(fmt::format("class probabilities must have the input's shape {}, but got {}",
                              formatShape(xt.getShape()), a["target"].describe()));
    mlir::Value t = floatArg("target");
    if (smoothing > 0)
      t = tb.add(tb.mul(t, tb.constant(1.0 - smoothing)), tb.constant(smoothing / classes));
    mlir::Value prod = tb.mul(logp, t);
    if (wC)
      prod = tb.mul(prod, wC);
    // "mean" divides by the number of samples, as PyTorch.
    return Value::ofTensor(reduce(tb.neg(tb.sum(prod, classDim, false))));
  }

  // Class indices: target [N, d1, ...] of ints.
  SmallVector<int64_t> expected(xt.getShape());
  expected.erase(expected.begin() + 1);
  if (!mdl::shape::compatible(expected, tt.getShape()))
    return fail(fmt::format("target must have shape {} (the input's without the classes), but "
                            "got {}",
                            formatShape(expected), a["target"].describe()));
  int64_t ignore = a["ignore_index"].i;
  SmallVector<int64_t> ohShape(tt.getShape());
  ohShape.push_back(classes);
  mlir::Value onehot = mdl::OneHotOp::create(e.builder, loc,
                                             RankedTensorType::get(ohShape, xt.getElementType()),
                                             target, classes, ignore);
  if (rank > 2) { // [N, d..., C] -> [N, C, d...]
    SmallVector<int64_t> perm = {0, rank - 1};
    for (int64_t d = 1; d < rank - 1; ++d)
      perm.push_back(d);
    onehot = tb.permute(onehot, perm);
  }
  mlir::Value picked = wC ? tb.mul(onehot, wC) : onehot; // w[t] at the target class
  mlir::Value nll = tb.neg(tb.sum(tb.mul(logp, picked), classDim, false));
  mlir::Value count = tb.sum(picked, classDim, false); // w[t], 0 where ignored
  auto all = [&](mlir::Value v) {
    return llvm::to_vector(llvm::seq<int64_t>(0, mdl::typeOf(v).getRank()));
  };
  auto total = [&](mlir::Value v) { return tb.sum(v, all(v), false); };
  mlir::Value loss;
  if (reduction == "mean")
    loss = tb.div(total(nll), total(count));
  else if (reduction == "sum")
    loss = total(nll);
  else
    loss = nll;
  if (smoothing > 0) {
    mlir::Value kept = tb.sum(onehot, classDim, false); // 0 where ignored
    mlir::Value smooth = tb.neg(tb.sum(wC ? tb.mul(logp, wC) : logp, classDim, false));
    smooth = tb.mul(smooth, kept);
    mlir::Value s;
    if (reduction == "mean")
      s = tb.div(total(smooth), total(wC ? count : kept));
    else if (reduction == "sum")
      s = total(smooth);
    else
      s = smooth;
    loss = tb.add(tb.mul(loss, tb.constant(1.0 - smoothing)),
                  tb.mul(s, tb.constant(smoothing / double(classes))));
  }
  return Value::ofTensor(loss);
}

Value LossEmitter::elementwise(StringRef name) {
  if (!e.expectTensor(a["input"], what, loc) || !e.expectTensor(a["target"], what, loc) ||
      !checkReduction())
    return Value::poison();
  mlir::Value x = floatArg("input"), y = floatArg("target");
  if (!sameShape(x, y))
    return Value::poison();
  mlir::Value l;
  auto absDiff = [&] { return mdl::AbsOp::create(e.builder, loc, mdl::typeOf(x), tb.sub(x, y)); };
  if (name == "mse_loss") {
    mlir::Value d = tb.sub(x, y);
    l = tb.mul(d, d);
  } else if (name == "l1_loss") {
    l = absDiff();
  } else if (name == "smooth_l1_loss" || name == "huber_loss") {
    bool huber = name == "huber_loss";
    double t = a[huber ? "delta" : "beta"].number();
    if (t < 0 || (huber && t == 0))
      return fail(fmt::format("{} must be {}, but got {}", huber ? "delta" : "beta",
                              huber ? "positive" : "non-negative", t));
    mlir::Value z = absDiff();
    if (t == 0) {
      l = z; // smooth_l1 with beta 0 is l1
    } else {
      // z < t: 0.5 z² (/ beta); else t (z - 0.5 t) (huber) or z - 0.5 beta:
      // with m = min(z, t) both are 0.5 m² (/ beta) + t' (z - m).
      mlir::Value m = tb.binary<mdl::MinimumOp>(z, tb.constant(t));
      mlir::Value quad = tb.mul(tb.mul(m, m), tb.constant(0.5));
      mlir::Value lin = tb.sub(z, m);
      l = huber ? tb.add(quad, tb.mul(lin, tb.constant(t)))
                : tb.add(tb.div(quad, tb.constant(t)), lin);
    }
  } else if (name == "binary_cross_entropy") {
    // One op, whose gradient is ATen's closed form: composed of log and
    // clamp it would be 0 / 0 where the input is exactly 0 or 1.
    auto type = tb.broadcastType(x, y);
    l = mdl::BinaryCrossEntropyOp::create(e.builder, loc, *type, x, y);
  } else { // binary_cross_entropy_with_logits
    // (1 - y) x + (1 + (pw - 1) y) (log(1 + exp(-|x|)) + max(-x, 0)).
    // |x| as maximum(x, -x) and max(-x, 0) as maximum: their tie rules give
    // PyTorch's gradient at x = 0 (abs'(0) = relu'(0) = 0 would not).
    mlir::Value one = tb.constant(1.0);
    mlir::Value negX = tb.neg(x);
    mlir::Value absX = tb.binary<mdl::MaximumOp>(x, negX);
    mlir::Value softplus = tb.add(tb.log(tb.add(one, tb.exp(tb.neg(absX)))),
                                  tb.binary<mdl::MaximumOp>(negX, tb.constant(0.0)));
    mlir::Value pw = optTensor("pos_weight");
    mlir::Value lw = pw ? tb.add(one, tb.mul(tb.sub(pw, one), y)) : mlir::Value();
    l = tb.add(tb.mul(tb.sub(one, y), x), lw ? tb.mul(lw, softplus) : softplus);
  }
  if (a.count("weight"))
    if (mlir::Value w = optTensor("weight"))
      l = tb.mul(l, w);
  return Value::ofTensor(reduce(l));
}

Value LossEmitter::emit(StringRef name) {
  if (name == "cross_entropy")
    return classification(/*logits=*/true);
  if (name == "nll_loss")
    return classification(/*logits=*/false);
  return elementwise(name);
}

} // namespace

Value Elaborator::emitLoss(StringRef name, llvm::StringMap<Value> &args, StringRef what,
                           Location loc) {
  return LossEmitter(*this, args, what, loc).emit(name);
}

} // namespace modelc
