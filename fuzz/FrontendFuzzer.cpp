//===- FrontendFuzzer.cpp - fuzz the .mdl frontend ------------------------===//
//
// The input is a .mdl file. It goes through what `modelc --emit=mdl` does:
// lexing and parsing (parseFile), elaboration of every model it declares
// (elaborate, which ends with mlir::verify of the mdl dialect) and printing.
// Diagnostics are swallowed by a handler; errors are expected, crashes,
// assertion failures, sanitizer reports, hangs and blow-ups are not.
//
// Elaboration runs with 1/50 of modelc's limits on instances, state entries,
// name bytes, ops, module calls and constants' elements: at modelc's own, an
// input that crosses one takes about 0.5 GB and 1.5 s (docs/FUZZING.md), which would make the
// fuzzer slow on exactly the inputs that exercise the limits. The same code
// runs; only the bounds are smaller.
//
//===----------------------------------------------------------------------===//
#include "frontend/Elaborate.h"
#include "frontend/Parser.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {
modelc::ElaborateLimits fuzzLimits() {
  modelc::ElaborateLimits limits;
  for (int64_t *limit : {&limits.instances, &limits.states, &limits.nameBytes, &limits.ops,
                         &limits.moduleCalls, &limits.constantElements,
                         &limits.modelConstantElements})
    *limit /= 50;
  return limits;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A fresh context each time, so that no input depends on the ones before
  // (uniqued attributes and types would otherwise accumulate).
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  mlir::ScopedDiagnosticHandler swallow(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  // A copy: like the MemoryBuffer modelc reads a file into, a std::string
  // has a NUL after the contents; libFuzzer's bytes have none.
  std::string contents(reinterpret_cast<const char *>(data), size);
  auto file = modelc::parseFile("fuzz.mdl", contents, &context);
  if (!file)
    return 0;
  // Every model of the file by name, and the unnamed choice (an error when
  // the file holds several).
  std::vector<std::string> names{""};
  for (const auto &m : file->modules)
    if (m->isModel)
      names.push_back(m->name);
  static const modelc::ElaborateLimits limits = fuzzLimits();
  for (const std::string &name : names) {
    auto module = modelc::elaborate(*file, name, &context, limits);
    if (!module)
      continue;
    llvm::raw_null_ostream os;
    module->print(os);
  }
  return 0;
}
