//===- Cuda.h - The CUDA toolkit and the fatbinary ---------------*- C++ -*-===//
//
// What the CUDA back end needs besides its passes: the architectures to
// compile for, the toolkit that compiles them, the GPU copy's entry names,
// and the fatbinary that replaces the PTX the GPU pipeline leaves.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_GPU_CUDA_H
#define MODELC_LOWERING_GPU_CUDA_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace modelc::lowering {

struct CudaOptions {
  std::vector<std::string> archs; // sm_80, sm_90: a cubin each, PTX of the lowest
  std::string cudaPath;           // holds bin/ptxas and bin/fatbinary
  bool emulate = false;           // kernels as host loops (a test of the mapping)
};

/// Parses --gpu-arch (sm_80,sm_90) into `archs`, without duplicates.
mlir::LogicalResult parseGpuArchs(llvm::StringRef list, std::vector<std::string> &archs,
                                  std::string &error);
/// The lowest of `archs`: the PTX is generated for it, so that it runs
/// (JIT-compiled) on every chip at least as new.
llvm::StringRef lowestArch(llvm::ArrayRef<std::string> archs);
/// The CUDA toolkit directory: `explicitPath`, $CUDA_HOME, $CUDA_PATH,
/// $CUDA_ROOT, ptxas on PATH, /usr/local/cuda.
mlir::FailureOr<std::string> findCudaToolkit(llvm::StringRef explicitPath, std::string &error);
/// modelc_forward_* -> modelc_cuda_forward_* (forward_backward's too),
/// modelc_loss_backward_* -> modelc_cuda_loss_backward_*: the entries of
/// the GPU copy.
void renameForCuda(mlir::ModuleOp module);
/// Replaces each gpu.binary's PTX by a fatbinary of cubins (ptxas) and PTX.
mlir::LogicalResult embedFatbinaries(mlir::ModuleOp module, const CudaOptions &options,
                                     std::string &error);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_GPU_CUDA_H
