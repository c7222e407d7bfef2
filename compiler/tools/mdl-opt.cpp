//===- mdl-opt.cpp - the mdl dialect's opt driver -------------------------===//
//
// Parses, verifies, transforms and prints mdl IR: the mdl dialect, every
// upstream dialect and pass, modelc's own passes (compiler/lowering/*/
// Passes.td) and the pipelines `modelc` runs, by name (Pipelines.h), so that
// any stage of the compiler can be run on IR. The driver of the lit tests
// under test/Dialect and test/Conversion.
//
//===----------------------------------------------------------------------===//

#include "lowering/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  modelc::lowering::registerLoweringPipelines();

  mlir::DialectRegistry registry;
  modelc::lowering::registerCodegenDialects(registry);

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mdl optimizer driver\n", registry));
}
