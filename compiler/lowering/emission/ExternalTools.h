//===- ExternalTools.h - Running the system's tools from modelc -*- C++ -*-===//
//
// The link step runs the C++ compiler driver, the CUDA back end ptxas and
// fatbinary; both need temporary files that disappear whatever happens and
// a failure message that carries the tool's own output.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_EXTERNALTOOLS_H
#define MODELC_LOWERING_EXTERNALTOOLS_H

#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace modelc::lowering {

/// Temporary files, removed when this goes out of scope.
class TempFiles {
public:
  TempFiles() = default;
  TempFiles(const TempFiles &) = delete;
  TempFiles &operator=(const TempFiles &) = delete;
  ~TempFiles();
  /// A new empty file `<stem>-*.<suffix>` in the temporary directory; ""
  /// when it cannot be created.
  std::string make(llvm::StringRef stem, llvm::StringRef suffix);

private:
  std::vector<std::string> paths;
};

/// Runs `program` with `args` (not counting argv[0]), its output and errors
/// to the file `log`. On failure, `error` is "<what> failed", the reason
/// the program could not run if any, and the log.
mlir::LogicalResult runTool(llvm::StringRef program, llvm::ArrayRef<std::string> args,
                            llvm::StringRef log, llvm::StringRef what, std::string &error);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_EXTERNALTOOLS_H
