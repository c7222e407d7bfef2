//===- Codegen.h - From mdl IR to a loadable model.so ------------*- C++ -*-===//
//
// The back half of modelc, one stage per function so that the driver can stop
// after any of them (--emit=linalg, --emit=llvm, -c):
//
//   describeModel      the table of states, inputs and outputs (JSON) that
//                      the runtime reads to own and check the model's state
//   lowerToFusedLinalg mdl -> linalg/tensor on tensors, elementwise fusion
//   tileForCpu         tiles and fused groups for the CPU's threads
//   lowerToLLVM        bufferization, loops, LLVM dialect
//   translateToLLVMIR  LLVM IR with the runtime's entry points, optimized
//   emitObject         object code for the host, in process
//   linkSharedLibrary  the object and the runtime as one self-contained .so
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_CODEGEN_H
#define MODELC_LOWERING_CODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

#include <memory>
#include <string>
#include <vector>

namespace modelc::lowering {

struct CodegenOptions {
  unsigned optLevel = 2;
  std::string prefix; // symbol prefix of the exported ABI
  std::string weights; // a safetensors state dict to load at every create
};

/// Checks that `bytes` is a well-formed safetensors state dict whose keys,
/// shapes and dtypes are exactly the model's parameters and persistent
/// buffers; every problem is listed in `error`.
mlir::LogicalResult checkWeights(mlir::ModuleOp module, llvm::StringRef bytes,
                                 std::string &error);

/// Registers every dialect, extension and translation the pipeline uses.
void registerCodegenDialects(mlir::DialectRegistry &registry);

/// The C header of the model (--emit=header): <modelc/modelc.h> and
/// MODELC_DECLARE_MODEL(prefix), with the model's signature and state in a
/// comment.
mlir::FailureOr<std::string> emitHeader(mlir::ModuleOp module, llvm::StringRef prefix);

/// The safetensors spelling of an element type: F32, I64, BOOL, ...
std::string safetensorsDType(mlir::Type type);

/// The JSON table of the (single) mdl.model in `module`.
mlir::FailureOr<std::string> describeModel(mlir::ModuleOp module, llvm::StringRef prefix);

/// Runs `pipeline` (passes on the module, without the builtin.module anchor).
mlir::LogicalResult runPipelineText(mlir::ModuleOp module, llvm::StringRef pipeline);

/// mdl -> linalg on tensors, elementwise chains fused: where the CPU and the
/// CUDA back ends part.
mlir::LogicalResult lowerToFusedLinalg(mlir::ModuleOp module);
/// Tiles for the CPU's threads and orders loops for its vectors.
mlir::LogicalResult tileForCpu(mlir::ModuleOp module);
mlir::LogicalResult lowerToLLVM(mlir::ModuleOp module);
/// The CPU pipeline from loops on buffers to the LLVM dialect.
std::string cpuLoweringTail();

//===- CUDA (CudaCodegen.cpp) ---------------------------------------------===//

struct CudaOptions {
  std::vector<std::string> archs; // sm_80, sm_90: a cubin each, PTX of the lowest
  std::string cudaPath;           // holds bin/ptxas and bin/fatbinary
  bool emulate = false;           // kernels as host loops (a test of the mapping)
};

/// Parses --gpu-arch (sm_80,sm_90) into `archs`, without duplicates.
mlir::LogicalResult parseGpuArchs(llvm::StringRef list, std::vector<std::string> &archs,
                                  std::string &error);
/// The CUDA toolkit directory: `explicitPath`, $CUDA_HOME, $CUDA_PATH,
/// $CUDA_ROOT, ptxas on PATH, /usr/local/cuda.
mlir::FailureOr<std::string> findCudaToolkit(llvm::StringRef explicitPath, std::string &error);
/// modelc_forward_* -> modelc_cuda_forward_*: the entries of the GPU copy.
void renameForCuda(mlir::ModuleOp module);
/// Fused linalg -> kernels in device memory -> the LLVM dialect with PTX in
/// gpu.binary ops (or, with `emulate`, host loops in the LLVM dialect).
mlir::LogicalResult lowerToGpu(mlir::ModuleOp module, const CudaOptions &options);
/// Replaces each gpu.binary's PTX by a fatbinary of cubins (ptxas) and PTX.
mlir::LogicalResult embedFatbinaries(mlir::ModuleOp module, const CudaOptions &options,
                                     std::string &error);

/// Translates the LLVM-dialect `module`, adds the table and the packed entry
/// points the runtime calls, and optimizes at `options.optLevel`.
/// `cudaModule` (may be null) is linked in: the GPU copy of the model.
std::unique_ptr<llvm::Module> translateToLLVMIR(mlir::ModuleOp module, mlir::ModuleOp cudaModule,
                                                llvm::LLVMContext &ctx,
                                                llvm::StringRef description,
                                                const CodegenOptions &options);

/// Puts a freeze between every vector store and a select (or minimum or
/// maximum) of the value loaded from the same address, so that code
/// generation keeps a plain store instead of a masked one (slow on AMD;
/// see the .cpp).
void keepSelectStoresPlain(llvm::Module &module);

/// Object code for the host processor.
mlir::LogicalResult emitObject(llvm::Module &module, const CodegenOptions &options,
                               llvm::SmallVectorImpl<char> &object, std::string &error);

/// Object code for the host, as several objects built in parallel from
/// partitions of `module` (one per core, at most 4): the code of a model is
/// mostly two large functions, forward_eval and forward_train.
mlir::LogicalResult emitObjects(llvm::Module &module, const CodegenOptions &options,
                                std::vector<llvm::SmallVector<char, 0>> &objects,
                                std::string &error);

/// Links `objectPaths` with the runtime into the shared library `outputPath`
/// (written whole or not at all).
mlir::LogicalResult linkSharedLibrary(llvm::ArrayRef<std::string> objectPaths,
                                      llvm::StringRef outputPath, const CodegenOptions &options,
                                      std::string &error);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_CODEGEN_H
