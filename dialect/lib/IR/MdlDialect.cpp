//===- MdlDialect.cpp - mdl dialect registration --------------------------===//

#include "mdl/IR/MdlDialect.h"
#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace mlir::mdl;

#include "mdl/IR/MdlOpsDialect.cpp.inc"

void MdlDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mdl/IR/MdlOps.cpp.inc"
      >();
}
