//===- Desc.cpp -----------------------------------------------------------===//
#include "Desc.h"

#include "CpuCheck.h"
#include "GeneratedSymbols.h"
#include "support/Format.h"
#include "support/Json.h"

#include <cstring>

namespace modelc::rt {

namespace {

bool getString(const JsonValue &obj, const char *key, std::string &out,
               const std::string &where, std::string &error) {
  const JsonValue *v = obj.get(key);
  if (!v || !v->isString()) {
    error = format("%s: '%s' must be a string", where.c_str(), key);
    return false;
  }
  out = v->string;
  return true;
}

bool getDType(const JsonValue &obj, DType &dtype, const std::string &where,
              std::string &error) {
  std::string name;
  if (!getString(obj, "dtype", name, where, error))
    return false;
  // (The dtypes that only files may have are not a model's.)
  if (!parseDType(name, dtype) || !isModelDType(dtype)) {
    error = format("%s: unknown dtype '%s'", where.c_str(), name.c_str());
    return false;
  }
  return true;
}

bool getShape(const JsonValue &obj, bool allowDynamic,
              std::vector<int64_t> &shape, const std::string &where,
              std::string &error) {
  const JsonValue *v = obj.get("shape");
  if (!v || !v->isArray()) {
    error = format("%s: 'shape' must be an array", where.c_str());
    return false;
  }
  for (const JsonValue &dim : v->array) {
    if (!dim.isNumber() || !dim.isInteger || dim.integer < (allowDynamic ? -1 : 0)) {
      error = format("%s: 'shape' must hold sizes >= %d", where.c_str(),
                     allowDynamic ? -1 : 0);
      return false;
    }
    shape.push_back(dim.integer);
  }
  return true;
}

bool parseState(const JsonValue &entry, size_t index, StateDesc &state,
                std::string &error) {
  std::string where = format("states[%zu]", index);
  if (!entry.isObject()) {
    error = where + ": must be an object";
    return false;
  }
  if (!getString(entry, "name", state.name, where, error))
    return false;
  where = format("state '%s'", state.name.c_str());
  std::string kind, init;
  if (!getString(entry, "kind", kind, where, error) ||
      !getDType(entry, state.dtype, where, error) ||
      !getShape(entry, /*allowDynamic=*/false, state.shape, where, error) ||
      !getString(entry, "init", init, where, error))
    return false;
  if (kind == "parameter") state.kind = StateKind::Parameter;
  else if (kind == "buffer") state.kind = StateKind::Buffer;
  else if (kind == "nonpersistent_buffer") state.kind = StateKind::NonPersistentBuffer;
  else {
    error = format("%s: unknown kind '%s'", where.c_str(), kind.c_str());
    return false;
  }
  size_t arity;
  if (init == "full") { state.init = InitKind::Full; arity = 1; }
  else if (init == "uniform") { state.init = InitKind::Uniform; arity = 2; }
  else if (init == "normal") { state.init = InitKind::Normal; arity = 2; }
  else {
    error = format("%s: unknown initializer '%s'", where.c_str(), init.c_str());
    return false;
  }
  const JsonValue *args = entry.get("init_args");
  if (!args || !args->isArray() || args->array.size() != arity) {
    error = format("%s: initializer '%s' needs init_args with %zu numbers",
                   where.c_str(), init.c_str(), arity);
    return false;
  }
  if (const JsonValue *grad = entry.get("requires_grad")) {
    if (grad->kind != JsonValue::Kind::Bool || state.kind != StateKind::Parameter) {
      error = format("%s: 'requires_grad' must be true or false, on a parameter only",
                     where.c_str());
      return false;
    }
    state.requiresGrad = grad->boolean;
  }
  for (size_t i = 0; i < arity; ++i) {
    if (!args->array[i].isNumber()) {
      error = format("%s: init_args must be numbers", where.c_str());
      return false;
    }
    state.initArgs[i] = args->array[i].number;
  }
  if (!computeNumBytes(state.shape, state.dtype, state.nbytes) ||
      !computeNumel(state.shape, state.numel)) {
    error = format("%s: shape %s is too large", where.c_str(),
                   formatShape(state.shape).c_str());
    return false;
  }
  return true;
}

/// The optional "dims" of a tensor: one entry per dimension, the name of a
/// dynamic size or null.
bool getDimNames(const JsonValue &entry, TensorDesc &t, const std::string &where,
                 std::string &error) {
  const JsonValue *dims = entry.get("dims");
  if (!dims)
    return true;
  if (!dims->isArray() || dims->array.size() != t.shape.size()) {
    error = where + ": 'dims' must be an array with one entry per dimension";
    return false;
  }
  for (size_t d = 0; d < t.shape.size(); ++d) {
    const JsonValue &name = dims->array[d];
    if (name.kind == JsonValue::Kind::Null) {
      t.dims.emplace_back();
      continue;
    }
    if (!name.isString() || name.string.empty() || t.shape[d] != -1) {
      error = format("%s: 'dims' entry %zu must be null or name a dynamic size", where.c_str(), d);
      return false;
    }
    t.dims.push_back(name.string);
  }
  return true;
}

bool parseTensors(const JsonValue &root, const char *key, bool named,
                  std::vector<TensorDesc> &out, std::string &error) {
  const JsonValue *list = root.get(key);
  if (!list || !list->isArray()) {
    error = format("'%s' must be an array", key);
    return false;
  }
  for (size_t i = 0; i < list->array.size(); ++i) {
    const JsonValue &entry = list->array[i];
    std::string where = format("%s[%zu]", key, i);
    TensorDesc t;
    if (!entry.isObject()) {
      error = where + ": must be an object";
      return false;
    }
    if (named && !getString(entry, "name", t.name, where, error))
      return false;
    if (!getDType(entry, t.dtype, where, error) ||
        !getShape(entry, /*allowDynamic=*/true, t.shape, where, error) ||
        !getDimNames(entry, t, where, error))
      return false;
    out.push_back(std::move(t));
  }
  return true;
}

} // namespace

bool parseModelDesc(const char *json, ModelDesc &desc, std::string &error) {
  std::string detail;
  auto fail = [&](const std::string &what) {
    error = "invalid model description embedded in the library: " + what;
    return false;
  };
  JsonValue root;
  if (!json)
    return fail("missing");
  if (!parseJson(json, std::strlen(json), root, detail))
    return fail(detail);
  if (!root.isObject())
    return fail("not a JSON object");
  if (!getString(root, "name", desc.name, "the model", detail) ||
      !getString(root, "prefix", desc.prefix, "the model", detail) ||
      (root.get("source") && !getString(root, "source", desc.source, "the model", detail)))
    return fail(detail);
  if (const JsonValue *checks = root.get("shape_checks")) {
    if (checks->kind != JsonValue::Kind::Bool)
      return fail("'shape_checks' must be true or false");
    desc.shapeChecks = checks->boolean;
  }
  if (const JsonValue *rng = root.get("rng")) {
    if (rng->kind != JsonValue::Kind::Bool)
      return fail("'rng' must be true or false");
    desc.rng = rng->boolean;
  }
  if (root.get("cpu") && !getString(root, "cpu", desc.cpu, "the model", detail))
    return fail(detail);
  if (const JsonValue *features = root.get("cpu_features")) {
    if (!features->isArray())
      return fail("'cpu_features' must be an array of strings");
    for (const JsonValue &f : features->array) {
      if (!f.isString())
        return fail("'cpu_features' must be an array of strings");
      desc.cpuFeatures.push_back(f.string);
    }
  }
  if (const JsonValue *variants = root.get("variants")) {
    if (!variants->isArray())
      return fail("'variants' must be an array");
    for (const JsonValue &v : variants->array) {
      VariantDesc variant;
      if (!v.isObject() || !getString(v, "cpu", variant.cpu, "a variant", detail))
        return fail(detail.empty() ? "a variant must be an object with 'cpu'" : detail);
      const JsonValue *features = v.get("cpu_features");
      if (!features || !features->isArray())
        return fail("a variant's 'cpu_features' must be an array of strings");
      for (const JsonValue &f : features->array) {
        if (!f.isString())
          return fail("a variant's 'cpu_features' must be an array of strings");
        variant.cpuFeatures.push_back(f.string);
      }
      if (v.get("derived") && !parseTensors(v, "derived", /*named=*/true, variant.derived, detail))
        return fail(detail);
      if (const JsonValue *checks = v.get("shape_checks"))
        variant.shapeChecks = checks->kind == JsonValue::Kind::Bool && checks->boolean;
      desc.variants.push_back(std::move(variant));
    }
  }
  if (const JsonValue *reduce = root.get("all_reduce")) {
    if (reduce->kind != JsonValue::Kind::Bool)
      return fail("'all_reduce' must be true or false");
    desc.allReduce = reduce->boolean;
  }
  const JsonValue *states = root.get("states");
  if (!states || !states->isArray())
    return fail("'states' must be an array");
  for (size_t i = 0; i < states->array.size(); ++i) {
    StateDesc state;
    if (!parseState(states->array[i], i, state, detail))
      return fail(detail);
    if (!desc.stateIndex.emplace(state.name, desc.states.size()).second)
      return fail(format("state '%s' is listed twice", state.name.c_str()));
    desc.states.push_back(std::move(state));
  }
  if (!parseTensors(root, "inputs", /*named=*/true, desc.inputs, detail) ||
      !parseTensors(root, "outputs", /*named=*/false, desc.outputs, detail) ||
      (root.get("derived") &&
       !parseTensors(root, "derived", /*named=*/true, desc.derived, detail)) ||
      (root.get("loss_inputs") &&
       !parseTensors(root, "loss_inputs", /*named=*/true, desc.lossInputs, detail)))
    return fail(detail);
  desc.hasLoss = root.get("loss_inputs") != nullptr;
  std::vector<const std::vector<TensorDesc> *> derivedLists = {&desc.derived};
  for (const VariantDesc &v : desc.variants)
    derivedLists.push_back(&v.derived);
  for (const std::vector<TensorDesc> *list : derivedLists)
    for (const TensorDesc &d : *list)
      for (int64_t size : d.shape)
        if (size < 0)
          return fail(format("derived value '%s' has a dynamic shape", d.name.c_str()));
  for (size_t i = 0; i < desc.outputs.size(); ++i)
    desc.outputs[i].name =
        desc.outputs.size() == 1 ? std::string("output") : format("output.%zu", i);
  for (size_t i = 0; i < desc.states.size(); ++i)
    if (desc.states[i].kind == StateKind::Parameter)
      desc.listingOrder.push_back(i);
  desc.parameters = desc.listingOrder;
  if (desc.hasLoss) {
    TensorDesc loss;
    loss.name = "loss";
    desc.lossResults.push_back(loss);
    for (size_t i : desc.parameters) {
      TensorDesc grad;
      grad.name = "the gradient of " + desc.states[i].name;
      grad.dtype = desc.states[i].dtype;
      grad.shape = desc.states[i].shape;
      desc.lossResults.push_back(grad);
    }
    desc.forwardBackwardResults = desc.outputs;
    desc.forwardBackwardResults.insert(desc.forwardBackwardResults.end(),
                                       desc.lossResults.begin() + 1, desc.lossResults.end());
    for (const TensorDesc &out : desc.outputs) {
      TensorDesc g = out;
      g.name = "grad_outputs[" + std::to_string(desc.gradOutputs.size()) + "]";
      g.dims.clear();
      desc.gradOutputs.push_back(g);
    }
  }
  for (size_t i = 0; i < desc.states.size(); ++i)
    if (desc.states[i].kind != StateKind::Parameter)
      desc.listingOrder.push_back(i);
  return true;
}

/// The variant when this CPU can run it (CpuCheck.h, $MODELC_CPU included),
/// else the base code: its CPU, checks and derived values become the
/// description's.
static void chooseVariant(ModelDesc &desc) {
  // (One variant beside the base is all the compiler makes; a description
  // that lists one without its code is ignored.)
  if (desc.variants.empty() || !modelc_generated_forward_eval__variant1 ||
      !modelc_generated_forward_train__variant1)
    return;
  VariantDesc &v = desc.variants.front();
  std::string ignored;
  if (!cpuCanRun(v.cpu, v.cpuFeatures, ignored))
    return;
  desc.variant = 1;
  std::swap(desc.cpu, v.cpu);
  std::swap(desc.cpuFeatures, v.cpuFeatures);
  std::swap(desc.derived, v.derived);
  std::swap(desc.shapeChecks, v.shapeChecks);
}

const ModelDesc *linkedModelDesc(std::string &error) {
  // Parsed on first use; C++ guarantees thread-safe initialisation.
  struct Parsed {
    ModelDesc desc;
    std::string error;
    bool ok;
    Parsed() {
      try {
        ok = parseModelDesc(modelc_generated_desc, desc, error);
        if (ok)
          chooseVariant(desc);
      } catch (...) { // out of memory: nothing may escape to C callers
        ok = false;
      }
    }
  };
  static const Parsed parsed;
  if (!parsed.ok) {
    error = parsed.error;
    return nullptr;
  }
  return &parsed.desc;
}

} // namespace modelc::rt
