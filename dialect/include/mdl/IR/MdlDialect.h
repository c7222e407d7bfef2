//===- MdlDialect.h - mdl dialect declaration -------------------*- C++ -*-===//

#ifndef MDL_IR_MDLDIALECT_H
#define MDL_IR_MDLDIALECT_H

#include "mlir/IR/Dialect.h"

#include "mdl/IR/MdlOpsDialect.h.inc"

#endif // MDL_IR_MDLDIALECT_H
