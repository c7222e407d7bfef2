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

namespace modelc {

/// Elaborates the model named `modelName` of `file` (or its only model when
/// `modelName` is empty) into a builtin module holding one `mdl.model`.
/// Errors are reported through the context's diagnostic handler; on any error
/// the result is null.
mlir::OwningOpRef<mlir::ModuleOp> elaborate(const ast::File &file,
                                            llvm::StringRef modelName,
                                            mlir::MLIRContext *ctx);

} // namespace modelc

#endif // MODELC_FRONTEND_ELABORATE_H
