//===- Parser.h - Recursive-descent parser of the .mdl language ---*- C++ -*-===//
//
// Builds the AST of a .mdl file. The grammar is in a comment above each parse
// method in Parser.cpp; newlines are not significant.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_FRONTEND_PARSER_H
#define MODELC_FRONTEND_PARSER_H

#include "AST.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringRef.h"

#include <memory>

namespace modelc {

/// Parses `buffer` (the file's contents) named `path`. Reports every error
/// through MLIR diagnostics (mlir::emitError(loc) << ...) at a FileLineColLoc
/// carrying `path`, 1-based line and column. Returns nullptr if any error.
///
/// Reports as many independent errors as it can (at most `maxErrors`, no
/// limit when 0), resynchronizing at the next member, statement or module
/// after an error. Never crashes on any input: nesting deeper than 200 levels
/// is a (fatal) error.
std::unique_ptr<ast::File> parseFile(llvm::StringRef path,
                                     llvm::StringRef buffer,
                                     mlir::MLIRContext *ctx,
                                     unsigned maxErrors = 20);

} // namespace modelc

#endif // MODELC_FRONTEND_PARSER_H
