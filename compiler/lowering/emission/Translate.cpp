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

using namespace mlir;

namespace modelc::lowering {

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

std::unique_ptr<llvm::Module> translateToLLVMIR(ModuleOp module, ModuleOp cudaModule,
                                                llvm::LLVMContext &ctx, ModelDescription desc,
                                                const CodegenOptions &options) {
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
  for (StringRef fn :
       {"forward_eval", "forward_train", "prepare", "cuda_forward_eval", "cuda_forward_train",
        "loss_backward_eval", "loss_backward_train", "forward_backward_eval",
        "forward_backward_train"})
    addPackedEntry(*m, fn);
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
