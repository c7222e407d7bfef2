//===- ExternalTools.cpp - Running the system's tools from modelc ---------===//

#include "lowering/emission/ExternalTools.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"

#include <fmt/format.h>

namespace modelc::lowering {

TempFiles::~TempFiles() {
  for (const std::string &p : paths)
    llvm::sys::fs::remove(p);
}

std::string TempFiles::make(llvm::StringRef stem, llvm::StringRef suffix) {
  llvm::SmallString<128> path;
  if (llvm::sys::fs::createTemporaryFile(stem, suffix, path))
    return "";
  paths.push_back(std::string(path));
  return paths.back();
}

mlir::LogicalResult runTool(llvm::StringRef program, llvm::ArrayRef<std::string> args,
                            llvm::StringRef log, llvm::StringRef what, std::string &error) {
  std::vector<llvm::StringRef> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, log, log};
  std::string execError;
  int rc = llvm::sys::ExecuteAndWait(program, argv, std::nullopt, redirects, 0, 0, &execError);
  if (rc == 0)
    return mlir::success();
  auto text = llvm::MemoryBuffer::getFile(log);
  error = fmt::format("{} failed{}{}", what.str(), execError.empty() ? "" : ": " + execError,
                      text ? ":\n" + (*text)->getBuffer().str() : "");
  return mlir::failure();
}

} // namespace modelc::lowering
