//===- Emission.h - From the LLVM dialect to a loadable model.so -*- C++ -*-===//
//
// The last stage of modelc, one step per function so that the driver can
// stop after any of them (--emit=llvm, -c, --emit=header):
//
//   translateToLLVMIR  LLVM IR with the runtime's entry points, the model's
//                      description and the --weights state dict (not yet
//                      optimized)
//   emitObject(s)      optimized at -O<n>, object code for the target CPU,
//                      in process
//   linkSharedLibrary  the objects and the runtime as one self-contained .so
//   linkStaticObject   the same as one relocatable object (--emit=static)
//   emitHeader         the C header of the model
//   checkWeights       a --weights state dict checked against the model
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_EMISSION_EMISSION_H
#define MODELC_LOWERING_EMISSION_EMISSION_H

#include "lowering/cpu/CpuTarget.h"
#include "lowering/emission/Description.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>
#include <string>
#include <vector>

namespace modelc::lowering {

struct CodegenOptions {
  unsigned optLevel = 2;
  std::string prefix;  // symbol prefix of the exported ABI
  std::string weights; // a safetensors state dict to load at every create
  CpuTarget cpu;       // what the object code is for (resolveCpuTarget)
};

/// The target of --mtriple=`name`: the host's triple when empty or when it
/// names the host's architecture; otherwise aarch64-linux-gnu (ARM64
/// Linux), the one other target modelc has a runtime for. An error names
/// --mtriple.
mlir::FailureOr<llvm::Triple> resolveTriple(llvm::StringRef name, std::string &error);

/// The target description of the CPU LLVM calls `cpu` for `triple`
/// ("native" or "host": the machine modelc runs on, with the features it
/// reports), with `extraFeatures` ("+avx512f,-avx512bw", as llc's -mattr)
/// on top; an error names --cpu or --cpu-features when LLVM does not know
/// them.
mlir::FailureOr<CpuTarget> resolveCpuTarget(const llvm::Triple &triple, llvm::StringRef cpu,
                                            llvm::StringRef extraFeatures, std::string &error);

/// Checks that `bytes` is a well-formed safetensors state dict whose keys,
/// shapes and dtypes are exactly the model's parameters and persistent
/// buffers; every problem is listed in `error`.
mlir::LogicalResult checkWeights(mlir::ModuleOp module, llvm::StringRef bytes,
                                 std::string &error);

/// The C header of the model (--emit=header): <modelc/modelc.h> and
/// MODELC_DECLARE_MODEL(prefix), with the model's signature and state in a
/// comment.
mlir::FailureOr<std::string> emitHeader(mlir::ModuleOp module, llvm::StringRef prefix);

/// The suffix of a portable library's second compilation's symbols: its
/// entries are modelc_generated_<fn>__variant1 (runtime/src/Entries.h).
constexpr llvm::StringLiteral kVariantSuffix = "__variant1";

/// Translates the LLVM-dialect `module` and adds the packed entry points the
/// runtime calls, `desc` (completed from the lowered code) and the weights.
/// `cudaModule` (may be null) is linked in: the GPU copy of the model.
/// `variant` (may be null) is the same model's CPU code lowered for
/// `*variantCpu` (a portable library's x86-64-v4 code): linked in with its
/// symbols suffixed kVariantSuffix, its functions compiled for that CPU
/// (LLVM's per-function target-cpu and target-features), and described in
/// desc.variants. Not optimized: emitObject does that.
std::unique_ptr<llvm::Module> translateToLLVMIR(mlir::ModuleOp module, mlir::ModuleOp cudaModule,
                                                llvm::LLVMContext &ctx, ModelDescription desc,
                                                const CodegenOptions &options,
                                                mlir::ModuleOp variant = {},
                                                const CpuTarget *variantCpu = nullptr);

/// Optimizes `module` at options.optLevel; object code for options.cpu.
mlir::LogicalResult emitObject(llvm::Module &module, const CodegenOptions &options,
                               llvm::SmallVectorImpl<char> &object, std::string &error);

/// As emitObject, as several objects built in parallel from partitions of
/// `module` (one per core, at most 4): the code of a model is mostly two
/// large functions, forward_eval and forward_train.
mlir::LogicalResult emitObjects(llvm::Module &module, const CodegenOptions &options,
                                std::vector<llvm::SmallVector<char, 0>> &objects,
                                std::string &error);

/// Links `objectPaths` with the runtime into the shared library `outputPath`
/// (written whole or not at all), exporting the ABI under `prefix`; for
/// another architecture than the host's, with the cross driver and the
/// runtime built for `triple`.
mlir::LogicalResult linkSharedLibrary(llvm::ArrayRef<std::string> objectPaths,
                                      llvm::StringRef outputPath, llvm::StringRef prefix,
                                      const llvm::Triple &triple, std::string &error);

/// As linkSharedLibrary, into one relocatable object for a static
/// application (modelc --emit=static): the objects, the whole runtime and
/// the members of libstdc++ and libgcc they use, merged by `c++ -r`, with
/// every symbol but the prefixed ABI made local (objcopy), so that it needs
/// only libc, libm and threads and two models can share a program.
mlir::LogicalResult linkStaticObject(llvm::ArrayRef<std::string> objectPaths,
                                     llvm::StringRef outputPath, llvm::StringRef prefix,
                                     const llvm::Triple &triple, std::string &error);

/// Debian's multiarch name of `triple` (aarch64-linux-gnu): the cross
/// tools' prefix and the runtime's subdirectory.
std::string multiarchName(const llvm::Triple &triple);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_EMISSION_EMISSION_H
