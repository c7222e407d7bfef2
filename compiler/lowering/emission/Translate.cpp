//===- Translate.cpp - LLVM IR with the runtime's entry points -------------===//
//
// The lowered module (and the host side of its GPU copy) to one LLVM module,
// with what the runtime looks up in every library: the packed entry points
// it calls, the model's description and the state dict baked in with
// --weights. Optimization is emission's next step (ObjectCode.cpp).
//
//===----------------------------------------------------------------------===//

#include "lowering/emission/Emission.h"

#include "mdl/IR/MdlAttrNames.h"

#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/Linker/Linker.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Transforms/IPO/ConstantMerge.h"

using namespace mlir;

namespace modelc::lowering {

/// `void modelc_generated_<fn>(void **args)`: calls the C interface of the
/// lowered function with args[i] as its i-th pointer argument (for a
/// forward function the results struct first, then one memref descriptor
/// per state entry, input and derived value; for `prepare`, no results
/// struct: the states' descriptors, then the derived values').
static void addPackedEntry(llvm::Module &m, StringRef fn, StringRef suffix = "") {
  llvm::Function *callee = m.getFunction(("_mlir_ciface_modelc_" + fn + suffix).str());
  if (!callee)
    return;
  llvm::LLVMContext &ctx = m.getContext();
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *entry = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                       ("modelc_generated_" + fn + suffix).str(), m);
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

/// The packed entries of the forward, training and prepare functions.
static constexpr StringRef kCpuEntries[] = {
    "forward_eval",       "forward_train",         "prepare",
    "loss_backward_eval", "loss_backward_train",   "forward_backward_eval",
    "forward_backward_train"};

/// Keeps one copy of each constant the two compilations of a portable
/// library both hold (a model's randn() constants, tables): the module's
/// private constants carry no address anyone compares, so LLVM's
/// ConstantMerge may fold equal ones. (Before the module is split for
/// parallel code generation, which would put the copies apart.)
static void mergeConstants(llvm::Module &m) {
  for (llvm::GlobalVariable &g : m.globals())
    if (g.isConstant() && g.hasLocalLinkage() && g.hasInitializer())
      g.setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb;
  pb.registerModuleAnalyses(mam);
  llvm::ConstantMergePass().run(m, mam);
}

/// The variant's LLVM module: every symbol it defines renamed with
/// kVariantSuffix and hidden, every function compiled for `cpu`, and its
/// packed entries.
static std::unique_ptr<llvm::Module> translateVariant(ModuleOp variant, llvm::LLVMContext &ctx,
                                                      const CpuTarget &cpu) {
  variant->removeAttr(mlir::mdl::kDerivedAttr);
  std::unique_ptr<llvm::Module> m = translateModuleToLLVMIR(variant, ctx, "model_variant");
  if (!m)
    return nullptr;
  for (llvm::Function &f : *m) {
    if (f.isDeclaration())
      continue; // the runtime's functions, shared
    f.addFnAttr("target-cpu", cpu.cpu);
    if (!cpu.features.empty())
      f.addFnAttr("target-features", cpu.features);
    if (!f.hasLocalLinkage()) {
      f.setName(f.getName() + kVariantSuffix);
      f.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  }
  for (llvm::GlobalVariable &g : m->globals())
    if (!g.isDeclaration() && !g.hasLocalLinkage()) {
      g.setName(g.getName() + kVariantSuffix);
      g.setVisibility(llvm::GlobalValue::HiddenVisibility);
    }
  for (StringRef fn : kCpuEntries)
    addPackedEntry(*m, fn, kVariantSuffix);
  return m;
}

std::unique_ptr<llvm::Module> translateToLLVMIR(ModuleOp module, ModuleOp cudaModule,
                                                llvm::LLVMContext &ctx, ModelDescription desc,
                                                const CodegenOptions &options, ModuleOp variant,
                                                const CpuTarget *variantCpu) {
  if (variant) {
    // The variant's own derived values and checks, as completeDescription
    // finds them in its code.
    ModelDescription own = desc;
    if (failed(completeDescription(own, variant, nullptr)))
      return nullptr;
    desc.variants.push_back(
        {variantCpu->cpu, variantCpu->requiredFeatures, own.derived, own.shapeChecks});
  }
  // Values derived from parameters (cpu/DerivedValues.h), the shape checks
  // left and the random stream: the runtime learns of them from the
  // description.
  if (failed(completeDescription(desc, module, cudaModule)))
    return nullptr;
  std::string description = desc.toJson();
  module->removeAttr(mlir::mdl::kDerivedAttr);
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
  for (StringRef fn : kCpuEntries)
    addPackedEntry(*m, fn);
  for (StringRef fn : {"cuda_forward_eval", "cuda_forward_train", "cuda_loss_backward_eval",
                       "cuda_loss_backward_train", "cuda_forward_backward_eval",
                       "cuda_forward_backward_train"})
    addPackedEntry(*m, fn);
  if (variant) {
    std::unique_ptr<llvm::Module> code = translateVariant(variant, ctx, *variantCpu);
    if (!code || llvm::Linker::linkModules(*m, std::move(code)))
      return nullptr;
    mergeConstants(*m);
  }
  auto *descText = llvm::ConstantDataArray::getString(ctx, description, /*AddNull=*/true);
  auto *global = new llvm::GlobalVariable(*m, descText->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::ExternalLinkage, descText,
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

} // namespace modelc::lowering
