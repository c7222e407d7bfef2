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
#include "mdl/IR/TypedBuilder.h"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>

using namespace mlir;

namespace modelc {

namespace {

/// A built-in module being constructed, as torch.nn's __init__: its bound
/// arguments, and the state it declares under torch.nn's names.
struct ModuleInit {
  Elaborator &e;
  Instance &inst;
  llvm::StringMap<Value> &a;

  /// Checks that argument `name` is positive, as torch.nn's constructors do.
  bool positive(StringRef name) {
    if (a[name].i > 0)
      return true;
    e.error(inst.loc) << fmt::format("{}: '{}' must be positive, but got {}", inst.typeName,
                                     name.str(), a[name].i);
    return false;
  }
  void addState(StringRef local, StateRole role, ArrayRef<int64_t> shape, StringRef init,
                ArrayRef<double> args, Type elt = {}) {
    auto type = e.tensorOf(shape, elt ? elt : e.builder.getF32Type());
    inst.states.push_back({inst.qualify(local), local.str(), role, type, init.str(),
                           SmallVector<double, 2>(args), inst.loc});
  }
};

/// Checks the arguments and declares the state.
using InitHandler = std::function<LogicalResult(ModuleInit &)>;
/// A forward that is not one built-in function (BatchNorm's statistics).
using ForwardHandler = std::function<Value(Elaborator &, Instance &, const Value &, Location)>;
/// A forward of several inputs (MultiheadAttention's query, key, value, ...).
using MultiForwardHandler =
    std::function<Value(Elaborator &, Instance &, ArrayRef<Value>, Location)>;

struct BuiltinModule {
  StringRef name;
  Signature signature;
  /// Null where the arguments need no check and there is no state.
  InitHandler init;
  /// The built-in function the forward calls, as torch.nn's forward calls
  /// torch.nn.functional's: with the input, the module's state and its
  /// arguments, each passed to the function's parameter of the same name.
  StringRef function;
  /// Set instead of `function` where the forward is not one function.
  ForwardHandler forward;
  /// Set instead of both where forward takes several inputs (by position).
  MultiForwardHandler multiForward = nullptr;
  /// multiForward's inputs by name, with their defaults, so that calls may
  /// name them as torch.nn's (attn(x, x, x, key_padding_mask=pad)).
  Signature inputs = {};
};

} // namespace

/// Linear and Conv2d draw weight and bias from U(-1/sqrt(fan_in),
/// 1/sqrt(fan_in)): kaiming_uniform(a=sqrt(5)) reduces to that bound.
/// `biasSize`: the outputs, when the weight's first dimension is not them
/// (a transposed convolution's [in, out / groups, ...]).
static void addWeightAndBias(ModuleInit &m, ArrayRef<int64_t> weightShape, double fanIn,
                             std::optional<int64_t> biasSize = std::nullopt) {
  double bound = 1.0 / std::sqrt(fanIn);
  m.addState("weight", StateRole::Parameter, weightShape, "uniform", {-bound, bound});
  if (m.a["bias"].b)
    m.addState("bias", StateRole::Parameter, {biasSize.value_or(weightShape[0])}, "uniform",
               {-bound, bound});
}

static LogicalResult initLinear(ModuleInit &m) {
  if (!m.positive("in_features") || !m.positive("out_features"))
    return failure();
  int64_t in = m.a["in_features"].i, out = m.a["out_features"].i;
  addWeightAndBias(m, {out, in}, double(in));
  return success();
}

/// Conv1d, Conv2d and ConvTranspose2d (`rank` spatial dimensions):
/// torch.nn's checks; the weight is [out, in / groups, kernel...], or
/// [in, out / groups, kernel...] when `transposed`.
static LogicalResult initConv(ModuleInit &m, size_t rank, bool transposed = false) {
  llvm::StringMap<Value> &a = m.a;
  Location loc = m.inst.loc;
  std::string name = m.inst.typeName;
  if (!m.positive("in_channels") || !m.positive("out_channels") || !m.positive("groups"))
    return failure();
  int64_t in = a["in_channels"].i, out = a["out_channels"].i, groups = a["groups"].i;
  auto kernel = m.e.toInts(a["kernel_size"], rank, "kernel_size", loc);
  auto stride = m.e.toInts(a["stride"], rank, "stride", loc);
  // padding="same" or "valid" stays a string, which the function resolves.
  bool named = a["padding"].kind == Value::Kind::Str;
  auto padding = named ? std::optional<SmallVector<int64_t>>(SmallVector<int64_t>(rank, 0))
                       : m.e.toInts(a["padding"], rank, "padding", loc);
  auto dilation = m.e.toInts(a["dilation"], rank, "dilation", loc);
  if (!kernel || !stride || !padding || !dilation)
    return failure();
  if (named && a["padding"].s != "same" && a["padding"].s != "valid") {
    m.e.error(loc) << fmt::format("{}: padding must be an int, a list of ints, 'valid' or "
                                  "'same', but got '{}'",
                                  name, a["padding"].s);
    return failure();
  }
  if (named && a["padding"].s == "same" && llvm::any_of(*stride, [](int64_t v) { return v != 1; })) {
    m.e.error(loc) << name << ": padding='same' is not supported for strided convolutions";
    return failure();
  }
  if (in % groups || out % groups) {
    m.e.error(loc) << fmt::format(
        "{}: in_channels ({}) and out_channels ({}) must be divisible by groups ({})", name, in,
        out, groups);
    return failure();
  }
  for (int64_t v : llvm::concat<int64_t>(*kernel, *stride, *dilation)) {
    if (v <= 0) {
      m.e.error(loc) << name << ": kernel_size, stride and dilation must be positive";
      return failure();
    }
  }
  for (int64_t v : *padding) {
    if (v < 0) {
      m.e.error(loc) << name << ": padding must be non-negative";
      return failure();
    }
  }
  // Normalize the arguments so that forward reads them as lists of `rank`.
  a["kernel_size"] = Value::ints(*kernel);
  a["stride"] = Value::ints(*stride);
  if (!named)
    a["padding"] = Value::ints(*padding);
  a["dilation"] = Value::ints(*dilation);
  if (transposed) {
    // PyTorch's check: output_padding < max(stride, dilation) per dimension.
    auto outPad = m.e.toInts(a["output_padding"], rank, "output_padding", loc);
    if (!outPad)
      return failure();
    for (size_t i = 0; i < rank; ++i) {
      // PyTorch allows up to max(stride, dilation) - 1: past the stride the
      // extra rows are out of the gradient's reach (conv_transpose2d says so).
      if ((*outPad)[i] < 0 || (*outPad)[i] >= (*stride)[i]) {
        m.e.error(loc) << fmt::format("{}: output padding must be non-negative and smaller than "
                                      "the stride (modelc), but got output_padding={} and "
                                      "stride={}",
                                      name, formatShape(*outPad), formatShape(*stride));
        return failure();
      }
    }
    a["output_padding"] = Value::ints(*outPad);
  }
  // PyTorch's fan_in is the weight's dimension 1 times the kernel's area.
  int64_t perGroupIn = transposed ? out / groups : in / groups;
  double fanIn = double(perGroupIn);
  SmallVector<int64_t> weight = {transposed ? in : out, perGroupIn};
  for (int64_t k : *kernel) {
    fanIn *= double(k);
    weight.push_back(k);
  }
  addWeightAndBias(m, weight, fanIn, out);
  return success();
}

static LogicalResult initBatchNorm(ModuleInit &m) {
  if (!m.positive("num_features"))
    return failure();
  int64_t c = m.a["num_features"].i;
  if (m.a["affine"].b) {
    m.addState("weight", StateRole::Parameter, {c}, "full", {1.0});
    m.addState("bias", StateRole::Parameter, {c}, "full", {0.0});
  }
  if (m.a["track_running_stats"].b) {
    m.addState("running_mean", StateRole::PersistentBuffer, {c}, "full", {0.0});
    m.addState("running_var", StateRole::PersistentBuffer, {c}, "full", {1.0});
    m.addState("num_batches_tracked", StateRole::PersistentBuffer, {}, "full", {0.0},
               m.e.builder.getI64Type());
  }
  return success();
}

/// The checks of a normalization's input: its rank (`rankOk`, `expected`
/// says which) and its `c` channels (dimension 1).
static bool checkNormInput(Elaborator &e, Instance &inst, const Value &x, bool rankOk,
                           StringRef expected, int64_t c, Location loc) {
  if (!rankOk) {
    e.error(loc) << fmt::format("{} expects a {} input, but got {}", inst.typeName,
                                expected.str(), x.describe());
    return false;
  }
  int64_t channels = x.type().getDimSize(1);
  if (!ShapedType::isDynamic(channels) && channels != c) {
    e.error(loc) << fmt::format("{} expects {} channels, but its input has {}", inst.typeName,
                                c, channels);
    return false;
  }
  return true;
}

/// InstanceNorm1d and InstanceNorm2d (`spatial` dimensions after N and C),
/// as torch.nn: each (sample, channel) normalized by its own mean and biased
/// variance; with track_running_stats, training mode also moves the running
/// statistics towards the batch's average of them (unbiased variance), as
/// PyTorch's batch_norm over [1, N * C, ...] with the statistics repeated N
/// times does, and evaluation mode uses them. Unlike BatchNorm it does not
/// count num_batches_tracked (PyTorch leaves it at 0).
static Value instanceNorm(size_t spatial, Elaborator &e, Instance &inst, const Value &x,
                          Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  int64_t c = a["num_features"].i;
  if (!checkNormInput(e, inst, x, x.type().getRank() == int64_t(spatial + 2),
                      spatial == 1 ? "3-D [N, C, L]" : "4-D [N, C, H, W]", c, loc))
    return Value::poison();
  auto call = [&](StringRef fn, std::initializer_list<std::pair<StringRef, Value>> args) {
    return e.applyFunction(fn, inst.typeName, args, loc);
  };
  auto read = [&](StringRef name) -> Value {
    const StateEntry *st = inst.findState(name);
    return st ? e.readState(inst, *st, loc) : Value::none();
  };
  // [C] as [C, 1, ...]: per channel, broadcast over the spatial dimensions.
  SmallVector<int64_t> channelDims(spatial + 1, 1);
  channelDims[0] = c;
  auto perChannel = [&](const Value &v) {
    return call("reshape", {{"input", v}, {"shape", Value::ints(channelDims)}});
  };
  Value in = Value::ofTensor(e.castTo(x.tensor, e.builder.getF32Type(), loc));
  SmallVector<int64_t> spatialDims;
  for (size_t d = 0; d < spatial; ++d)
    spatialDims.push_back(2 + d);
  Value eps = Value::real(a["eps"].f);
  bool track = a["track_running_stats"].b;
  Value y;
  if (e.training || !track) {
    Value mean = call("mean", {{"input", in}, {"dims", Value::ints(spatialDims)},
                               {"keepdim", Value::boolean(true)}});
    Value var = call("var", {{"input", in}, {"dims", Value::ints(spatialDims)},
                             {"unbiased", Value::boolean(false)},
                             {"keepdim", Value::boolean(true)}});
    Value invStd = call("rsqrt", {{"input", e.binary(ast::BinaryOp::Add, var, eps, loc)}});
    y = e.binary(ast::BinaryOp::Mul, e.binary(ast::BinaryOp::Sub, in, mean, loc), invStd, loc);
    if (e.training && track) {
      double m = a["momentum"].f;
      auto update = [&](StringRef name, Value stat) {
        const StateEntry *st = inst.findState(name);
        // The batch's average of the per-sample statistics, [N, C] -> [C].
        Value avg = call("mean", {{"input", stat}, {"dims", Value::ints({0})}});
        Value next = e.binary(ast::BinaryOp::Add,
                              e.binary(ast::BinaryOp::Mul, Value::real(1 - m), read(name), loc),
                              e.binary(ast::BinaryOp::Mul, Value::real(m), avg, loc), loc);
        if (next.isPoison())
          return;
        mlir::mdl::WriteOp::create(e.builder, loc, next.tensor,
                                   FlatSymbolRefAttr::get(e.ctx, st->fullName));
        e.stateValues[st->fullName] = next.tensor;
      };
      update("running_mean", call("mean", {{"input", in}, {"dims", Value::ints(spatialDims)}}));
      update("running_var", call("var", {{"input", in}, {"dims", Value::ints(spatialDims)},
                                         {"unbiased", Value::boolean(true)}}));
    }
  } else {
    Value invStd = call("rsqrt", {{"input", e.binary(ast::BinaryOp::Add, read("running_var"),
                                                     eps, loc)}});
    y = e.binary(ast::BinaryOp::Mul,
                 e.binary(ast::BinaryOp::Sub, in, perChannel(read("running_mean")), loc),
                 perChannel(invStd), loc);
  }
  if (a["affine"].b) {
    y = e.binary(ast::BinaryOp::Mul, y, perChannel(read("weight")), loc);
    y = e.binary(ast::BinaryOp::Add, y, perChannel(read("bias")), loc);
  }
  return y;
}

static LogicalResult initInstanceNorm(ModuleInit &m) {
  if (m.a["track_running_stats"].b && m.a["momentum"].isNone()) {
    m.e.error(m.inst.loc) << m.inst.typeName
                          << ": momentum=None (a cumulative average) is not supported";
    return failure();
  }
  return initBatchNorm(m);
}

/// MultiheadAttention's state under `prefix`, as torch.nn's: in_proj_weight
/// xavier_uniform, the biases 0, out_proj a Linear.
static void addAttentionState(ModuleInit &m, const std::string &prefix, int64_t e, bool bias) {
  double bound = std::sqrt(6.0 / double(e + 3 * e));
  m.addState(prefix + "in_proj_weight", StateRole::Parameter, {3 * e, e}, "uniform",
             {-bound, bound});
  if (bias)
    m.addState(prefix + "in_proj_bias", StateRole::Parameter, {3 * e}, "full", {0.0});
  double outBound = 1.0 / std::sqrt(double(e));
  m.addState(prefix + "out_proj.weight", StateRole::Parameter, {e, e}, "uniform",
             {-outBound, outBound});
  if (bias)
    m.addState(prefix + "out_proj.bias", StateRole::Parameter, {e}, "full", {0.0});
}

static LogicalResult initMultiheadAttention(ModuleInit &m) {
  if (!m.positive("embed_dim") || !m.positive("num_heads"))
    return failure();
  int64_t e = m.a["embed_dim"].i, h = m.a["num_heads"].i;
  if (e % h) {
    m.e.error(m.inst.loc) << fmt::format("MultiheadAttention: embed_dim ({}) must be divisible "
                                         "by num_heads ({})",
                                         e, h);
    return failure();
  }
  for (StringRef flag : {"add_bias_kv", "add_zero_attn"})
    if (m.a[flag].b) {
      m.e.error(m.inst.loc) << "MultiheadAttention: " << flag << "=true is not supported";
      return failure();
    }
  for (StringRef dim : {"kdim", "vdim"})
    if (!m.a[dim].isNone() && m.a[dim].i != e) {
      m.e.error(m.inst.loc) << "MultiheadAttention: " << dim
                            << " other than embed_dim is not supported";
      return failure();
    }
  addAttentionState(m, "", e, m.a["bias"].b);
  return success();
}

/// MultiheadAttention's forward(query, key, value, key_padding_mask=none,
/// need_weights=true, attn_mask=none, average_attn_weights=true,
/// is_causal=false), as torch.nn.functional.multi_head_attention_forward:
/// the three projections (slices of in_proj_weight), heads as a dimension,
/// softmax(q kᵀ / sqrt(d) + masks) v, out_proj. Both masks say true where a
/// position must NOT be attended (torch.nn's convention) or are added as
/// floats. Returns (output, weights), the weights averaged over the heads or
/// not, or none without need_weights.
struct AttentionConfig {
  int64_t embed, heads;
  double dropout;
  bool batchFirst;
  std::string prefix; // of the state: "" or "self_attn."
};

static Value attention(Elaborator &e, Instance &inst, const AttentionConfig &cfg,
                       ArrayRef<Value> in, Location loc);

static Value multiheadAttention(Elaborator &e, Instance &inst, ArrayRef<Value> in,
                                Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  return attention(e, inst,
                   {a["embed_dim"].i, a["num_heads"].i, a["dropout"].f, a["batch_first"].b, ""},
                   in, loc);
}

static Value attention(Elaborator &e, Instance &inst, const AttentionConfig &cfg,
                       ArrayRef<Value> in, Location loc) {
  StringRef what = inst.typeName;
  if (in.size() < 3 || in.size() > 8) {
    e.error(loc) << fmt::format("MultiheadAttention takes query, key, value and up to 5 more "
                                "inputs (key_padding_mask, need_weights, attn_mask, "
                                "average_attn_weights, is_causal), but {} were given",
                                in.size());
    return Value::poison();
  }
  auto input = [&](size_t i, Value dflt) { return i < in.size() ? in[i] : dflt; };
  Value query = in[0], key = in[1], value = in[2];
  // Self-attention (one input as query, key and value): its three
  // projections are one Linear by the whole in_proj_weight, as PyTorch's
  // in-projection does then, so that the weight is a parameter the packed
  // kernel takes (three narrowed slices of it were not: ViT-Tiny's q, k, v
  // projections ran on the dot kernel, a fifth of its time).
  bool selfAttention = query.isTensor() && key.isTensor() && value.isTensor() &&
                       query.tensor == key.tensor && key.tensor == value.tensor;
  Value keyPadding = input(3, Value::none()), attnMask = input(5, Value::none());
  Value needWeights = input(4, Value::boolean(true));
  Value average = input(6, Value::boolean(true)), causal = input(7, Value::boolean(false));
  for (const Value *t : {&query, &key, &value})
    if (!e.expectTensor(*t, what, loc))
      return Value::poison();
  int64_t embed = cfg.embed, heads = cfg.heads, dh = embed / heads;
  bool batchFirst = cfg.batchFirst;
  auto call = [&](StringRef fn, std::initializer_list<std::pair<StringRef, Value>> args) {
    return e.applyFunction(fn, what, args, loc);
  };
  auto read = [&](StringRef name) {
    const StateEntry *st = inst.findState(cfg.prefix + name.str());
    return st ? e.readState(inst, *st, loc) : Value::none();
  };
  // [L, N, E] (or [N, L, E] with batch_first) as [N, L, E].
  for (Value *t : {&query, &key, &value}) {
    if (t->type().getRank() != 3 || t->type().getDimSize(2) != embed) {
      e.error(loc) << fmt::format("MultiheadAttention expects 3-D inputs {} with {} features, "
                                  "but got {}",
                                  batchFirst ? "[N, L, E]" : "[L, N, E]", embed, t->describe());
      return Value::poison();
    }
    if (!batchFirst)
      *t = call("transpose", {{"input", *t}, {"dim0", Value::integer(0)},
                              {"dim1", Value::integer(1)}});
  }
  Value w = read("in_proj_weight"), b = read("in_proj_bias");
  Value packed = selfAttention
                     ? call("linear", {{"input", query}, {"weight", w}, {"bias", b}})
                     : Value::none();
  // The projection of `x` by rows [i E, (i+1) E) of in_proj (of the packed
  // projection, columns [i E, (i+1) E)), as heads [N, H, len, D].
  auto project = [&](const Value &x, int64_t i) {
    auto rows = [&](const Value &t, int64_t dim) {
      return call("narrow", {{"input", t}, {"dim", Value::integer(dim)},
                             {"start", Value::integer(i * embed)},
                             {"length", Value::integer(embed)}});
    };
    Value y;
    if (selfAttention) {
      if (packed.isPoison())
        return packed;
      y = rows(packed, 2);
    } else {
      y = call("linear", {{"input", x}, {"weight", rows(w, 0)},
                          {"bias", b.isNone() ? b : rows(b, 0)}});
    }
    int64_t len = x.type().getDimSize(1);
    if (ShapedType::isDynamic(len)) {
      e.error(loc) << "MultiheadAttention needs sequence lengths known at compile time";
      return Value::poison();
    }
    y = call("reshape", {{"input", y}, {"shape", Value::ints({-1, len, heads, dh})}});
    return call("transpose", {{"input", y}, {"dim0", Value::integer(1)},
                              {"dim1", Value::integer(2)}});
  };
  Value q = project(query, 0), k = project(key, 1), v = project(value, 2);
  if (q.isPoison() || k.isPoison() || v.isPoison())
    return Value::poison();
  int64_t l = q.type().getDimSize(2), s = k.type().getDimSize(2);
  bool isCausal = causal.kind == Value::Kind::Bool && causal.b;
  bool wantWeights = needWeights.kind != Value::Kind::Bool || needWeights.b;
  // Without masks or weights to return (TransformerEncoderLayer's and
  // TransformerDecoderLayer's calls), the attention is
  // scaled_dot_product_attention's, whose long sequences go by blocks (in
  // evaluation mode, flash attention) instead of holding [L, S] scores.
  auto merged = [&](Value out) {
    out = call("transpose", {{"input", out}, {"dim0", Value::integer(1)},
                             {"dim1", Value::integer(2)}});
    out = call("reshape", {{"input", out}, {"shape", Value::ints({-1, l, embed})}});
    out = call("linear", {{"input", out}, {"weight", read("out_proj.weight")},
                          {"bias", read("out_proj.bias")}});
    if (!batchFirst)
      out = call("transpose", {{"input", out}, {"dim0", Value::integer(0)},
                               {"dim1", Value::integer(1)}});
    return out;
  };
  if (!wantWeights && attnMask.isNone() && keyPadding.isNone()) {
    Value out = call("scaled_dot_product_attention",
                     {{"query", q}, {"key", k}, {"value", v},
                      {"dropout_p", Value::real(cfg.dropout)},
                      {"is_causal", Value::boolean(isCausal)}});
    if (out.isPoison())
      return out;
    return Value::list({merged(out), Value::none()});
  }
  Value kt = call("transpose", {{"input", k}, {"dim0", Value::integer(-2)},
                                {"dim1", Value::integer(-1)}});
  Value scores = e.binary(ast::BinaryOp::Mul, e.binary(ast::BinaryOp::MatMul, q, kt, loc),
                          Value::real(1.0 / std::sqrt(double(dh))), loc);
  // A mask as an additive bias: true (not attended) -3e38, floats as given.
  auto asBias = [&](const Value &mask) {
    if (!mask.type().getElementType().isInteger(1))
      return mask;
    Value f = Value::ofTensor(e.castTo(mask.tensor, e.builder.getF32Type(), loc));
    return e.binary(ast::BinaryOp::Mul, f, Value::real(-3.0e38), loc);
  };
  if (!attnMask.isNone()) {
    if (!e.expectTensor(attnMask, what, loc))
      return Value::poison();
    Value bias = asBias(attnMask);
    if (attnMask.type().getRank() == 3) // [N * H, L, S]
      bias = call("reshape", {{"input", bias}, {"shape", Value::ints({-1, heads, l, s})}});
    scores = e.binary(ast::BinaryOp::Add, scores, bias, loc);
  }
  if (!keyPadding.isNone()) {
    if (!e.expectTensor(keyPadding, what, loc))
      return Value::poison();
    Value bias = call("reshape",
                      {{"input", asBias(keyPadding)}, {"shape", Value::ints({-1, 1, 1, s})}});
    scores = e.binary(ast::BinaryOp::Add, scores, bias, loc);
  }
  if (isCausal) {
    scores = e.binary(ast::BinaryOp::Add, scores, Value::ofTensor(e.causalBias(l, s, 0, loc)), loc);
  }
  if (scores.isPoison())
    return scores;
  Value weights = e.emitSoftmax(scores, -1, /*isLog=*/false, what, loc);
  Value attended = weights;
  if (cfg.dropout > 0 && e.training)
    attended = e.emitDropout(weights, cfg.dropout, /*active=*/true, loc);
  Value out = merged(e.binary(ast::BinaryOp::MatMul, attended, v, loc));
  Value returned = Value::none();
  if (wantWeights)
    returned = (average.kind == Value::Kind::Bool && !average.b)
                   ? weights
                   : call("mean", {{"input", weights}, {"dims", Value::ints({1})}});
  return Value::list({out, returned});
}

/// TransformerEncoderLayer and TransformerDecoderLayer (`decoder`): torch.nn's
/// children in its order: self_attn, [multihead_attn,] linear1, linear2,
/// norm1, norm2[, norm3].
static LogicalResult initTransformerLayer(ModuleInit &m, bool decoder) {
  std::string name = m.inst.typeName;
  if (!m.positive("d_model") || !m.positive("nhead") || !m.positive("dim_feedforward"))
    return failure();
  int64_t d = m.a["d_model"].i, h = m.a["nhead"].i, ff = m.a["dim_feedforward"].i;
  if (d % h) {
    m.e.error(m.inst.loc) << fmt::format("{}: d_model ({}) must be divisible by nhead ({})",
                                         name, d, h);
    return failure();
  }
  StringRef act = m.a["activation"].s;
  if (act != "relu" && act != "gelu") {
    m.e.error(m.inst.loc) << fmt::format("{}: activation must be \"relu\" or \"gelu\", not "
                                         "\"{}\"",
                                         name, act.str());
    return failure();
  }
  bool bias = m.a["bias"].b;
  addAttentionState(m, "self_attn.", d, bias);
  if (decoder)
    addAttentionState(m, "multihead_attn.", d, bias);
  auto linear = [&](StringRef name, int64_t out, int64_t in) {
    double bound = 1.0 / std::sqrt(double(in));
    m.addState((name + ".weight").str(), StateRole::Parameter, {out, in}, "uniform",
               {-bound, bound});
    if (bias)
      m.addState((name + ".bias").str(), StateRole::Parameter, {out}, "uniform",
                 {-bound, bound});
  };
  linear("linear1", ff, d);
  linear("linear2", d, ff);
  for (StringRef norm : {"norm1", "norm2", "norm3"}) {
    if (norm == "norm3" && !decoder)
      break;
    m.addState((norm + ".weight").str(), StateRole::Parameter, {d}, "full", {1.0});
    if (bias)
      m.addState((norm + ".bias").str(), StateRole::Parameter, {d}, "full", {0.0});
  }
  return success();
}

/// The forward of TransformerEncoderLayer (src, src_mask=none,
/// src_key_padding_mask=none, is_causal=false) and of TransformerDecoderLayer
/// (tgt, memory, tgt_mask=none, memory_mask=none, tgt_key_padding_mask=none,
/// memory_key_padding_mask=none, tgt_is_causal=false, memory_is_causal=false),
/// as torch.nn's:
///   post-norm: x = norm1(x + sa(x)); [x = norm2(x + mha(x, mem));] x = normN(x + ff(x))
///   norm_first: x = x + sa(norm1(x)); [x = x + mha(norm2(x), mem);] x = x + ff(normN(x))
/// sa and mha the attentions (each with its dropout after it), ff
/// linear2(dropout(act(linear1))) (and its dropout).
static Value transformerLayer(bool decoder, Elaborator &e, Instance &inst, ArrayRef<Value> in,
                              Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  size_t required = decoder ? 2 : 1, most = decoder ? 8 : 4;
  if (in.size() < required || in.size() > most) {
    e.error(loc) << fmt::format(
        "{} takes {} and up to {} more inputs ({}), but {} were given", inst.typeName,
        decoder ? "tgt, memory" : "src", most - required,
        decoder ? "tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, "
                  "tgt_is_causal, memory_is_causal"
                : "src_mask, src_key_padding_mask, is_causal",
        in.size());
    return Value::poison();
  }
  auto input = [&](size_t i, Value dflt) { return i < in.size() ? in[i] : dflt; };
  Value x = in[0];
  if (!e.expectTensor(x, inst.typeName, loc) ||
      (decoder && !e.expectTensor(in[1], inst.typeName, loc)))
    return Value::poison();
  int64_t d = a["d_model"].i;
  double p = a["dropout"].f;
  auto read = [&](const std::string &name) {
    const StateEntry *st = inst.findState(name);
    return st ? e.readState(inst, *st, loc) : Value::none();
  };
  auto call = [&](StringRef fn, std::initializer_list<std::pair<StringRef, Value>> args) {
    return e.applyFunction(fn, inst.typeName, args, loc);
  };
  auto dropout = [&](const Value &v) { return e.emitDropout(v, p, e.training && p > 0, loc); };
  auto norm = [&](const std::string &name, const Value &v) {
    return call("layer_norm", {{"input", v},
                               {"normalized_shape", Value::list({Value::integer(d)})},
                               {"weight", read(name + ".weight")},
                               {"bias", read(name + ".bias")},
                               {"eps", Value::real(a["layer_norm_eps"].f)}});
  };
  auto linear = [&](const std::string &name, const Value &v) {
    return call("linear", {{"input", v}, {"weight", read(name + ".weight")},
                           {"bias", read(name + ".bias")}});
  };
  // attention()'s inputs: query, key, value, key_padding_mask, need_weights,
  // attn_mask, average_attn_weights, is_causal.
  auto attend = [&](StringRef prefix, const Value &q, const Value &kv, const Value &mask,
                    const Value &padding, const Value &causal) {
    Value r = attention(e, inst, {d, a["nhead"].i, p, a["batch_first"].b, prefix.str()},
                        {q, kv, kv, padding, Value::boolean(false), mask, Value::boolean(true),
                         causal},
                        loc);
    return r.isPoison() ? r : dropout(r.elems.front());
  };
  Value none = Value::none(), no = Value::boolean(false);
  auto selfAttention = [&](const Value &v) {
    return decoder ? attend("self_attn.", v, v, input(2, none), input(4, none), input(6, no))
                   : attend("self_attn.", v, v, input(1, none), input(2, none), input(3, no));
  };
  auto crossAttention = [&](const Value &v) {
    return attend("multihead_attn.", v, in[1], input(3, none), input(5, none), input(7, no));
  };
  auto feedForward = [&](const Value &v) {
    Value h = call(a["activation"].s, {{"input", linear("linear1", v)}});
    return dropout(linear("linear2", dropout(h)));
  };
  auto add = [&](const Value &l, const Value &r) {
    return e.binary(ast::BinaryOp::Add, l, r, loc);
  };
  std::string lastNorm = decoder ? "norm3" : "norm2";
  if (a["norm_first"].b) {
    x = add(x, selfAttention(norm("norm1", x)));
    if (decoder)
      x = add(x, crossAttention(norm("norm2", x)));
    return add(x, feedForward(norm(lastNorm, x)));
  }
  x = norm("norm1", add(x, selfAttention(x)));
  if (decoder)
    x = norm("norm2", add(x, crossAttention(x)));
  return norm(lastNorm, add(x, feedForward(x)));
}

/// LSTM and GRU: torch.nn's state, weight_ih_l{k}[_reverse] [G H, in],
/// weight_hh_l{k}[_reverse] [G H, H] and the two biases [G H], G = 4 (LSTM)
/// or 3 (GRU) gates, all U(-1/sqrt(H), 1/sqrt(H)).
static LogicalResult initRecurrent(ModuleInit &m, int64_t gates) {
  if (!m.positive("input_size") || !m.positive("hidden_size") || !m.positive("num_layers"))
    return failure();
  if (m.a["proj_size"].i != 0 || m.a["dropout"].f != 0) {
    m.e.error(m.inst.loc) << m.inst.typeName
                          << ": proj_size and dropout between layers are not supported";
    return failure();
  }
  int64_t in = m.a["input_size"].i, h = m.a["hidden_size"].i;
  int64_t dirs = m.a["bidirectional"].b ? 2 : 1;
  double bound = 1.0 / std::sqrt(double(h));
  for (int64_t layer = 0; layer < m.a["num_layers"].i; ++layer) {
    for (int64_t dir = 0; dir < dirs; ++dir) {
      std::string suffix = fmt::format("_l{}{}", layer, dir ? "_reverse" : "");
      int64_t layerIn = layer == 0 ? in : h * dirs;
      m.addState("weight_ih" + suffix, StateRole::Parameter, {gates * h, layerIn}, "uniform",
                 {-bound, bound});
      m.addState("weight_hh" + suffix, StateRole::Parameter, {gates * h, h}, "uniform",
                 {-bound, bound});
      if (m.a["bias"].b) {
        m.addState("bias_ih" + suffix, StateRole::Parameter, {gates * h}, "uniform",
                   {-bound, bound});
        m.addState("bias_hh" + suffix, StateRole::Parameter, {gates * h}, "uniform",
                   {-bound, bound});
      }
    }
  }
  return success();
}

/// LSTM's and GRU's forward(input, hx=none), as torch.nn's, unrolled over the
/// time steps (their number must be known at compile time):
///   LSTM: i, f, g, o = chunk(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh, 4)
///         c = σ(f) c + σ(i) tanh(g);  h = σ(o) tanh(c)
///   GRU:  r, z, n from x W_ihᵀ + b_ih and h W_hhᵀ + b_hh (3 chunks each)
///         n = tanh(x_n + σ(r) (h_n));  h = (1 - σ(z)) n + σ(z) h
/// layer by layer, both directions when bidirectional (the second runs from
/// the last step); returns (output, (h_n, c_n)) for LSTM, (output, h_n) for
/// GRU, with hx (h_0, c_0) or zeros as the first state.
static Value recurrent(bool lstm, Elaborator &e, Instance &inst, ArrayRef<Value> in,
                       Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  StringRef what = inst.typeName;
  if (in.empty() || in.size() > 2) {
    e.error(loc) << fmt::format("{} takes input and an optional initial state, but {} inputs "
                                "were given",
                                what.str(), in.size());
    return Value::poison();
  }
  Value x = in[0];
  if (!e.expectTensor(x, what, loc))
    return Value::poison();
  int64_t layers = a["num_layers"].i;
  int64_t dirs = a["bidirectional"].b ? 2 : 1, gates = lstm ? 4 : 3;
  bool batchFirst = a["batch_first"].b;
  auto call = [&](StringRef fn, std::initializer_list<std::pair<StringRef, Value>> args) {
    return e.applyFunction(fn, what, args, loc);
  };
  auto read = [&](const std::string &name) {
    const StateEntry *st = inst.findState(name);
    return st ? e.readState(inst, *st, loc) : Value::none();
  };
  auto bin = [&](ast::BinaryOp op, const Value &l, const Value &r) {
    return e.binary(op, l, r, loc);
  };
  if (x.type().getRank() != 3 || x.type().getDimSize(2) != a["input_size"].i) {
    e.error(loc) << fmt::format("{} expects a 3-D input {} with {} features, but got {}",
                                what.str(), batchFirst ? "[N, T, in]" : "[T, N, in]",
                                a["input_size"].i, x.describe());
    return Value::poison();
  }
  int64_t timeDim = batchFirst ? 1 : 0, steps = x.type().getDimSize(timeDim);
  if (ShapedType::isDynamic(steps)) {
    e.error(loc) << fmt::format("{}: the number of time steps must be known at compile time, "
                                "but the input is {}",
                                what.str(), x.describe());
    return Value::poison();
  }
  // The initial states, [layers * dirs, N, H] each, or zeros.
  Value h0 = Value::none(), c0 = Value::none();
  if (in.size() == 2 && !in[1].isNone()) {
    if (lstm) {
      if (in[1].kind != Value::Kind::List || in[1].elems.size() != 2) {
        e.error(loc) << "LSTM's initial state is a pair (h_0, c_0)";
        return Value::poison();
      }
      h0 = in[1].elems[0];
      c0 = in[1].elems[1];
    } else {
      h0 = in[1];
    }
  }
  // The steps of the input, each [N, in].
  std::vector<Value> seq;
  for (int64_t t = 0; t < steps; ++t)
    seq.push_back(call("select", {{"input", x}, {"dim", Value::integer(timeDim)},
                                  {"index", Value::integer(t)}}));
  auto initial = [&](const Value &all, int64_t index, const Value &like) {
    if (!all.isNone())
      return call("select", {{"input", all}, {"dim", Value::integer(0)},
                             {"index", Value::integer(index)}});
    // zeros [N, H]: from the first step's projection, which has that shape.
    return call("zeros_like", {{"input", like}});
  };
  std::vector<Value> lastH, lastC;
  for (int64_t layer = 0; layer < layers; ++layer) {
    std::vector<std::vector<Value>> outputs(static_cast<size_t>(dirs));
    for (int64_t dir = 0; dir < dirs; ++dir) {
      std::string suffix = fmt::format("_l{}{}", layer, dir ? "_reverse" : "");
      Value wih = read("weight_ih" + suffix), whh = read("weight_hh" + suffix);
      Value bih = read("bias_ih" + suffix), bhh = read("bias_hh" + suffix);
      auto gatesOf = [&](const Value &v, const Value &w, const Value &b) {
        return call("chunk", {{"input", call("linear", {{"input", v}, {"weight", w},
                                                        {"bias", b}})},
                              {"chunks", Value::integer(gates)}, {"dim", Value::integer(1)}});
      };
      Value h, c;
      std::vector<Value> hs(static_cast<size_t>(steps));
      for (int64_t k = 0; k < steps; ++k) {
        int64_t t = dir ? steps - 1 - k : k;
        Value gx = gatesOf(seq[size_t(t)], wih, bih);
        if (gx.isPoison())
          return gx;
        if (k == 0) {
          h = initial(h0, layer * dirs + dir, gx.elems[0]);
          if (lstm)
            c = initial(c0, layer * dirs + dir, gx.elems[0]);
        }
        Value gh = gatesOf(h, whh, bhh);
        if (gh.isPoison())
          return gh;
        auto gate = [&](int i) { return bin(ast::BinaryOp::Add, gx.elems[i], gh.elems[i]); };
        auto sigmoid = [&](const Value &v) { return call("sigmoid", {{"input", v}}); };
        auto tanh = [&](const Value &v) { return call("tanh", {{"input", v}}); };
        if (lstm) {
          Value ig = sigmoid(gate(0)), fg = sigmoid(gate(1)), gg = tanh(gate(2));
          Value og = sigmoid(gate(3));
          c = bin(ast::BinaryOp::Add, bin(ast::BinaryOp::Mul, fg, c),
                  bin(ast::BinaryOp::Mul, ig, gg));
          h = bin(ast::BinaryOp::Mul, og, tanh(c));
        } else {
          Value r = sigmoid(gate(0)), z = sigmoid(gate(1));
          Value n = tanh(bin(ast::BinaryOp::Add, gx.elems[2],
                             bin(ast::BinaryOp::Mul, r, gh.elems[2])));
          h = bin(ast::BinaryOp::Add,
                  bin(ast::BinaryOp::Mul, bin(ast::BinaryOp::Sub, Value::real(1), z), n),
                  bin(ast::BinaryOp::Mul, z, h));
        }
        if (h.isPoison())
          return h;
        hs[size_t(t)] = h;
      }
      outputs[size_t(dir)] = hs;
      lastH.push_back(h);
      if (lstm)
        lastC.push_back(c);
    }
    // The next layer's input: both directions side by side at each step.
    for (int64_t t = 0; t < steps; ++t)
      seq[size_t(t)] = dirs == 1 ? outputs[0][size_t(t)]
                                 : call("cat", {{"tensors", Value::list({outputs[0][size_t(t)],
                                                                        outputs[1][size_t(t)]})},
                                                {"dim", Value::integer(1)}});
  }
  // output: the last layer's steps stacked along time; h_n, c_n: [layers * dirs, N, H].
  auto stack = [&](const std::vector<Value> &items, int64_t dim) {
    std::vector<Value> parts;
    for (const Value &v : items)
      parts.push_back(call("unsqueeze", {{"input", v}, {"dim", Value::integer(dim)}}));
    return call("cat", {{"tensors", Value::list(parts)}, {"dim", Value::integer(dim)}});
  };
  Value output = stack(seq, timeDim);
  Value hn = stack(lastH, 0);
  if (!lstm)
    return Value::list({output, hn});
  return Value::list({output, Value::list({hn, stack(lastC, 0)})});
}

static LogicalResult initGroupNorm(ModuleInit &m) {
  if (!m.positive("num_groups") || !m.positive("num_channels"))
    return failure();
  int64_t c = m.a["num_channels"].i;
  if (c % m.a["num_groups"].i) {
    m.e.error(m.inst.loc) << fmt::format("GroupNorm: num_channels ({}) must be divisible by "
                                         "num_groups ({})",
                                         c, m.a["num_groups"].i);
    return failure();
  }
  if (m.a["affine"].b) {
    m.addState("weight", StateRole::Parameter, {c}, "full", {1.0});
    m.addState("bias", StateRole::Parameter, {c}, "full", {0.0});
  }
  return success();
}

static LogicalResult initLayerNorm(ModuleInit &m) {
  auto shape = m.e.toInts(m.a["normalized_shape"], 0, "normalized_shape", m.inst.loc);
  if (!shape)
    return failure();
  m.a["normalized_shape"] = Value::ints(*shape);
  if (m.a["elementwise_affine"].b) {
    m.addState("weight", StateRole::Parameter, *shape, "full", {1.0});
    if (m.a["bias"].b)
      m.addState("bias", StateRole::Parameter, *shape, "full", {0.0});
  }
  return success();
}

static LogicalResult initEmbedding(ModuleInit &m) {
  if (!m.positive("num_embeddings") || !m.positive("embedding_dim"))
    return failure();
  // padding_idx: negative counts from the end, as torch.nn.Embedding's.
  if (Value &pad = m.a["padding_idx"]; !pad.isNone()) {
    int64_t rows = m.a["num_embeddings"].i;
    if (pad.i < -rows || pad.i >= rows) {
      m.e.error(m.inst.loc) << fmt::format("Embedding: padding_idx must be within "
                                           "num_embeddings ({}), but got {}",
                                           rows, pad.i);
      return failure();
    }
    if (pad.i < 0)
      pad = Value::integer(pad.i + rows);
  }
  m.addState("weight", StateRole::Parameter, {m.a["num_embeddings"].i, m.a["embedding_dim"].i},
             "normal", {0.0, 1.0});
  return success();
}

static LogicalResult initAvgPool(ModuleInit &m) {
  if (!m.a["ceil_mode"].b)
    return success();
  m.e.error(m.inst.loc) << m.inst.typeName << ": ceil_mode=true is not supported yet";
  return failure();
}

static LogicalResult initDropout(ModuleInit &m) {
  double p = m.a["p"].f;
  if (p >= 0 && p <= 1)
    return success();
  m.e.error(m.inst.loc) << fmt::format(
      "dropout probability has to be between 0 and 1, but got {}", p);
  return failure();
}

/// The training-mode batch statistics over every rank of data-parallel
/// training (torch.nn.SyncBatchNorm): each rank's per-channel sums and
/// counts all-reduced, then the squared deviations from that mean, so two
/// passes as batch_norm_stats. Returns mean, biased and unbiased variance.
static std::array<mlir::Value, 3> syncBatchStats(OpBuilder &b, Location loc, mlir::Value in) {
  namespace mdl = mlir::mdl;
  mdl::TypedBuilder g(b);
  g.loc = loc;
  int64_t rank = mdl::typeOf(in).getRank();
  SmallVector<int64_t> dims = {0};
  for (int64_t d = 2; d < rank; ++d)
    dims.push_back(d);
  auto allReduce = [&](mlir::Value v) -> mlir::Value {
    return mdl::AllReduceOp::create(b, loc, v.getType(), v);
  };
  mlir::Value sum = g.sum(in, dims, /*keepdim=*/false);
  // This rank's count per channel: a constant, or summed ones ([1, C, 1..]).
  mlir::Value count = g.count(in, dims);
  count = mdl::typeOf(count).getRank() == 0
              ? g.add(g.full(sum, 0.0), count)
              : *g.reshapeTo(count, mdl::typeOf(sum));
  mlir::Value total = allReduce(count);
  mlir::Value mean = g.div(allReduce(sum), total);
  mlir::Value centered = g.sub(in, g.channelShaped(mean, rank));
  mlir::Value squares = allReduce(g.sum(g.mul(centered, centered), dims, /*keepdim=*/false));
  return {mean, g.div(squares, total), g.div(squares, g.sub(total, g.constant(1.0)))};
}

/// BatchNorm as torch.nn.modules.batchnorm._BatchNorm.forward: batch
/// statistics in training mode (and whenever running statistics are not
/// tracked), running statistics otherwise; in training mode with tracking,
/// num_batches_tracked += 1 and running_* move by the momentum, or by
/// 1/num_batches_tracked when momentum is none. BatchNorm2d takes [N, C, H, W],
/// BatchNorm1d [N, C] or [N, C, L].
static Value batchNorm(bool is2d, Elaborator &e, Instance &inst, const Value &x, Location loc) {
  llvm::StringMap<Value> &a = inst.args;
  int64_t c = a["num_features"].i;
  ArrayRef<int64_t> shape = x.type().getShape();
  bool rankOk = is2d ? shape.size() == 4 : (shape.size() == 2 || shape.size() == 3);
  if (!checkNormInput(e, inst, x, rankOk,
                      is2d ? "4-D [N, C, H, W]" : "2-D [N, C] or 3-D [N, C, L]", c, loc))
    return Value::poison();
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
    std::array<mlir::Value, 3> stats;
    if (e.training && e.options.syncBatchNorm) {
      stats = syncBatchStats(b, loc, in);
    } else {
      auto op = mlir::mdl::BatchNormStatsOp::create(b, loc, vecType, vecType, vecType, in);
      stats = {op.getMean(), op.getVar(), op.getUnbiasedVar()};
    }
    mean = stats[0];
    var = stats[1];
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
      update(rv, stats[2]);
    }
  } else {
    mean = read("running_mean");
    var = read("running_var");
  }
  auto result = mlir::mdl::BatchNormOp::create(b, loc, in.getType(), in, mean, var, weight, bias,
                                               b.getF64FloatAttr(a["eps"].f));
  return Value::ofTensor(result);
}

static const std::vector<BuiltinModule> &builtinModules() {
  auto I = [](int64_t v) { return std::optional<Value>(Value::integer(v)); };
  auto F = [](double v) { return std::optional<Value>(Value::real(v)); };
  auto B = [](bool v) { return std::optional<Value>(Value::boolean(v)); };
  std::optional<Value> none = Value::none();
  std::optional<Value> req;
  Signature batchNormArgs = {{"num_features", ArgType::Int, req},
                             {"eps", ArgType::Float, F(1e-5)},
                             {"momentum", ArgType::OptFloat, F(0.1)},
                             {"affine", ArgType::Bool, B(true)},
                             {"track_running_stats", ArgType::Bool, B(true)}};
  // torch.nn's InstanceNorm defaults: no affine parameters, no running
  // statistics.
  Signature instanceNormArgs = {{"num_features", ArgType::Int, req},
                                {"eps", ArgType::Float, F(1e-5)},
                                {"momentum", ArgType::OptFloat, F(0.1)},
                                {"affine", ArgType::Bool, B(false)},
                                {"track_running_stats", ArgType::Bool, B(false)}};
  Signature inplace = {{"inplace", ArgType::Bool, B(false)}};
  Signature recurrentArgs = {{"input_size", ArgType::Int, req},
                             {"hidden_size", ArgType::Int, req},
                             {"num_layers", ArgType::Int, I(1)},
                             {"bias", ArgType::Bool, B(true)},
                             {"batch_first", ArgType::Bool, B(false)},
                             {"dropout", ArgType::Float, F(0.0)},
                             {"bidirectional", ArgType::Bool, B(false)},
                             {"proj_size", ArgType::Int, I(0)}};
  Signature transformerArgs = {{"d_model", ArgType::Int, req},
                                {"nhead", ArgType::Int, req},
                                {"dim_feedforward", ArgType::Int, I(2048)},
                                {"dropout", ArgType::Float, F(0.1)},
                                {"activation", ArgType::Str, Value::str("relu")},
                                {"layer_norm_eps", ArgType::Float, F(1e-5)},
                                {"batch_first", ArgType::Bool, B(false)},
                                {"norm_first", ArgType::Bool, B(false)},
                                {"bias", ArgType::Bool, B(true)}};
  Signature maxPoolArgs = {{"kernel_size", ArgType::IntOrInts, req},
                            {"stride", ArgType::OptIntOrInts, none},
                            {"padding", ArgType::IntOrInts, I(0)}};
  Signature avgPoolArgs = maxPoolArgs;
  avgPoolArgs.push_back({"ceil_mode", ArgType::Bool, B(false)});
  avgPoolArgs.push_back({"count_include_pad", ArgType::Bool, B(true)});
  auto tensorIn = [&](StringRef name) { return ParamSpec{name, ArgType::Tensor, req}; };
  auto optIn = [&](StringRef name) { return ParamSpec{name, ArgType::OptTensor, none}; };
  static const std::vector<BuiltinModule> table = {
      {"Linear",
       {{"in_features", ArgType::Int, req}, {"out_features", ArgType::Int, req},
        {"bias", ArgType::Bool, B(true)}},
       initLinear, "linear"},
      {"Conv2d",
       {{"in_channels", ArgType::Int, req}, {"out_channels", ArgType::Int, req},
        {"kernel_size", ArgType::IntOrInts, req}, {"stride", ArgType::IntOrInts, I(1)},
        {"padding", ArgType::Padding, I(0)}, {"dilation", ArgType::IntOrInts, I(1)},
        {"groups", ArgType::Int, I(1)}, {"bias", ArgType::Bool, B(true)}},
       [](ModuleInit &m) { return initConv(m, 2); }, "conv2d"},
      {"ConvTranspose2d",
       {{"in_channels", ArgType::Int, req}, {"out_channels", ArgType::Int, req},
        {"kernel_size", ArgType::IntOrInts, req}, {"stride", ArgType::IntOrInts, I(1)},
        {"padding", ArgType::IntOrInts, I(0)}, {"output_padding", ArgType::IntOrInts, I(0)},
        {"groups", ArgType::Int, I(1)}, {"bias", ArgType::Bool, B(true)},
        {"dilation", ArgType::IntOrInts, I(1)}},
       [](ModuleInit &m) { return initConv(m, 2, /*transposed=*/true); }, "conv_transpose2d"},
      {"Conv1d",
       {{"in_channels", ArgType::Int, req}, {"out_channels", ArgType::Int, req},
        {"kernel_size", ArgType::IntOrInts, req}, {"stride", ArgType::IntOrInts, I(1)},
        {"padding", ArgType::Padding, I(0)}, {"dilation", ArgType::IntOrInts, I(1)},
        {"groups", ArgType::Int, I(1)}, {"bias", ArgType::Bool, B(true)}},
       [](ModuleInit &m) { return initConv(m, 1); }, "conv1d"},
      {"BatchNorm1d", batchNormArgs, initBatchNorm, {},
       [](Elaborator &e, Instance &inst, const Value &x, Location loc) {
         return batchNorm(/*is2d=*/false, e, inst, x, loc);
       }},
      {"BatchNorm2d", batchNormArgs, initBatchNorm, {},
       [](Elaborator &e, Instance &inst, const Value &x, Location loc) {
         return batchNorm(/*is2d=*/true, e, inst, x, loc);
       }},
      {"InstanceNorm1d", instanceNormArgs, initInstanceNorm, {},
       [](Elaborator &e, Instance &inst, const Value &x, Location loc) {
         return instanceNorm(1, e, inst, x, loc);
       }},
      {"InstanceNorm2d", instanceNormArgs, initInstanceNorm, {},
       [](Elaborator &e, Instance &inst, const Value &x, Location loc) {
         return instanceNorm(2, e, inst, x, loc);
       }},
      {"MultiheadAttention",
       {{"embed_dim", ArgType::Int, req}, {"num_heads", ArgType::Int, req},
        {"dropout", ArgType::Float, F(0.0)}, {"bias", ArgType::Bool, B(true)},
        {"add_bias_kv", ArgType::Bool, B(false)}, {"add_zero_attn", ArgType::Bool, B(false)},
        {"kdim", ArgType::OptInt, none}, {"vdim", ArgType::OptInt, none},
        {"batch_first", ArgType::Bool, B(false)}},
       initMultiheadAttention, {}, nullptr, multiheadAttention,
       {tensorIn("query"), tensorIn("key"), tensorIn("value"), optIn("key_padding_mask"),
        {"need_weights", ArgType::Bool, B(true)}, optIn("attn_mask"),
        {"average_attn_weights", ArgType::Bool, B(true)}, {"is_causal", ArgType::Bool, B(false)}}},
      {"TransformerEncoderLayer", transformerArgs,
       [](ModuleInit &m) { return initTransformerLayer(m, /*decoder=*/false); }, {}, nullptr,
       [](Elaborator &e, Instance &inst, ArrayRef<Value> in, Location loc) {
         return transformerLayer(/*decoder=*/false, e, inst, in, loc);
       },
       {tensorIn("src"), optIn("src_mask"), optIn("src_key_padding_mask"),
        {"is_causal", ArgType::Bool, B(false)}}},
      {"TransformerDecoderLayer", transformerArgs,
       [](ModuleInit &m) { return initTransformerLayer(m, /*decoder=*/true); }, {}, nullptr,
       [](Elaborator &e, Instance &inst, ArrayRef<Value> in, Location loc) {
         return transformerLayer(/*decoder=*/true, e, inst, in, loc);
       },
       {tensorIn("tgt"), tensorIn("memory"), optIn("tgt_mask"), optIn("memory_mask"),
        optIn("tgt_key_padding_mask"), optIn("memory_key_padding_mask"),
        {"tgt_is_causal", ArgType::Bool, B(false)}, {"memory_is_causal", ArgType::Bool, B(false)}}},
      {"PixelShuffle", {{"upscale_factor", ArgType::Int, req}}, nullptr, "pixel_shuffle"},
      {"AdaptiveMaxPool2d", {{"output_size", ArgType::IntOrInts, req}}, nullptr,
       "adaptive_max_pool2d"},
      {"Upsample",
       {{"size", ArgType::OptIntOrInts, none}, {"scale_factor", ArgType::Any, none},
        {"mode", ArgType::Str, Value::str("nearest")}, {"align_corners", ArgType::Any, none}},
       nullptr, "interpolate"},
      {"LSTM", recurrentArgs, [](ModuleInit &m) { return initRecurrent(m, 4); }, {}, nullptr,
       [](Elaborator &e, Instance &inst, ArrayRef<Value> in, Location loc) {
         return recurrent(/*lstm=*/true, e, inst, in, loc);
       },
       {tensorIn("input"), {"hx", ArgType::Any, none}}},
      {"GRU", recurrentArgs, [](ModuleInit &m) { return initRecurrent(m, 3); }, {}, nullptr,
       [](Elaborator &e, Instance &inst, ArrayRef<Value> in, Location loc) {
         return recurrent(/*lstm=*/false, e, inst, in, loc);
       },
       {tensorIn("input"), {"hx", ArgType::Any, none}}},
      {"GroupNorm",
       {{"num_groups", ArgType::Int, req}, {"num_channels", ArgType::Int, req},
        {"eps", ArgType::Float, F(1e-5)}, {"affine", ArgType::Bool, B(true)}},
       initGroupNorm, "group_norm"},
      {"LayerNorm",
       {{"normalized_shape", ArgType::IntOrInts, req}, {"eps", ArgType::Float, F(1e-5)},
        {"elementwise_affine", ArgType::Bool, B(true)}, {"bias", ArgType::Bool, B(true)}},
       initLayerNorm, "layer_norm"},
      {"Embedding",
       {{"num_embeddings", ArgType::Int, req}, {"embedding_dim", ArgType::Int, req},
        {"padding_idx", ArgType::OptInt, none}},
       initEmbedding, "embedding"},
      {"ReLU", inplace, nullptr, "relu"},
      {"GELU", {{"approximate", ArgType::Str, Value::str("none")}}, nullptr, "gelu"},
      {"Sigmoid", {}, nullptr, "sigmoid"},
      {"Tanh", {}, nullptr, "tanh"},
      {"SiLU", inplace, nullptr, "silu"},
      {"ReLU6", inplace, nullptr, "relu6"},
      {"Hardtanh",
       {{"min_val", ArgType::Float, F(-1)}, {"max_val", ArgType::Float, F(1)},
        {"inplace", ArgType::Bool, B(false)}},
       nullptr, "hardtanh"},
      {"Hardsigmoid", inplace, nullptr, "hardsigmoid"},
      {"Hardswish", inplace, nullptr, "hardswish"},
      {"ELU", {{"alpha", ArgType::Float, F(1.0)}, {"inplace", ArgType::Bool, B(false)}}, nullptr,
       "elu"},
      {"Softplus", {{"beta", ArgType::Float, F(1.0)}, {"threshold", ArgType::Float, F(20.0)}},
       nullptr, "softplus"},
      {"Mish", inplace, nullptr, "mish"},
      {"PReLU", {{"num_parameters", ArgType::Int, I(1)}, {"init", ArgType::Float, F(0.25)}},
       [](ModuleInit &m) {
         if (!m.positive("num_parameters"))
           return failure();
         m.addState("weight", StateRole::Parameter, {m.a["num_parameters"].i}, "full",
                    {m.a["init"].f});
         return success();
       },
       "prelu"},
      {"LeakyReLU",
       {{"negative_slope", ArgType::Float, F(0.01)}, {"inplace", ArgType::Bool, B(false)}},
       nullptr, "leaky_relu"},
      {"Softmax", {{"dim", ArgType::OptInt, none}}, nullptr, "softmax"},
      {"LogSoftmax", {{"dim", ArgType::OptInt, none}}, nullptr, "log_softmax"},
      {"Identity", {}, nullptr, {},
       [](Elaborator &, Instance &, const Value &x, Location) { return x; }},
      {"Dropout", {{"p", ArgType::Float, F(0.5)}, {"inplace", ArgType::Bool, B(false)}},
       initDropout, "dropout"},
      {"Flatten", {{"start_dim", ArgType::Int, I(1)}, {"end_dim", ArgType::Int, I(-1)}},
       nullptr, "flatten"},
      {"MaxPool2d", maxPoolArgs,
       nullptr, "max_pool2d"},
      {"AvgPool2d", avgPoolArgs,
       initAvgPool, "avg_pool2d"},
      {"MaxPool1d", maxPoolArgs,
       nullptr, "max_pool1d"},
      {"AvgPool1d", avgPoolArgs,
       initAvgPool, "avg_pool1d"},
      {"AdaptiveAvgPool1d", {{"output_size", ArgType::IntOrInts, req}}, nullptr,
       "adaptive_avg_pool1d"},
      {"AdaptiveAvgPool2d", {{"output_size", ArgType::IntOrInts, req}}, nullptr,
       "adaptive_avg_pool2d"},
  };
  return table;
}

static const BuiltinModule *findModule(StringRef name) {
  return findBuiltin(builtinModules(), name);
}

bool Elaborator::isBuiltinModule(StringRef name) { return findModule(name); }

const Signature *Elaborator::builtinModuleInputs(StringRef name) {
  const BuiltinModule *m = findModule(name);
  return m && !m->inputs.empty() ? &m->inputs : nullptr;
}

SmallVector<StringRef> Elaborator::builtinModuleNames() {
  return builtinNames(builtinModules());
}

LogicalResult Elaborator::instantiateBuiltin(Instance &inst, ArrayRef<ArgValue> args, Env &env,
                                             int depth, const ast::CallExpr &call) {
  const BuiltinModule &module = *findModule(inst.typeName);
  auto bound = bind(module.signature, args, inst.typeName, inst.loc);
  if (!bound)
    return failure();
  inst.args = std::move(*bound);
  ModuleInit init{*this, inst, inst.args};
  return module.init ? module.init(init) : success();
}

Value Elaborator::callBuiltinModule(Instance &inst, ArrayRef<Value> inputs, Location loc) {
  StringRef kind = inst.typeName;
  const BuiltinModule &builtin = *findModule(kind);
  if (builtin.multiForward) {
    for (const Value &v : inputs)
      if (v.isPoison())
        return v;
    return builtin.multiForward(*this, inst, inputs, loc);
  }
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
  auto state = [&](StringRef name) {
    const StateEntry *s = inst.findState(name);
    return s ? readState(inst, *s, loc) : Value::none();
  };
  // Read weight before bias, so that the IR follows the state-dict order.
  state("weight");
  state("bias");
  const BuiltinModule &module = *findModule(kind);
  if (module.forward)
    return module.forward(*this, inst, x, loc);
  // The function's tensors come from the state (none where the module has no
  // such entry, as a Linear without bias), its options from the arguments.
  return applyFunction(
      module.function, kind,
      [&](const ParamSpec &p) {
        if (p.name == "input")
          return x;
        if (p.type == ArgType::Tensor || p.type == ArgType::OptTensor)
          return state(p.name);
        auto arg = inst.args.find(p.name);
        return arg != inst.args.end() ? arg->second : *p.def;
      },
      loc);
}

} // namespace modelc
