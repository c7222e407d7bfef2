//===- mdl-opt.cpp - the mdl dialect's opt driver -------------------------===//
//
// Parses, verifies, transforms and prints mdl IR; the driver of the lit tests
// under test/Dialect.
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  // The core passes: canonicalize, cse, inline, symbol-dce, ...
  mlir::registerTransformsPasses();

  mlir::DialectRegistry registry;
  registry.insert<mlir::mdl::MdlDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::tensor::TensorDialect>();

  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "mdl optimizer driver\n", registry));
}
