//===- Builtins.cpp - The built-in modules of torch.nn --------------------===//
//
// Each built-in module has torch.nn's constructor arguments and defaults, its
// state under torch.nn's names with torch.nn's initial values, and a forward
// that follows torch.nn to the letter, BatchNorm's running statistics
// included.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include "mdl/IR/MdlOps.h"

#include <fmt/format.h>

#include <cmath>

using namespace mlir;

namespace modelc {

static const llvm::StringMap<Signature> &moduleSignatures() {
  auto I = [](int64_t v) { return std::optional<Value>(Value::integer(v)); };
  auto F = [](double v) { return std::optional<Value>(Value::real(v)); };
  auto B = [](bool v) { return std::optional<Value>(Value::boolean(v)); };
  std::optional<Value> none = Value::none();
  std::optional<Value> req;
  Signature batchNorm = {{"num_features", ArgType::Int, req},
                         {"eps", ArgType::Float, F(1e-5)},
                         {"momentum", ArgType::OptFloat, F(0.1)},
                         {"affine", ArgType::Bool, B(true)},
                         {"track_running_stats", ArgType::Bool, B(true)}};
  Signature inplace = {{"inplace", ArgType::Bool, B(false)}};
  static const llvm::StringMap<Signature> sigs = {
      {"Linear", {{"in_features", ArgType::Int, req}, {"out_features", ArgType::Int, req},
                  {"bias", ArgType::Bool, B(true)}}},
      {"Conv2d", {{"in_channels", ArgType::Int, req}, {"out_channels", ArgType::Int, req},
                  {"kernel_size", ArgType::IntOrInts, req}, {"stride", ArgType::IntOrInts, I(1)},
                  {"padding", ArgType::IntOrInts, I(0)}, {"dilation", ArgType::IntOrInts, I(1)},
                  {"groups", ArgType::Int, I(1)}, {"bias", ArgType::Bool, B(true)}}},
      {"BatchNorm1d", batchNorm},
      {"BatchNorm2d", batchNorm},
      {"LayerNorm", {{"normalized_shape", ArgType::IntOrInts, req},
                     {"eps", ArgType::Float, F(1e-5)},
                     {"elementwise_affine", ArgType::Bool, B(true)},
                     {"bias", ArgType::Bool, B(true)}}},
      {"Embedding", {{"num_embeddings", ArgType::Int, req}, {"embedding_dim", ArgType::Int, req}}},
      {"ReLU", inplace},
      {"GELU", {{"approximate", ArgType::Str, std::optional<Value>(Value::str("none"))}}},
      {"Sigmoid", {}},
      {"Tanh", {}},
      {"SiLU", inplace},
      {"LeakyReLU", {{"negative_slope", ArgType::Float, F(0.01)},
                     {"inplace", ArgType::Bool, B(false)}}},
      {"Softmax", {{"dim", ArgType::OptInt, none}}},
      {"LogSoftmax", {{"dim", ArgType::OptInt, none}}},
      {"Identity", {}},
      {"Dropout", {{"p", ArgType::Float, F(0.5)}, {"inplace", ArgType::Bool, B(false)}}},
      {"Flatten", {{"start_dim", ArgType::Int, I(1)}, {"end_dim", ArgType::Int, I(-1)}}},
      {"MaxPool2d", {{"kernel_size", ArgType::IntOrInts, req},
                     {"stride", ArgType::OptIntOrInts, none},
                     {"padding", ArgType::IntOrInts, I(0)}}},
      {"AvgPool2d", {{"kernel_size", ArgType::IntOrInts, req},
                     {"stride", ArgType::OptIntOrInts, none},
                     {"padding", ArgType::IntOrInts, I(0)},
                     {"ceil_mode", ArgType::Bool, B(false)},
                     {"count_include_pad", ArgType::Bool, B(true)}}},
      {"AdaptiveAvgPool2d", {{"output_size", ArgType::IntOrInts, req}}},
  };
  return sigs;
}

bool Elaborator::isBuiltinModule(StringRef name) { return moduleSignatures().count(name); }

static void addState(Instance &inst, StringRef local, StateRole role, RankedTensorType type,
                     StringRef init, ArrayRef<double> args) {
  inst.states.push_back({inst.qualify(local), local.str(), role, type, init.str(),
                         SmallVector<double, 2>(args), inst.loc});
}

LogicalResult Elaborator::instantiateBuiltin(Instance &inst, ArrayRef<ArgValue> args, Env &env,
                                             int depth, const ast::CallExpr &call) {
  auto bound = bind(moduleSignatures().lookup(inst.typeName), args, inst.typeName, inst.loc);
  if (!bound)
    return failure();
  inst.args = std::move(*bound);
  llvm::StringMap<Value> &a = inst.args;
  StringRef kind = inst.typeName;
  Type f32 = builder.getF32Type();
  auto positive = [&](StringRef name) {
    if (a[name].i > 0)
      return true;
    error(inst.loc) << fmt::format("{}: '{}' must be positive, but got {}", kind.str(),
                                   name.str(), a[name].i);
    return false;
  };

  if (kind == "Linear") {
    if (!positive("in_features") || !positive("out_features"))
      return failure();
    int64_t in = a["in_features"].i, out = a["out_features"].i;
    // kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    double bound = 1.0 / std::sqrt(double(in));
    addState(inst, "weight", StateRole::Parameter, tensorOf({out, in}, f32), "uniform",
             {-bound, bound});
    if (a["bias"].b)
      addState(inst, "bias", StateRole::Parameter, tensorOf({out}, f32), "uniform",
               {-bound, bound});
    return success();
  }
  if (kind == "Conv2d") {
    if (!positive("in_channels") || !positive("out_channels") || !positive("groups"))
      return failure();
    int64_t in = a["in_channels"].i, out = a["out_channels"].i, groups = a["groups"].i;
    auto kernel = toInts(a["kernel_size"], 2, "kernel_size", inst.loc);
    auto stride = toInts(a["stride"], 2, "stride", inst.loc);
    auto padding = toInts(a["padding"], 2, "padding", inst.loc);
    auto dilation = toInts(a["dilation"], 2, "dilation", inst.loc);
    if (!kernel || !stride || !padding || !dilation)
      return failure();
    if (in % groups || out % groups) {
      error(inst.loc) << fmt::format(
          "Conv2d: in_channels ({}) and out_channels ({}) must be divisible by groups ({})", in,
          out, groups);
      return failure();
    }
    for (int64_t v : llvm::concat<int64_t>(*kernel, *stride, *dilation)) {
      if (v <= 0) {
        error(inst.loc) << "Conv2d: kernel_size, stride and dilation must be positive";
        return failure();
      }
    }
    for (int64_t v : *padding) {
      if (v < 0) {
        error(inst.loc) << "Conv2d: padding must be non-negative";
        return failure();
      }
    }
    // Normalize the arguments so that forward reads them as pairs.
    auto pair = [](ArrayRef<int64_t> v) {
      return Value::list({Value::integer(v[0]), Value::integer(v[1])});
    };
    a["kernel_size"] = pair(*kernel);
    a["stride"] = pair(*stride);
    a["padding"] = pair(*padding);
    a["dilation"] = pair(*dilation);
    double fanIn = double(in / groups) * double((*kernel)[0] * (*kernel)[1]);
    double bound = 1.0 / std::sqrt(fanIn);
    addState(inst, "weight", StateRole::Parameter,
             tensorOf({out, in / groups, (*kernel)[0], (*kernel)[1]}, f32), "uniform",
             {-bound, bound});
    if (a["bias"].b)
      addState(inst, "bias", StateRole::Parameter, tensorOf({out}, f32), "uniform",
               {-bound, bound});
    return success();
  }
  if (kind == "BatchNorm1d" || kind == "BatchNorm2d") {
    if (!positive("num_features"))
      return failure();
    int64_t c = a["num_features"].i;
    if (a["affine"].b) {
      addState(inst, "weight", StateRole::Parameter, tensorOf({c}, f32), "full", {1.0});
      addState(inst, "bias", StateRole::Parameter, tensorOf({c}, f32), "full", {0.0});
    }
    if (a["track_running_stats"].b) {
      addState(inst, "running_mean", StateRole::PersistentBuffer, tensorOf({c}, f32), "full",
               {0.0});
      addState(inst, "running_var", StateRole::PersistentBuffer, tensorOf({c}, f32), "full",
               {1.0});
      addState(inst, "num_batches_tracked", StateRole::PersistentBuffer,
               tensorOf({}, builder.getI64Type()), "full", {0.0});
    }
    return success();
  }
  if (kind == "LayerNorm") {
    auto shape = toInts(a["normalized_shape"], 0, "normalized_shape", inst.loc);
    if (!shape)
      return failure();
    SmallVector<Value> dims;
    for (int64_t d : *shape)
      dims.push_back(Value::integer(d));
    a["normalized_shape"] = Value::list(std::vector<Value>(dims.begin(), dims.end()));
    if (a["elementwise_affine"].b) {
      addState(inst, "weight", StateRole::Parameter, tensorOf(*shape, f32), "full", {1.0});
      if (a["bias"].b)
        addState(inst, "bias", StateRole::Parameter, tensorOf(*shape, f32), "full", {0.0});
    }
    return success();
  }
  if (kind == "Embedding") {
    if (!positive("num_embeddings") || !positive("embedding_dim"))
      return failure();
    addState(inst, "weight", StateRole::Parameter,
             tensorOf({a["num_embeddings"].i, a["embedding_dim"].i}, f32), "normal",
             {0.0, 1.0});
    return success();
  }
  if (kind == "AvgPool2d" && a["ceil_mode"].b) {
    error(inst.loc) << "AvgPool2d: ceil_mode=true is not supported yet";
    return failure();
  }
  if (kind == "Dropout" && (a["p"].f < 0 || a["p"].f > 1)) {
    error(inst.loc) << fmt::format("dropout probability has to be between 0 and 1, but got {}",
                                   a["p"].f);
    return failure();
  }
  return success();
}

/// BatchNorm as torch.nn.modules.batchnorm._BatchNorm.forward: batch
/// statistics in training mode (and whenever running statistics are not
/// tracked), running statistics otherwise; in training mode with tracking,
/// num_batches_tracked += 1 and running_* move by the momentum, or by
/// 1/num_batches_tracked when momentum is none.
static Value batchNorm(Elaborator &e, Instance &inst, const Value &x, Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  int64_t c = a["num_features"].i;
  ArrayRef<int64_t> shape = x.type().getShape();
  bool is2d = inst.typeName == "BatchNorm2d";
  bool rankOk = is2d ? shape.size() == 4 : (shape.size() == 2 || shape.size() == 3);
  if (!rankOk) {
    e.error(loc) << fmt::format("{} expects a {} input, but got {}", inst.typeName,
                                is2d ? "4-D [N, C, H, W]" : "2-D [N, C] or 3-D [N, C, L]",
                                x.describe());
    return Value::poison();
  }
  if (!ShapedType::isDynamic(shape[1]) && shape[1] != c) {
    e.error(loc) << fmt::format("{} expects {} channels, but its input has {}", inst.typeName,
                                c, shape[1]);
    return Value::poison();
  }
  OpBuilder &b = e.builder;
  mlir::Value in = e.castTo(x.tensor, b.getF32Type(), loc);
  auto read = [&](StringRef name) -> mlir::Value {
    const StateEntry *s = inst.findState(name);
    return s ? e.readState(inst, *s, loc).tensor : mlir::Value();
  };
  mlir::Value weight = read("weight"), bias = read("bias");
  bool track = a["track_running_stats"].b;
  bool useBatchStats = e.training || !track;
  mlir::Value mean, var;
  auto vecType = e.tensorOf({c}, b.getF32Type());
  if (useBatchStats) {
    std::string why;
    if (failed(mlir::mdl::shape::batchNormStats(shape, why))) {
      e.error(loc) << fmt::format("{}: {}", inst.typeName, why);
      return Value::poison();
    }
    auto stats = mlir::mdl::BatchNormStatsOp::create(b, loc, vecType, vecType, vecType, in);
    mean = stats.getMean();
    var = stats.getVar();
    if (e.training && track) {
      const StateEntry *count = inst.findState("num_batches_tracked");
      const StateEntry *rm = inst.findState("running_mean");
      const StateEntry *rv = inst.findState("running_var");
      mlir::Value n = read("num_batches_tracked");
      auto countType = llvm::cast<RankedTensorType>(n.getType());
      mlir::Value n1 = mlir::mdl::AddOp::create(b, loc, countType, n,
                                                e.scalar(1, countType.getElementType(), loc));
      mlir::mdl::WriteOp::create(b, loc, n1, FlatSymbolRefAttr::get(e.ctx, count->fullName));
      e.stateValues[count->fullName] = n1;

      mlir::Value m, oneMinusM;
      auto scalarType = e.tensorOf({}, b.getF32Type());
      if (a["momentum"].isNone()) {
        mlir::Value nf = e.castTo(n1, b.getF32Type(), loc);
        m = mlir::mdl::DivOp::create(b, loc, scalarType, e.scalar(1, b.getF32Type(), loc), nf);
        oneMinusM =
            mlir::mdl::SubOp::create(b, loc, scalarType, e.scalar(1, b.getF32Type(), loc), m);
      } else {
        m = e.scalar(a["momentum"].f, b.getF32Type(), loc);
        oneMinusM = e.scalar(1 - a["momentum"].f, b.getF32Type(), loc);
      }
      auto update = [&](const StateEntry *s, mlir::Value stat) {
        mlir::Value old = read(s->localName);
        mlir::Value kept = mlir::mdl::MulOp::create(b, loc, vecType, oneMinusM, old);
        mlir::Value moved = mlir::mdl::MulOp::create(b, loc, vecType, m, stat);
        mlir::Value next = mlir::mdl::AddOp::create(b, loc, vecType, kept, moved);
        mlir::mdl::WriteOp::create(b, loc, next, FlatSymbolRefAttr::get(e.ctx, s->fullName));
        e.stateValues[s->fullName] = next;
      };
      update(rm, mean);
      update(rv, stats.getUnbiasedVar());
    }
  } else {
    mean = read("running_mean");
    var = read("running_var");
  }
  auto result = mlir::mdl::BatchNormOp::create(b, loc, in.getType(), in, mean, var, weight, bias,
                                               b.getF64FloatAttr(a["eps"].f));
  return Value::ofTensor(result);
}

Value Elaborator::callBuiltinModule(Instance &inst, ArrayRef<Value> inputs, Location loc) {
  StringRef kind = inst.typeName;
  if (inputs.size() != 1) {
    error(loc) << fmt::format("{} takes one input, but {} were given", kind.str(),
                              inputs.size());
    return Value::poison();
  }
  const Value &x = inputs.front();
  if (x.isPoison())
    return x;
  if (!expectTensor(x, kind, loc))
    return Value::poison();
  llvm::StringMap<Value> &a = inst.args;
  auto state = [&](StringRef name) -> mlir::Value {
    const StateEntry *s = inst.findState(name);
    return s ? readState(inst, *s, loc).tensor : mlir::Value();
  };
  auto ints = [&](StringRef name) {
    SmallVector<int64_t> out;
    for (const Value &v : a[name].elems)
      out.push_back(v.i);
    return out;
  };

  // Read weight before bias, so that the IR follows the state-dict order.
  mlir::Value weight = state("weight");
  mlir::Value bias = state("bias");
  if (kind == "Linear")
    return emitLinear(x, weight, bias, kind, loc);
  if (kind == "Conv2d")
    return emitConv2d(x, weight, bias, ints("stride"), ints("padding"), ints("dilation"),
                      a["groups"].i, kind, loc);
  if (kind == "BatchNorm1d" || kind == "BatchNorm2d")
    return batchNorm(*this, inst, x, loc);
  if (kind == "LayerNorm")
    return emitLayerNorm(x, ints("normalized_shape"), weight, bias, a["eps"].f, kind, loc);
  if (kind == "Embedding")
    return emitEmbedding(x, weight, kind, loc);
  if (kind == "ReLU" || kind == "Sigmoid" || kind == "Tanh" || kind == "SiLU")
    return unary(kind.lower(), x, loc);
  if (kind == "GELU")
    return emitActivation("gelu", x, a, loc);
  if (kind == "LeakyReLU")
    return emitActivation("leaky_relu", x, a, loc);
  if (kind == "Softmax" || kind == "LogSoftmax") {
    std::optional<int64_t> dim;
    if (!a["dim"].isNone())
      dim = a["dim"].i;
    return emitSoftmax(x, dim, kind == "LogSoftmax", kind, loc);
  }
  if (kind == "Identity")
    return x;
  if (kind == "Dropout")
    return emitDropout(x, a["p"].f, training, loc);
  if (kind == "Flatten")
    return emitFlatten(x, a["start_dim"].i, a["end_dim"].i, kind, loc);
  if (kind == "MaxPool2d" || kind == "AvgPool2d") {
    auto kernel = toInts(a["kernel_size"], 2, "kernel_size", loc);
    auto stride = a["stride"].isNone() ? kernel : toInts(a["stride"], 2, "stride", loc);
    auto padding = toInts(a["padding"], 2, "padding", loc);
    if (!kernel || !stride || !padding)
      return Value::poison();
    bool countIncludePad = kind == "AvgPool2d" ? a["count_include_pad"].b : true;
    return emitPool(kind == "MaxPool2d", x, *kernel, *stride, *padding, countIncludePad, kind,
                    loc);
  }
  // AdaptiveAvgPool2d
  auto out = toInts(a["output_size"], 2, "output_size", loc);
  return out ? emitAdaptiveAvgPool(x, *out, kind, loc) : Value::poison();
}

} // namespace modelc
