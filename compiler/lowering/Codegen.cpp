//===- Codegen.cpp - Pipelines, LLVM IR and object code --------------------===//

#include "lowering/Codegen.h"
#include "lowering/Passes.h"

#include "mdl/IR/MdlDialect.h"
#include "mdl/IR/MdlOps.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/Linker/Linker.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Transforms/Utils/SplitModule.h"

#include <thread>

using namespace mlir;

namespace modelc::lowering {

void registerCodegenDialects(DialectRegistry &registry) {
  registry.insert<mdl::MdlDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
}

//===----------------------------------------------------------------------===//
// The model's table
//===----------------------------------------------------------------------===//

std::string safetensorsDType(Type t) {
  if (t.isF32()) return "F32";
  if (t.isF64()) return "F64";
  if (t.isF16()) return "F16";
  if (t.isBF16()) return "BF16";
  if (t.isInteger(1)) return "BOOL";
  if (t.isInteger(32)) return "I32";
  return "I64";
}

static llvm::json::Array jsonShape(ArrayRef<int64_t> shape) {
  llvm::json::Array out;
  for (int64_t d : shape)
    out.push_back(ShapedType::isDynamic(d) ? int64_t(-1) : d);
  return out;
}

FailureOr<std::string> describeModel(ModuleOp module, StringRef prefix) {
  auto models = llvm::to_vector(module.getOps<mdl::ModelOp>());
  if (models.size() != 1)
    return module.emitError("expected exactly one mdl.model to compile"), failure();
  mdl::ModelOp model = models.front();
  llvm::json::Array states;
  for (const mdl::StateInfo &s : mdl::getStates(model)) {
    if (s.kind == mdl::StateKind::Constant)
      continue;
    llvm::json::Array initArgs;
    for (double a : s.initArgs)
      initArgs.push_back(a);
    StringRef kind = s.kind == mdl::StateKind::Parameter          ? "parameter"
                     : s.kind == mdl::StateKind::PersistentBuffer ? "buffer"
                                                                  : "nonpersistent_buffer";
    states.push_back(llvm::json::Object{{"name", s.name},
                                        {"kind", kind},
                                        {"dtype", safetensorsDType(s.type.getElementType())},
                                        {"shape", jsonShape(s.type.getShape())},
                                        {"init", s.init},
                                        {"init_args", std::move(initArgs)}});
  }
  auto fn = model.lookupSymbol<func::FuncOp>("forward_eval");
  if (!fn)
    return model.emitOpError("has no @forward_eval"), failure();
  llvm::json::Array inputs, outputs;
  for (auto [i, t] : llvm::enumerate(fn.getArgumentTypes())) {
    auto type = llvm::cast<RankedTensorType>(t);
    auto name = fn.getArgAttrOfType<StringAttr>(i, "mdl.name");
    llvm::json::Object input{{"name", name ? name.str() : "input" + std::to_string(i)},
                             {"dtype", safetensorsDType(type.getElementType())},
                             {"shape", jsonShape(type.getShape())}};
    // The names of dynamic sizes (null for the others), which the runtime
    // checks agree across inputs.
    if (auto dims = fn.getArgAttrOfType<ArrayAttr>(i, "mdl.dims")) {
      llvm::json::Array names;
      for (auto dim : dims.getAsRange<StringAttr>())
        names.push_back(dim.getValue().empty() ? llvm::json::Value(nullptr)
                                               : llvm::json::Value(dim.str()));
      input["dims"] = std::move(names);
    }
    inputs.push_back(std::move(input));
  }
  for (Type t : fn.getResultTypes()) {
    auto type = llvm::cast<RankedTensorType>(t);
    outputs.push_back(llvm::json::Object{{"dtype", safetensorsDType(type.getElementType())},
                                         {"shape", jsonShape(type.getShape())}});
  }
  // The model's file, which the runtime's messages of failed shape checks
  // name (with the line and column the generated code passes).
  // (Its name only: the library must not depend on where it was built.)
  auto at = model.getLoc()->findInstanceOf<FileLineColLoc>();
  llvm::json::Object desc{{"name", model.getSymName()},
                          {"source", at ? llvm::sys::path::filename(at.getFilename().getValue()).str()
                                        : std::string("model")},
                          {"prefix", prefix},
                          {"states", std::move(states)},
                          {"inputs", std::move(inputs)},
                          {"outputs", std::move(outputs)}};
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(desc));
  return text;
}

//===----------------------------------------------------------------------===//
// Pipelines
//===----------------------------------------------------------------------===//

static void registerPassesOnce() {
  static bool done = [] {
    registerAllPasses();
    registerLoweringPasses();
    return true;
  }();
  (void)done;
}

/// Runs `pipeline` (a list of passes on the module, without the
/// `builtin.module(...)` anchor) on `module`.
LogicalResult runPipelineText(ModuleOp module, StringRef pipeline) {
  registerPassesOnce();
  PassManager pm(module->getName());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  std::string error;
  llvm::raw_string_ostream errorStream(error);
  if (failed(parsePassPipeline(pipeline, pm, errorStream)))
    return module.emitError("invalid pass pipeline: ") << error, failure();
  return pm.run(module);
}

LogicalResult lowerToFusedLinalg(ModuleOp module) {
  return runPipelineText(module, "mdl-lower-state, func.func(convert-mdl-to-linalg), canonicalize, "
                                 "cse, func.func(mdl-fuse-elementwise), canonicalize, cse");
}

LogicalResult tileForCpu(ModuleOp module) {
  return runPipelineText(module, "mdl-winograd-conv, mdl-pack-weights, func.func(mdl-conv-to-gemm), "
                                 "func.func(mdl-tile-and-fuse), canonicalize, cse, "
                                 "func.func(mdl-vectorizable-loop-order)");
}

std::string cpuLoweringTail() {
  // Passes that work function by function are nested in func.func, so
  // that MLIR runs them on the forward functions in parallel.
  return "func.func(convert-linalg-to-loops), "
         // Tile loops run on the runtime's threads through the OpenMP ABI.
         // The per-thread tile buffers live in memref.alloca_scopes, which the
         // memref lowering must inline before the loops inside become blocks.
         "convert-scf-to-openmp, func.func(mdl-parallel-if-many-iterations, "
         "expand-strided-metadata, lower-affine, convert-vector-to-llvm), "
         // Buffers come from the runtime's heap (runtime/src/Alloc.h).
         "finalize-memref-to-llvm{use-generic-functions}, "
         "func.func(convert-scf-to-cf), convert-math-to-funcs, func.func(convert-math-to-llvm), "
         "convert-math-to-libm, func.func(convert-arith-to-llvm, convert-index-to-llvm), "
         "finalize-memref-to-llvm{use-generic-functions}, "
         "convert-func-to-llvm, convert-cf-to-llvm, convert-openmp-to-llvm, "
         "reconcile-unrealized-casts";
}

LogicalResult lowerToLLVM(ModuleOp module) {
  return runPipelineText(
      module,
      "one-shot-bufferize{bufferize-function-boundaries "
      "function-boundary-type-conversion=identity-layout-map}, canonicalize, "
      // Tile buffers: allocated once outside the tile loops, on the stack
      // when small.
      "func.func(buffer-hoisting, buffer-loop-hoisting, "
      "promote-buffers-to-stack{max-alloc-size-in-bytes=65536}), "
      "buffer-deallocation-pipeline{private-function-dynamic-ownership}, convert-bufferization-to-memref, "
      "func.func(mdl-expand-strided-copies, scf-forall-to-parallel), "
      "mdl-blocked-dot-kernels, " +
          cpuLoweringTail());
}

void renameForCuda(ModuleOp module) {
  for (auto fn : module.getOps<func::FuncOp>()) {
    StringRef name = fn.getSymName();
    if (name.consume_front("modelc_forward_"))
      fn.setSymName(("modelc_cuda_forward_" + name).str());
  }
}

//===----------------------------------------------------------------------===//
// LLVM IR
//===----------------------------------------------------------------------===//

/// `void modelc_generated_<fn>(void **args)`: calls the C interface of the
/// lowered function with args[i] as its i-th pointer argument (for a
/// forward function the results struct first, then one memref descriptor
/// per state entry, input and derived value; for `prepare`, no results
/// struct: the states' descriptors, then the derived values').
static void addPackedEntry(llvm::Module &m, StringRef fn) {
  llvm::Function *callee = m.getFunction(("_mlir_ciface_modelc_" + fn).str());
  if (!callee)
    return;
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *entry = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                       ("modelc_generated_" + fn).str(), m);
  entry->setVisibility(llvm::GlobalValue::HiddenVisibility);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  SmallVector<llvm::Value *> args;
  for (unsigned i = 0; i < callee->arg_size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, entry->getArg(0), i);
    args.push_back(b.CreateLoad(ptr, slot));
  }
  b.CreateCall(callee, args);
  b.CreateRetVoid();
}

/// Whether the lowered `module` still calls the runtime's shape check
/// (kShapeCheckFailedFn): the checks that canonicalization did not fold.
static bool callsShapeCheck(ModuleOp module) {
  Operation *fn = module ? module.lookupSymbol(kShapeCheckFailedFn) : nullptr;
  return fn && !SymbolTable::symbolKnownUseEmpty(fn, module);
}

/// `description` completed with what only the lowered code tells: the
/// derived values `derived` (kDerivedAttr, may be null) as "derived":
/// [{name, dtype, shape}], each named "<kind>(<parameter>)", and
/// "shape_checks". Fails (an internal error) when the description does not
/// list a derived value's parameter: the forward functions take the values,
/// the runtime must know.
static FailureOr<std::string> completeDescription(StringRef description, ArrayAttr derived,
                                                  bool shapeChecks) {
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(description);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return failure();
  }
  llvm::json::Object *desc = parsed->getAsObject();
  llvm::json::Array *states = desc ? desc->getArray("states") : nullptr;
  if (!states)
    return failure();
  // The runtime keeps the buffers of a training call whose check fails.
  (*desc)["shape_checks"] = shapeChecks;
  if (derived) {
    llvm::json::Array entries;
    for (auto entry : derived.getAsRange<DictionaryAttr>()) {
      int64_t state = entry.getAs<IntegerAttr>("state").getInt();
      const llvm::json::Object *stateDesc =
          state >= 0 && state < int64_t(states->size()) ? (*states)[state].getAsObject() : nullptr;
      std::optional<StringRef> name = stateDesc ? stateDesc->getString("name") : std::nullopt;
      auto kind = entry.getAs<StringAttr>("kind");
      if (!name || !kind)
        return failure();
      llvm::json::Array shape;
      for (int64_t d : entry.getAs<DenseI64ArrayAttr>("shape").asArrayRef())
        shape.push_back(d);
      entries.push_back(llvm::json::Object{{"name", (kind.getValue() + "(" + *name + ")").str()},
                                           {"dtype", "F32"},
                                           {"shape", std::move(shape)}});
    }
    (*desc)["derived"] = std::move(entries);
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(std::move(*parsed));
  return text;
}

std::unique_ptr<llvm::Module> translateToLLVMIR(ModuleOp module, ModuleOp cudaModule,
                                                llvm::LLVMContext &ctx, StringRef descriptionIn,
                                                const CodegenOptions &options) {
  // Values derived from parameters (DerivedValues.h) and the shape checks
  // left: the runtime learns of them from the description.
  auto derived = module->getAttrOfType<ArrayAttr>(kDerivedAttr);
  FailureOr<std::string> description = completeDescription(
      descriptionIn, derived, callsShapeCheck(module) || callsShapeCheck(cudaModule));
  if (failed(description)) {
    module.emitError("internal error: the derived values name no state of the description");
    return nullptr;
  }
  module->removeAttr(kDerivedAttr);
  std::unique_ptr<llvm::Module> m = translateModuleToLLVMIR(module, ctx, "model");
  if (!m)
    return nullptr;
  if (cudaModule) {
    // The host side of the kernels: its own entries, the fatbinary, and the
    // constructor that registers it with the runtime.
    std::unique_ptr<llvm::Module> cuda = translateModuleToLLVMIR(cudaModule, ctx, "model_cuda");
    if (!cuda || llvm::Linker::linkModules(*m, std::move(cuda)))
      return nullptr;
  }
  // Everything the compiler generated stays inside the library; the runtime
  // exports the ABI.
  for (llvm::Function &f : *m)
    if (!f.isDeclaration() && !f.hasLocalLinkage())
      f.setVisibility(llvm::GlobalValue::HiddenVisibility);
  for (llvm::GlobalVariable &g : m->globals())
    if (!g.isDeclaration() && !g.hasLocalLinkage())
      g.setVisibility(llvm::GlobalValue::HiddenVisibility);
  for (StringRef fn :
       {"forward_eval", "forward_train", "prepare", "cuda_forward_eval", "cuda_forward_train"})
    addPackedEntry(*m, fn);
  auto *desc = llvm::ConstantDataArray::getString(ctx, *description, /*AddNull=*/true);
  auto *global = new llvm::GlobalVariable(*m, desc->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::ExternalLinkage, desc,
                                          "modelc_generated_desc");
  global->setVisibility(llvm::GlobalValue::HiddenVisibility);

  // The state dict baked in with --weights (possibly none: size 0).
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto *weights = llvm::ConstantDataArray::getString(ctx, options.weights, /*AddNull=*/true);
  auto *weightsGlobal = new llvm::GlobalVariable(*m, weights->getType(), /*isConstant=*/true,
                                                 llvm::GlobalValue::ExternalLinkage, weights,
                                                 "modelc_generated_weights");
  weightsGlobal->setVisibility(llvm::GlobalValue::HiddenVisibility);
  weightsGlobal->setAlignment(llvm::Align(64));
  auto *size = new llvm::GlobalVariable(*m, i64, /*isConstant=*/true,
                                        llvm::GlobalValue::ExternalLinkage,
                                        llvm::ConstantInt::get(i64, options.weights.size()),
                                        "modelc_generated_weights_size");
  size->setVisibility(llvm::GlobalValue::HiddenVisibility);
  return m;
}

/// Turns off code generation's loop strength reduction unless the command
/// line set -disable-lsr itself. On ResNet-18 it took 2.6 of the 5.9 CPU
/// seconds of LLVM (in SCEV, on the forward functions' hundreds of loops)
/// and changed no run time measurably: the kernels' loops already step
/// one pointer by a constant, and the rest is not hot.
static void disableLoopStrengthReduction() {
  llvm::cl::Option *option = llvm::cl::getRegisteredOptions().lookup("disable-lsr");
  if (option && option->getNumOccurrences() == 0)
    option->addOccurrence(0, "disable-lsr", "true");
}

static std::unique_ptr<llvm::TargetMachine> hostTargetMachine(unsigned optLevel,
                                                              std::string &error) {
  static bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    disableLoopStrengthReduction();
    return true;
  }();
  (void)initialized;
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::SubtargetFeatures features;
  for (auto &f : llvm::sys::getHostCPUFeatures())
    features.AddFeature(f.getKey(), f.getValue());
  llvm::TargetOptions targetOptions;
  auto level = optLevel == 0   ? llvm::CodeGenOptLevel::None
               : optLevel == 1 ? llvm::CodeGenOptLevel::Less
               : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                               : llvm::CodeGenOptLevel::Aggressive;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(), targetOptions,
      llvm::Reloc::PIC_, std::nullopt, level));
}

/// Optimizes `m` at `options.optLevel` and appends its object code to
/// `object`.
static LogicalResult optimizeAndEmit(llvm::Module &m, llvm::TargetMachine &tm,
                                     const CodegenOptions &options,
                                     SmallVectorImpl<char> &object, std::string &error) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple());
  if (options.optLevel > 0) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(&tm);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::OptimizationLevel level = options.optLevel == 1   ? llvm::OptimizationLevel::O1
                                    : options.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                            : llvm::OptimizationLevel::O3;
    pb.buildPerModuleDefaultPipeline(level).run(m, mam);
  }
  keepSelectStoresPlain(m);
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (tm.addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return failure();
  }
  codegen.run(m);
  return success();
}

LogicalResult emitObject(llvm::Module &m, const CodegenOptions &options,
                         SmallVectorImpl<char> &object, std::string &error) {
  std::unique_ptr<llvm::TargetMachine> tm = hostTargetMachine(options.optLevel, error);
  if (!tm)
    return failure();
  return optimizeAndEmit(m, *tm, options, object, error);
}

LogicalResult emitObjects(llvm::Module &m, const CodegenOptions &options,
                          std::vector<SmallVector<char, 0>> &objects, std::string &error) {
  unsigned parts = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  if (parts == 1) {
    objects.resize(1);
    return emitObject(m, options, objects.front(), error);
  }
  // Partitions travel as bitcode: each thread reads its own into its own
  // LLVMContext, as LLVM's parallel code generation does.
  std::vector<SmallVector<char, 0>> bitcode;
  llvm::SplitModule(m, parts, [&](std::unique_ptr<llvm::Module> part) {
    bitcode.emplace_back();
    llvm::raw_svector_ostream os(bitcode.back());
    llvm::WriteBitcodeToFile(*part, os);
  });
  objects.assign(bitcode.size(), {});
  std::vector<std::string> errors(bitcode.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bitcode.size(); ++i) {
    threads.emplace_back([&, i] {
      llvm::LLVMContext ctx;
      auto part = llvm::parseBitcodeFile(
          llvm::MemoryBufferRef(llvm::StringRef(bitcode[i].data(), bitcode[i].size()), "part"),
          ctx);
      if (!part) {
        errors[i] = llvm::toString(part.takeError());
        return;
      }
      std::unique_ptr<llvm::TargetMachine> tm = hostTargetMachine(options.optLevel, errors[i]);
      if (!tm || failed(optimizeAndEmit(**part, *tm, options, objects[i], errors[i])))
        if (errors[i].empty())
          errors[i] = "code generation failed";
    });
  }
  for (std::thread &t : threads)
    t.join();
  for (std::string &e : errors) {
    if (!e.empty()) {
      error = e;
      return failure();
    }
  }
  return success();
}

} // namespace modelc::lowering
