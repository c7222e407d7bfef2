//===- Description.cpp - The model's table for the runtime ----------------===//

#include "lowering/emission/Description.h"
#include "lowering/shared/Passes.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

using namespace mlir;

namespace modelc::lowering {

std::string safetensorsDType(Type t) {
  if (t.isF32()) return "F32";
  if (t.isF64()) return "F64";
  if (t.isF16()) return "F16";
  if (t.isBF16()) return "BF16";
  if (t.isInteger(1)) return "BOOL";
  if (t.isInteger(32)) return "I32";
  return "I64";
}

static std::vector<int64_t> descShape(ArrayRef<int64_t> shape) {
  std::vector<int64_t> out;
  for (int64_t d : shape)
    out.push_back(ShapedType::isDynamic(d) ? int64_t(-1) : d);
  return out;
}

static std::vector<TensorDescription> describeArguments(func::FuncOp fn);

FailureOr<ModelDescription> describeModel(ModuleOp module, StringRef prefix) {
  auto models = llvm::to_vector(module.getOps<mdl::ModelOp>());
  if (models.size() != 1)
    return module.emitError("expected exactly one mdl.model to compile"), failure();
  mdl::ModelOp model = models.front();
  ModelDescription desc;
  desc.name = model.getSymName().str();
  desc.prefix = prefix.str();
  // The model's file, which the runtime's messages of failed shape checks
  // name (with the line and column the generated code passes); its name
  // only: the library must not depend on where it was built.
  auto at = model.getLoc()->findInstanceOf<FileLineColLoc>();
  desc.source = at ? llvm::sys::path::filename(at.getFilename().getValue()).str() : "model";
  for (const mdl::StateInfo &s : mdl::getStates(model)) {
    if (s.kind == mdl::StateKind::Constant)
      continue;
    StringRef kind = s.kind == mdl::StateKind::Parameter          ? "parameter"
                     : s.kind == mdl::StateKind::PersistentBuffer ? "buffer"
                                                                  : "nonpersistent_buffer";
    desc.states.push_back({s.name.str(), kind.str(), safetensorsDType(s.type.getElementType()),
                           descShape(s.type.getShape()), s.init.str(),
                           std::vector<double>(s.initArgs.begin(), s.initArgs.end()),
                           s.decl->hasAttr(mdl::kFrozenAttr)});
  }
  auto fn = model.lookupSymbol<func::FuncOp>("forward_eval");
  if (!fn)
    return model.emitOpError("has no @forward_eval"), failure();
  desc.inputs = describeArguments(fn);
  if (auto loss = model.lookupSymbol<func::FuncOp>("loss_eval")) {
    desc.hasLoss = true;
    desc.lossInputs = describeArguments(loss);
  }
  for (Type t : fn.getResultTypes()) {
    auto type = llvm::cast<RankedTensorType>(t);
    desc.outputs.push_back(
        {"", safetensorsDType(type.getElementType()), descShape(type.getShape()), {}});
  }
  return desc;
}

/// The inputs of a traced method (forward, loss): names, dtypes, shapes and
/// the names of their dynamic sizes.
static std::vector<TensorDescription> describeArguments(func::FuncOp fn) {
  std::vector<TensorDescription> inputs;
  for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
    auto type = llvm::cast<RankedTensorType>(t);
    auto name = fn.getArgAttrOfType<StringAttr>(i, mdl::kArgNameAttr);
    TensorDescription input{name ? name.str() : "input" + std::to_string(i),
                            safetensorsDType(type.getElementType()), descShape(type.getShape()),
                            {}};
    // The names of dynamic sizes, which the runtime checks agree across
    // inputs.
    if (auto dims = fn.getArgAttrOfType<ArrayAttr>(i, mdl::kArgDimsAttr))
      for (auto dim : dims.getAsRange<StringAttr>())
        input.dims.push_back(dim.getValue().empty() ? std::nullopt
                                                    : std::optional<std::string>(dim.str()));
    inputs.push_back(std::move(input));
  }
  return inputs;
}

/// Whether the lowered `module` still calls the runtime's shape check
/// (kShapeCheckFailedFn): the checks that canonicalization did not fold.
static bool callsShapeCheck(ModuleOp module) {
  Operation *fn = module ? module.lookupSymbol(kShapeCheckFailedFn) : nullptr;
  return fn && !SymbolTable::symbolKnownUseEmpty(fn, module);
}

LogicalResult completeDescription(ModelDescription &desc, ModuleOp lowered, ModuleOp cudaModule) {
  desc.shapeChecks = callsShapeCheck(lowered) || callsShapeCheck(cudaModule);
  Operation *allReduce = lowered ? lowered.lookupSymbol(kAllReduceFn) : nullptr;
  desc.allReduce = allReduce && !SymbolTable::symbolKnownUseEmpty(allReduce, lowered);
  desc.derived.clear();
  if (auto derived = lowered->getAttrOfType<ArrayAttr>(mdl::kDerivedAttr)) {
    for (auto entry : derived.getAsRange<DictionaryAttr>()) {
      int64_t state = entry.getAs<IntegerAttr>("state").getInt();
      auto kind = entry.getAs<StringAttr>("kind");
      if (state < 0 || state >= int64_t(desc.states.size()) || !kind)
        return lowered.emitError("internal error: the derived values name no state of the "
                                 "description"),
               failure();
      auto shape = entry.getAs<DenseI64ArrayAttr>("shape").asArrayRef();
      desc.derived.push_back({(kind.getValue() + "(" + desc.states[state].name + ")").str(), "F32",
                              std::vector<int64_t>(shape.begin(), shape.end()),
                              {}});
    }
  }
  desc.rng = false;
  for (ModuleOp m : {lowered, cudaModule})
    if (m)
      m.walk([&](Operation *op) {
        if (op->hasAttr(mdl::kRngArgAttr))
          desc.rng = true;
      });
  return success();
}

static llvm::json::Array jsonShape(const std::vector<int64_t> &shape) {
  return llvm::json::Array(shape);
}

static llvm::json::Array jsonTensors(const std::vector<TensorDescription> &tensors, bool named) {
  llvm::json::Array out;
  for (const TensorDescription &t : tensors) {
    llvm::json::Object o{{"dtype", t.dtype}, {"shape", jsonShape(t.shape)}};
    if (named)
      o["name"] = t.name;
    if (!t.dims.empty()) {
      llvm::json::Array dims;
      for (const std::optional<std::string> &d : t.dims)
        dims.push_back(d ? llvm::json::Value(*d) : llvm::json::Value(nullptr));
      o["dims"] = std::move(dims);
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string ModelDescription::toJson() const {
  llvm::json::Array stateArray;
  for (const StateDescription &s : states) {
    llvm::json::Object o{{"name", s.name},
                         {"kind", s.kind},
                         {"dtype", s.dtype},
                         {"shape", jsonShape(s.shape)},
                         {"init", s.init},
                         {"init_args", llvm::json::Array(s.initArgs)}};
    if (s.frozen)
      o["requires_grad"] = false;
    stateArray.push_back(std::move(o));
  }
  llvm::json::Object desc{{"name", name},
                          {"source", source},
                          {"prefix", prefix},
                          {"states", std::move(stateArray)},
                          {"inputs", jsonTensors(inputs, /*named=*/true)},
                          {"outputs", jsonTensors(outputs, /*named=*/false)},
                          // The runtime keeps the buffers of a training call
                          // whose check fails.
                          {"shape_checks", shapeChecks}};
  if (!derived.empty())
    desc["derived"] = jsonTensors(derived, /*named=*/true);
  if (hasLoss)
    desc["loss_inputs"] = jsonTensors(lossInputs, /*named=*/true);
  if (rng)
    desc["rng"] = true;
  if (allReduce)
    desc["all_reduce"] = true;
  auto features = [](const std::vector<std::string> &list) {
    llvm::json::Array array;
    for (const std::string &f : list)
      array.push_back(f);
    return array;
  };
  if (!cpu.empty()) {
    desc["cpu"] = cpu;
    desc["cpu_features"] = features(cpuFeatures);
  }
  if (!variants.empty()) {
    llvm::json::Array list;
    for (const Variant &v : variants) {
      llvm::json::Object o{{"cpu", v.cpu},
                           {"cpu_features", features(v.cpuFeatures)},
                           {"shape_checks", v.shapeChecks}};
      if (!v.derived.empty())
        o["derived"] = jsonTensors(v.derived, /*named=*/true);
      list.push_back(std::move(o));
    }
    desc["variants"] = std::move(list);
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(desc));
  return text;
}

} // namespace modelc::lowering
