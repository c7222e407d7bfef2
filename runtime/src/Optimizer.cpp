//===- Optimizer.cpp - torch.optim's SGD, Adam and AdamW -------------------===//
//
// Compiled with -ffp-contract=off (runtime/CMakeLists.txt): every operation
// rounds to float32 on its own, as PyTorch's kernels do. The formulas follow
// torch/optim/sgd.py and adam.py (_single_tensor_*) line by line; a Python
// float operand (lr, a beta, a bias correction) is computed in double and
// converted to float where the kernel takes it, as a Scalar is.
//
//===----------------------------------------------------------------------===//
#include "Optimizer.h"

#include "Parallel.h"
#include "Train.h"
#include "support/Format.h"
#include "support/Json.h"
#include "support/SafeTensors.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fnmatch.h>

namespace modelc::rt {

std::string formatShortest(double value) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::string text = format("%.*g", precision, value);
    if (std::strtod(text.c_str(), nullptr) == value)
      return text;
  }
  return format("%.17g", value);
}

namespace {

const char *kindName(OptimizerKind kind) {
  switch (kind) {
  case OptimizerKind::Sgd: return "sgd";
  case OptimizerKind::Adam: return "adam";
  default: return "adamw";
  }
}

bool isSgd(OptimizerKind kind) { return kind == OptimizerKind::Sgd; }

const char *validOptions(OptimizerKind kind) {
  return isSgd(kind) ? "lr, momentum, dampening, weight_decay, nesterov, maximize"
                     : "lr, betas, eps, weight_decay, amsgrad, maximize";
}

/// Reads one option `key` of `value` into `h`; false with the error when it
/// is unknown, not one of `kind`'s or of the wrong type.
bool applyOption(OptimizerKind kind, const std::string &key, const JsonValue &value,
                 Hyperparameters &h, const std::string &where, std::string &error) {
  bool sgd = isSgd(kind);
  auto number = [&](double &out) {
    if (!value.isNumber()) {
      error = format("%soption '%s' must be a number, not %s", where.c_str(), key.c_str(),
                     value.kindName());
      return false;
    }
    out = value.number;
    return true;
  };
  auto boolean = [&](bool &out) {
    if (value.kind != JsonValue::Kind::Bool) {
      error = format("%soption '%s' must be true or false, not %s", where.c_str(),
                     key.c_str(), value.kindName());
      return false;
    }
    out = value.boolean;
    return true;
  };
  if (key == "lr") return number(h.lr);
  if (key == "weight_decay") return number(h.weightDecay);
  if (key == "maximize") return boolean(h.maximize);
  bool sgdOption = key == "momentum" || key == "dampening" || key == "nesterov";
  bool adamOption = key == "betas" || key == "eps" || key == "amsgrad";
  if ((sgdOption && !sgd) || (adamOption && sgd)) {
    error = format("%soption '%s' is not an option of %s (its options: %s)", where.c_str(),
                   key.c_str(), kindName(kind), validOptions(kind));
    return false;
  }
  if (key == "momentum") return number(h.momentum);
  if (key == "dampening") return number(h.dampening);
  if (key == "nesterov") return boolean(h.nesterov);
  if (key == "eps") return number(h.eps);
  if (key == "amsgrad") return boolean(h.amsgrad);
  if (key == "betas") {
    if (!value.isArray() || value.array.size() != 2 || !value.array[0].isNumber() ||
        !value.array[1].isNumber()) {
      error = format("%soption 'betas' must be an array of two numbers", where.c_str());
      return false;
    }
    h.beta1 = value.array[0].number;
    h.beta2 = value.array[1].number;
    return true;
  }
  error = format("%sunknown option '%s' (the options of %s: %s, groups)", where.c_str(),
                 key.c_str(), kindName(kind), validOptions(kind));
  return false;
}

/// torch.optim's checks of the constructor's arguments (its messages).
bool validate(OptimizerKind kind, const Hyperparameters &h, const std::string &where,
              std::string &error) {
  auto bad = [&](const char *what, double v) {
    error = format("%sInvalid %s: %s", where.c_str(), what, formatShortest(v).c_str());
    return false;
  };
  if (!(h.lr >= 0) || !std::isfinite(h.lr))
    return bad("learning rate", h.lr);
  if (!(h.weightDecay >= 0) || !std::isfinite(h.weightDecay))
    return bad("weight_decay value", h.weightDecay);
  if (isSgd(kind)) {
    if (!(h.momentum >= 0) || !std::isfinite(h.momentum))
      return bad("momentum value", h.momentum);
    if (!std::isfinite(h.dampening))
      return bad("dampening value", h.dampening);
    if (h.nesterov && (h.momentum <= 0 || h.dampening != 0)) {
      error = where + "Nesterov momentum requires a momentum and zero dampening";
      return false;
    }
    return true;
  }
  if (!(h.eps >= 0) || !std::isfinite(h.eps))
    return bad("epsilon value", h.eps);
  if (!(h.beta1 >= 0 && h.beta1 < 1))
    return bad("beta parameter at index 0", h.beta1);
  if (!(h.beta2 >= 0 && h.beta2 < 1))
    return bad("beta parameter at index 1", h.beta2);
  return true;
}

bool parseKind(const char *name, OptimizerKind &kind, std::string &error) {
  std::string lower = name ? name : "";
  for (char &c : lower)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (lower == "sgd") kind = OptimizerKind::Sgd;
  else if (lower == "adam") kind = OptimizerKind::Adam;
  else if (lower == "adamw") kind = OptimizerKind::AdamW;
  else {
    error = format("unknown optimizer '%s' (expected sgd, adam or adamw)",
                   name ? name : "(NULL)");
    return false;
  }
  return true;
}

bool parseGlobs(const JsonValue &group, ParamGroup &out, const std::string &where,
                std::string &error) {
  const JsonValue *params = group.get("params");
  bool ok = params && (params->isString() || (params->isArray() && !params->array.empty()));
  if (ok && params->isString())
    out.globs.push_back(params->string);
  if (ok && params->isArray()) {
    out.globList = true;
    for (const JsonValue &g : params->array) {
      ok = ok && g.isString();
      if (g.isString())
        out.globs.push_back(g.string);
    }
  }
  for (const std::string &g : out.globs)
    ok = ok && !g.empty();
  if (!ok)
    error = where + "'params' must be a glob or an array of globs (\"*.bias\")";
  return ok;
}

std::string hyperText(OptimizerKind kind, const Hyperparameters &h) {
  auto b = [](bool v) { return v ? "true" : "false"; };
  if (isSgd(kind))
    return format("\"lr\":%s,\"momentum\":%s,\"dampening\":%s,\"weight_decay\":%s,"
                  "\"nesterov\":%s,\"maximize\":%s",
                  formatShortest(h.lr).c_str(), formatShortest(h.momentum).c_str(),
                  formatShortest(h.dampening).c_str(), formatShortest(h.weightDecay).c_str(),
                  b(h.nesterov), b(h.maximize));
  return format("\"lr\":%s,\"betas\":[%s,%s],\"eps\":%s,\"weight_decay\":%s,"
                "\"amsgrad\":%s,\"maximize\":%s",
                formatShortest(h.lr).c_str(), formatShortest(h.beta1).c_str(),
                formatShortest(h.beta2).c_str(), formatShortest(h.eps).c_str(),
                formatShortest(h.weightDecay).c_str(), b(h.amsgrad), b(h.maximize));
}

//===- The updates: one parameter, as the for-loop implementation ---------===//

/// `a + alpha * b` of add(a, b, alpha=...) with alpha a Scalar.
inline float addScaled(float a, float alpha, float b) { return a + alpha * b; }

/// ATen's lerp (Lerp.h): exact at both ends.
inline float lerp(float self, float end, float weight) {
  return std::fabs(weight) < 0.5f ? self + weight * (end - self)
                                  : end - (end - self) * (1.0f - weight);
}

/// The operands of one parameter's update.
struct SgdArgs {
  float *__restrict param;
  const float *__restrict grad;
  float *__restrict buffer; // momentum_buffer (momentum != 0)
  float weightDecay, momentum, alpha, negLr;
};

/// _single_tensor_sgd on elements [begin, end): every tensor operation of
/// the for-loop implementation in one pass, each element's in the same
/// order (its operations are elementwise, so the values are the same).
/// `Momentum`: 0 none, 1 the first step (the buffer is a clone of the
/// gradient), 2 the buffer's update.
template <bool Maximize, bool WeightDecay, int Momentum, bool Nesterov>
void sgdRange(const SgdArgs &a, uint64_t begin, uint64_t end) {
  float *__restrict param = a.param;
  const float *__restrict gradIn = a.grad;
  float *__restrict buffer = a.buffer;
  for (uint64_t i = begin; i < end; ++i) {
    float grad = gradIn[i];
    if (Maximize)
      grad = -grad;
    if (WeightDecay)
      grad = addScaled(grad, a.weightDecay, param[i]);
    if (Momentum != 0) {
      float buf = Momentum == 1 ? grad // torch.clone(grad).detach()
                                : addScaled(buffer[i] * a.momentum, a.alpha, grad);
      buffer[i] = buf;
      grad = Nesterov ? addScaled(grad, a.momentum, buf) : buf;
    }
    param[i] = addScaled(param[i], a.negLr, grad);
  }
}

using SgdRange = void (*)(const SgdArgs &, uint64_t, uint64_t);

template <bool Maximize, bool WeightDecay, int Momentum>
SgdRange sgdRangeFor(bool nesterov) {
  return nesterov && Momentum ? &sgdRange<Maximize, WeightDecay, Momentum, true>
                              : &sgdRange<Maximize, WeightDecay, Momentum, false>;
}

template <bool Maximize, bool WeightDecay> SgdRange sgdRangeFor(int momentum, bool nesterov) {
  return momentum == 0 ? sgdRangeFor<Maximize, WeightDecay, 0>(nesterov)
         : momentum == 1 ? sgdRangeFor<Maximize, WeightDecay, 1>(nesterov)
                         : sgdRangeFor<Maximize, WeightDecay, 2>(nesterov);
}

/// _single_tensor_sgd for one parameter.
void sgdUpdate(const Hyperparameters &h, float *param, const float *gradIn, uint64_t n,
               ParamState &s) {
  int momentum = 0;
  if (h.momentum != 0) {
    momentum = s.hasMomentum ? 2 : 1;
    if (!s.hasMomentum) {
      s.momentumBuffer.resize(n);
      s.hasMomentum = true;
    }
  }
  SgdArgs a{param,
            gradIn,
            s.momentumBuffer.data(),
            static_cast<float>(h.weightDecay),
            static_cast<float>(h.momentum),
            static_cast<float>(1 - h.dampening),
            static_cast<float>(-h.lr)};
  bool weightDecay = h.weightDecay != 0;
  SgdRange range = h.maximize
                       ? (weightDecay ? sgdRangeFor<true, true>(momentum, h.nesterov)
                                      : sgdRangeFor<true, false>(momentum, h.nesterov))
                       : (weightDecay ? sgdRangeFor<false, true>(momentum, h.nesterov)
                                      : sgdRangeFor<false, false>(momentum, h.nesterov));
  parallelFor(n, [&](uint64_t begin, uint64_t end) { range(a, begin, end); });
}

struct AdamArgs {
  float *__restrict param;
  const float *__restrict grad;
  float *__restrict expAvg, *__restrict expAvgSq, *__restrict maxExpAvgSq;
  float weightDecay, decayFactor, weight, beta2, value, correction2Sqrt, eps, negStepSize;
};

/// _single_tensor_adam on elements [begin, end), in one pass as sgdRange.
/// `WeightDecay`: 0 none, 1 added to the gradient (Adam), 2 decoupled
/// (AdamW: the parameter is scaled first).
template <bool Maximize, int WeightDecay, bool Amsgrad>
void adamRange(const AdamArgs &a, uint64_t begin, uint64_t end) {
  float *__restrict param = a.param;
  const float *__restrict gradIn = a.grad;
  float *__restrict expAvg = a.expAvg;
  float *__restrict expAvgSq = a.expAvgSq;
  float *__restrict maxExpAvgSq = a.maxExpAvgSq;
  for (uint64_t i = begin; i < end; ++i) {
    float grad = gradIn[i];
    if (Maximize)
      grad = -grad;
    if (WeightDecay == 2)
      param[i] = param[i] * a.decayFactor;
    if (WeightDecay == 1)
      grad = addScaled(grad, a.weightDecay, param[i]);
    float first = lerp(expAvg[i], grad, a.weight);
    expAvg[i] = first;
    // mul_(beta2).addcmul_(grad, grad, value=1 - beta2): self + value * g * g
    float second = expAvgSq[i] * a.beta2 + a.value * grad * grad;
    expAvgSq[i] = second;
    if (Amsgrad) {
      float m = maxExpAvgSq[i];
      // torch.maximum propagates NaN.
      second = std::isnan(m) || std::isnan(second) ? NAN : (m > second ? m : second);
      maxExpAvgSq[i] = second;
    }
    float denom = std::sqrt(second) / a.correction2Sqrt + a.eps;
    // addcdiv_(exp_avg, denom, value=-step_size): self + value * t1 / t2
    param[i] = param[i] + a.negStepSize * first / denom;
  }
}

using AdamRange = void (*)(const AdamArgs &, uint64_t, uint64_t);

template <bool Maximize, int WeightDecay> AdamRange adamRangeFor(bool amsgrad) {
  return amsgrad ? &adamRange<Maximize, WeightDecay, true>
                 : &adamRange<Maximize, WeightDecay, false>;
}

template <bool Maximize> AdamRange adamRangeFor(int weightDecay, bool amsgrad) {
  return weightDecay == 0   ? adamRangeFor<Maximize, 0>(amsgrad)
         : weightDecay == 1 ? adamRangeFor<Maximize, 1>(amsgrad)
                            : adamRangeFor<Maximize, 2>(amsgrad);
}

/// _single_tensor_adam for one parameter (AdamW: decoupled weight decay).
void adamUpdate(const Hyperparameters &h, bool decoupled, float *param, const float *gradIn,
                uint64_t n, ParamState &s) {
  if (!s.initialized) {
    s.initialized = true;
    s.step = 0;
    s.expAvg.assign(n, 0.0f);
    s.expAvgSq.assign(n, 0.0f);
  }
  if (h.amsgrad && !s.hasMax) {
    s.maxExpAvgSq.assign(n, 0.0f);
    s.hasMax = true;
  }
  s.step += 1.0f;
  double step = static_cast<double>(s.step); // step_t.item()
  double biasCorrection1 = 1 - std::pow(h.beta1, step);
  double biasCorrection2 = 1 - std::pow(h.beta2, step);
  double stepSize = h.lr / biasCorrection1;
  AdamArgs a{param,
             gradIn,
             s.expAvg.data(),
             s.expAvgSq.data(),
             s.maxExpAvgSq.data(),
             static_cast<float>(h.weightDecay),
             static_cast<float>(1 - h.lr * h.weightDecay),
             static_cast<float>(1 - h.beta1),
             static_cast<float>(h.beta2),
             static_cast<float>(1 - h.beta2),
             static_cast<float>(std::sqrt(biasCorrection2)),
             static_cast<float>(h.eps),
             static_cast<float>(-stepSize)};
  int weightDecay = h.weightDecay == 0 ? 0 : decoupled ? 2 : 1;
  AdamRange range = h.maximize ? adamRangeFor<true>(weightDecay, h.amsgrad)
                               : adamRangeFor<false>(weightDecay, h.amsgrad);
  parallelFor(n, [&](uint64_t begin, uint64_t end) { range(a, begin, end); });
}

} // namespace

std::unique_ptr<Optimizer> Optimizer::create(const ModelDesc &desc, const char *name,
                                             const char *options, std::string &error) {
  auto opt = std::make_unique<Optimizer>();
  if (!parseKind(name, opt->kind, error))
    return nullptr;
  Hyperparameters defaults;
  if (opt->kind == OptimizerKind::AdamW)
    defaults.weightDecay = 0.01;
  JsonValue root;
  root.kind = JsonValue::Kind::Object;
  if (options && *options) {
    std::string why;
    if (!parseJson(options, std::strlen(options), root, why)) {
      error = "invalid options JSON: " + why;
      return nullptr;
    }
    if (!root.isObject()) {
      error = format("the options must be a JSON object, not %s", root.kindName());
      return nullptr;
    }
  }
  const JsonValue *groups = nullptr;
  for (const auto &member : root.object) {
    if (member.first == "groups") {
      groups = &member.second;
      continue;
    }
    if (!applyOption(opt->kind, member.first, member.second, defaults, "", error))
      return nullptr;
  }
  if (!validate(opt->kind, defaults, "", error))
    return nullptr;
  if (groups && !groups->isArray()) {
    error = "option 'groups' must be an array of objects";
    return nullptr;
  }
  for (size_t g = 0; groups && g < groups->array.size(); ++g) {
    const JsonValue &entry = groups->array[g];
    std::string where = format("groups[%zu]: ", g);
    if (!entry.isObject()) {
      error = where + "must be an object with 'params' and the options to override";
      return nullptr;
    }
    ParamGroup group;
    group.hyper = defaults;
    if (!parseGlobs(entry, group, where, error))
      return nullptr;
    for (const auto &member : entry.object)
      if (member.first != "params" &&
          !applyOption(opt->kind, member.first, member.second, group.hyper, where, error))
        return nullptr;
    if (!validate(opt->kind, group.hyper, where, error))
      return nullptr;
    opt->groups.push_back(std::move(group));
  }
  ParamGroup fallback;
  fallback.hyper = defaults;
  opt->groups.push_back(fallback);
  for (size_t i : desc.parameters) {
    size_t g = 0;
    for (; g + 1 < opt->groups.size(); ++g) {
      bool match = false;
      for (const std::string &glob : opt->groups[g].globs)
        match = match || fnmatch(glob.c_str(), desc.states[i].name.c_str(), 0) == 0;
      if (match)
        break;
    }
    opt->groupOf.push_back(g);
  }
  opt->state.resize(desc.parameters.size());
  return opt;
}

bool Optimizer::setHyperparameter(const char *name, double value, std::string &error) {
  std::string key = name ? name : "";
  bool sgd = isSgd(kind);
  bool flag = key == "nesterov" || key == "maximize" || key == "amsgrad";
  bool known = key == "lr" || key == "weight_decay" || key == "maximize" ||
               (sgd && (key == "momentum" || key == "dampening" || key == "nesterov")) ||
               (!sgd && (key == "beta1" || key == "beta2" || key == "eps" || key == "amsgrad"));
  if (!known) {
    error = format("'%s' is not a hyperparameter of %s (its hyperparameters: %s)",
                   name ? name : "(NULL)", kindName(kind),
                   sgd ? "lr, momentum, dampening, weight_decay, nesterov, maximize"
                       : "lr, beta1, beta2, eps, weight_decay, amsgrad, maximize");
    return false;
  }
  if (flag && value != 0 && value != 1) {
    error = format("'%s' is a flag: its value must be 0 or 1, not %s", key.c_str(),
                   formatShortest(value).c_str());
    return false;
  }
  std::vector<ParamGroup> updated = groups;
  for (size_t g = 0; g < updated.size(); ++g) {
    Hyperparameters &h = updated[g].hyper;
    if (key == "lr") h.lr = value;
    else if (key == "weight_decay") h.weightDecay = value;
    else if (key == "maximize") h.maximize = value != 0;
    else if (key == "momentum") h.momentum = value;
    else if (key == "dampening") h.dampening = value;
    else if (key == "nesterov") h.nesterov = value != 0;
    else if (key == "beta1") h.beta1 = value;
    else if (key == "beta2") h.beta2 = value;
    else if (key == "eps") h.eps = value;
    else h.amsgrad = value != 0;
    std::string where = g + 1 < updated.size() ? format("groups[%zu]: ", g) : "";
    if (!validate(kind, h, where, error))
      return false;
  }
  groups = std::move(updated);
  return true;
}

void Optimizer::step(modelc_model &model) {
  const ModelDesc &desc = *model.desc;
  for (size_t p = 0; p < desc.parameters.size(); ++p) {
    if (!model.hasGrad[p]) // p.grad is None
      continue;
    size_t index = desc.parameters[p];
    const Hyperparameters &h = groups[groupOf[p]].hyper;
    float *param = static_cast<float *>(model.stateData[index]);
    const float *g = gradientOf(model, p);
    uint64_t n = desc.states[index].numel;
    if (kind == OptimizerKind::Sgd)
      sgdUpdate(h, param, g, n, state[p]);
    else
      adamUpdate(h, kind == OptimizerKind::AdamW, param, g, n, state[p]);
  }
  model.derivedStale = true;
}

const char *Optimizer::name() const { return kindName(kind); }

std::string Optimizer::hyperparametersJson() const {
  std::string out = "{" + hyperText(kind, groups.back().hyper);
  if (groups.size() > 1) {
    out += ",\"groups\":[";
    for (size_t g = 0; g + 1 < groups.size(); ++g) {
      const ParamGroup &group = groups[g];
      std::string params;
      for (const std::string &glob : group.globs)
        params += (params.empty() ? "" : ",") + quoteJson(glob);
      if (group.globList)
        params = "[" + params + "]";
      out += format("%s{\"params\":%s,%s}", g ? "," : "", params.c_str(),
                    hyperText(kind, group.hyper).c_str());
    }
    out += "]";
  }
  return out + "}";
}

namespace {

/// The states of `kind` a parameter has, by their PyTorch names.
const char *const kSgdStates[] = {"momentum_buffer"};
const char *const kAdamStates[] = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

SafeTensor f32Tensor(std::string name, const std::vector<int64_t> &shape,
                     const std::vector<float> &values) {
  SafeTensor t;
  t.name = std::move(name);
  t.dtype = DType::F32;
  t.shape = shape;
  t.data = reinterpret_cast<const unsigned char *>(values.data());
  t.nbytes = values.size() * sizeof(float);
  return t;
}

} // namespace

std::string Optimizer::serialize(const modelc_model &model) const {
  const ModelDesc &desc = *model.desc;
  std::vector<SafeTensor> tensors;
  for (size_t p = 0; p < desc.parameters.size(); ++p) {
    const StateDesc &param = desc.states[desc.parameters[p]];
    const ParamState &s = state[p];
    if (s.hasMomentum)
      tensors.push_back(f32Tensor(param.name + ".momentum_buffer", param.shape,
                                  s.momentumBuffer));
    if (s.initialized) {
      SafeTensor step;
      step.name = param.name + ".step";
      step.dtype = DType::F32;
      step.data = reinterpret_cast<const unsigned char *>(&s.step);
      step.nbytes = sizeof(float);
      tensors.push_back(step);
      tensors.push_back(f32Tensor(param.name + ".exp_avg", param.shape, s.expAvg));
      tensors.push_back(f32Tensor(param.name + ".exp_avg_sq", param.shape, s.expAvgSq));
    }
    if (s.hasMax)
      tensors.push_back(f32Tensor(param.name + ".max_exp_avg_sq", param.shape,
                                  s.maxExpAvgSq));
  }
  return serializeSafeTensors(tensors, {{"optimizer", name()},
                                        {"hyperparameters", hyperparametersJson()}});
}

std::unique_ptr<Optimizer> Optimizer::deserialize(const modelc_model &model,
                                                  const unsigned char *bytes, size_t size,
                                                  const std::string &source,
                                                  std::string &error) {
  const ModelDesc &desc = *model.desc;
  std::vector<SafeTensor> tensors;
  SafeTensorsMetadata metadata;
  std::string why;
  if (!parseSafeTensors(bytes, size, tensors, &metadata, why)) {
    error = format("%s: %s", source.c_str(), why.c_str());
    return nullptr;
  }
  const std::string *name = nullptr, *options = nullptr;
  for (const auto &kv : metadata) {
    if (kv.first == "optimizer")
      name = &kv.second;
    else if (kv.first == "hyperparameters")
      options = &kv.second;
  }
  if (!name || !options) {
    error = format("%s: not an optimizer state: its __metadata__ has no '%s'",
                   source.c_str(), name ? "hyperparameters" : "optimizer");
    return nullptr;
  }
  std::unique_ptr<Optimizer> opt = create(desc, name->c_str(), options->c_str(), why);
  if (!opt) {
    error = format("%s: __metadata__: %s", source.c_str(), why.c_str());
    return nullptr;
  }
  bool sgd = isSgd(opt->kind);
  std::vector<std::vector<bool>> seen(desc.parameters.size(), std::vector<bool>(4, false));
  for (const SafeTensor &t : tensors) {
    size_t dot = t.name.rfind('.');
    std::string param = dot == std::string::npos ? t.name : t.name.substr(0, dot);
    std::string stateName = dot == std::string::npos ? "" : t.name.substr(dot + 1);
    std::string quiet;
    int64_t p = findParameter(model, "", param.c_str(), quiet);
    if (p < 0) {
      error = format("%s: key '%s': '%s' is not a parameter of the model", source.c_str(),
                     t.name.c_str(), param.c_str());
      return nullptr;
    }
    int which = -1;
    const char *const *names = sgd ? kSgdStates : kAdamStates;
    int count = sgd ? 1 : 4;
    for (int k = 0; k < count; ++k)
      if (stateName == names[k])
        which = k;
    if (which < 0) {
      error = format("%s: key '%s': %s keeps no state '%s' (its states: %s)", source.c_str(),
                     t.name.c_str(), opt->name(), stateName.c_str(),
                     sgd ? "momentum_buffer" : "step, exp_avg, exp_avg_sq, max_exp_avg_sq");
      return nullptr;
    }
    const StateDesc &paramDesc = desc.states[desc.parameters[static_cast<size_t>(p)]];
    bool isStep = !sgd && which == 0;
    std::vector<int64_t> want = isStep ? std::vector<int64_t>() : paramDesc.shape;
    if (t.dtype != DType::F32 || !savedShapeLoads(t.shape, want)) {
      error = format("%s: key '%s' is %s %s, expected F32 %s", source.c_str(), t.name.c_str(),
                     dtypeName(t.dtype), formatShape(t.shape).c_str(),
                     formatShape(want).c_str());
      return nullptr;
    }
    ParamState &s = opt->state[static_cast<size_t>(p)];
    const float *data = reinterpret_cast<const float *>(t.data);
    std::vector<float> values(t.nbytes / sizeof(float));
    if (t.nbytes)
      std::memcpy(values.data(), data, t.nbytes);
    seen[static_cast<size_t>(p)][static_cast<size_t>(which)] = true;
    if (sgd) {
      s.momentumBuffer = std::move(values);
      s.hasMomentum = true;
    } else if (which == 0) {
      s.step = values[0];
    } else if (which == 1) {
      s.expAvg = std::move(values);
    } else if (which == 2) {
      s.expAvgSq = std::move(values);
    } else {
      s.maxExpAvgSq = std::move(values);
      s.hasMax = true;
    }
  }
  for (size_t p = 0; !sgd && p < desc.parameters.size(); ++p) {
    const std::string &param = desc.states[desc.parameters[p]].name;
    const std::vector<bool> &has = seen[p];
    if (!has[0] && !has[1] && !has[2] && !has[3])
      continue;
    for (int k = 0; k < 3; ++k)
      if (!has[static_cast<size_t>(k)]) {
        error = format("%s: key '%s.%s' is missing (the file has other state of '%s')",
                       source.c_str(), param.c_str(), kAdamStates[k], param.c_str());
        return nullptr;
      }
    opt->state[p].initialized = true;
    if (!has[3] && opt->groups[opt->groupOf[p]].hyper.amsgrad) {
      error = format("%s: key '%s.max_exp_avg_sq' is missing (amsgrad needs it)",
                     source.c_str(), param.c_str());
      return nullptr;
    }
  }
  return opt;
}

} // namespace modelc::rt
