//===- Elaborate.h - From the AST to verified mdl IR -------------*- C++ -*-===//
//
// Elaboration binds constructor arguments, expands submodules into a tree of
// instances that owns every state entry under PyTorch's state-dict name, and
// traces `forward` once for evaluation and once for training into mdl IR.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_FRONTEND_ELABORATE_H
#define MODELC_FRONTEND_ELABORATE_H

#include "frontend/AST.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>

namespace modelc {

/// Bounds on what elaboration builds: the nesting depth alone does not bound
/// the size (a module with two children of its own kind, 40 deep, is a
/// trillion instances in five lines). The defaults are modelc's, far above
/// any real model (ResNet-152 has about 500 instances, 930 state entries,
/// 1,300 ops in forward_eval and 3,600 in forward_train); docs/FUZZING.md
/// lists them. The frontend fuzzer passes smaller ones, so that its inputs
/// reach these limits' code within its time and memory budget.
struct ElaborateLimits {
  int64_t instances = 100'000;
  /// State entries, those of built-in modules included.
  int64_t states = 1'000'000;
  /// The bytes of the instances' paths and the state entries' full names.
  int64_t nameBytes = 64 << 20;
  /// Ops of one traced function (forward_eval, forward_train).
  int64_t ops = 1'000'000;
  /// Module calls while tracing one function.
  int64_t moduleCalls = 1'000'000;
  /// Elements of one constant, and of all of a model's constants: at most
  /// the dialect's mdl::kMaxConstantElements and kMaxModelConstantElements
  /// (mdl/IR/MdlOps.h), which the mdl.model verifier enforces too.
  int64_t constantElements = 1 << 22;
  int64_t modelConstantElements = 1 << 24;
};

/// Choices of the compiler's command line that change what is elaborated.
struct ElaborateOptions {
  /// Every BatchNorm takes its training-mode statistics over all the ranks
  /// of data-parallel training, as torch.nn.SyncBatchNorm
  /// (convert_sync_batchnorm): `modelc --sync-batchnorm`.
  bool syncBatchNorm = false;
};

/// Elaborates the model named `modelName` of `file` (or its only model when
/// `modelName` is empty) into a builtin module holding one `mdl.model`.
/// Errors are reported through the context's diagnostic handler; on any error
/// the result is null.
mlir::OwningOpRef<mlir::ModuleOp> elaborate(const ast::File &file,
                                            llvm::StringRef modelName,
                                            mlir::MLIRContext *ctx,
                                            const ElaborateLimits &limits = {},
                                            const ElaborateOptions &options = {});

} // namespace modelc

#endif // MODELC_FRONTEND_ELABORATE_H
