//===- MergeGpuModules.cpp - All kernels in one gpu.module ----------------===//
//
// Implements -mdl-merge-gpu-modules (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_MERGEGPUMODULES
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct MergeGpuModulesPass : impl::MergeGpuModulesBase<MergeGpuModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto gpuModules = llvm::to_vector(module.getOps<gpu::GPUModuleOp>());
    if (gpuModules.size() < 2)
      return;
    gpu::GPUModuleOp target = gpuModules.front();
    SymbolTable targetSymbols(target);
    for (gpu::GPUModuleOp source : llvm::drop_begin(gpuModules)) {
      // Each outlined module holds one kernel, named after the function
      // it came from, and the module has a unique name: a kernel whose name
      // is taken takes its module's. Launches name it @module::@kernel.
      for (Operation &op : llvm::make_early_inc_range(*source.getBody())) {
        auto symbol = dyn_cast<SymbolOpInterface>(&op);
        if (!symbol) {
          op.emitOpError("cannot be merged into one gpu.module");
          return signalPassFailure();
        }
        StringAttr oldName = symbol.getNameAttr();
        StringAttr newName = oldName;
        if (targetSymbols.lookup(oldName)) {
          newName = source.getNameAttr();
          if (targetSymbols.lookup(newName)) {
            op.emitOpError("cannot be merged into one gpu.module: its name is taken");
            return signalPassFailure();
          }
          symbol.setName(newName);
        }
        op.remove();
        targetSymbols.insert(&op);
        auto oldRef = SymbolRefAttr::get(source.getNameAttr(), {FlatSymbolRefAttr::get(oldName)});
        auto newRef = SymbolRefAttr::get(target.getNameAttr(), {FlatSymbolRefAttr::get(newName)});
        module.walk([&](gpu::LaunchFuncOp launch) {
          if (launch.getKernel() == oldRef)
            launch.setKernelAttr(newRef);
        });
      }
      source.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
