//===- mdl-opt.cpp - the mdl dialect's opt driver -------------------------===//
//
// Parses, verifies, transforms and prints mdl IR: the mdl dialect, every
// upstream dialect and pass the code generator uses, and the lowering passes
// (mdl-lower-state, convert-mdl-to-linalg). The driver of the lit tests under
// test/Dialect and test/Conversion.
//
//===----------------------------------------------------------------------===//

#include "lowering/Codegen.h"
#include "lowering/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  modelc::lowering::registerLoweringPasses();

  mlir::DialectRegistry registry;
  modelc::lowering::registerCodegenDialects(registry);

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mdl optimizer driver\n", registry));
}
