//===- Pipelines.h - modelc's pass pipelines, in C++ -------------*- C++ -*-===//
//
// Every pipeline the driver runs, built here and registered by name, so that
// `mdl-opt --<name>` runs any stage of `modelc` on IR (docs/PIPELINE.md has
// the picture):
//
//   mdl-to-fused-linalg   shared/: mdl -> linalg on tensors, fused; where the
//                         CPU and CUDA back ends part
//   mdl-cpu-tiling        cpu/: convolution forms, packed weights, tiles,
//                         loop order (reads the module's mdl.cpu_target)
//   mdl-cpu-to-llvm       cpu/: bufferization, register-blocked kernels,
//                         threads, the LLVM dialect
//   mdl-cpu-loops-to-llvm the part of mdl-cpu-to-llvm from loops on buffers
//   mdl-gpu-mapping       gpu/: bufferized kernels on device memory
//   mdl-gpu-to-nvvm       gpu/: kernels outlined, NVVM, PTX in gpu.binary
//   mdl-gpu-emulation     gpu/: the kernels as host loops (tests)
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_PIPELINES_H
#define MODELC_LOWERING_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <functional>
#include <string>

namespace modelc::lowering {

/// Registers every dialect, extension and translation the pipelines use.
void registerCodegenDialects(mlir::DialectRegistry &registry);

/// Registers modelc's passes and the pipelines below by name (idempotent).
void registerLoweringPipelines();

void buildMdlToFusedLinalgPipeline(mlir::OpPassManager &pm);
void buildCpuTilingPipeline(mlir::OpPassManager &pm);
void buildCpuToLLVMPipeline(mlir::OpPassManager &pm);
void buildCpuLoopsToLLVMPipeline(mlir::OpPassManager &pm);
void buildGpuMappingPipeline(mlir::OpPassManager &pm);
void buildGpuEmulationPipeline(mlir::OpPassManager &pm);

struct GpuToNVVMOptions : mlir::PassPipelineOptions<GpuToNVVMOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("The architecture of the PTX (the lowest compiled for)"),
                           llvm::cl::init("sm_80")};
  Option<std::string> toolkit{*this, "toolkit", llvm::cl::desc("The CUDA toolkit's directory"),
                              llvm::cl::init("")};
};
void buildGpuToNVVMPipeline(mlir::OpPassManager &pm, const GpuToNVVMOptions &options);

/// Runs the pipeline `build` adds on `module`, with the command line's pass
/// manager options (--mlir-timing, --mlir-print-ir-after-all, ...).
mlir::LogicalResult runPipeline(mlir::ModuleOp module,
                                const std::function<void(mlir::OpPassManager &)> &build);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_PIPELINES_H
