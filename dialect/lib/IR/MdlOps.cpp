//===- MdlOps.cpp - generated op definitions and shared op helpers --------===//
//
// This file instantiates the ODS-generated op classes. The op-specific C++
// lives by family: StateOps.cpp (model, declarations, read/write),
// ComputeOps.cpp (verifiers), Folds.cpp (folders and canonicalizations).
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlOps.h"

#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::mdl;

//===----------------------------------------------------------------------===//
// custom<ModelBody>
//===----------------------------------------------------------------------===//

/// Parses the model's region. A model printed with no declarations reads
/// back as `{}`, which parses to a region without a block; give it its block
/// back, since a symbol table needs exactly one.
static ParseResult parseModelBody(OpAsmParser &parser, Region &body) {
  if (parser.parseRegion(body, /*arguments=*/{}))
    return failure();
  if (body.empty())
    body.emplaceBlock();
  return success();
}

static void printModelBody(OpAsmPrinter &printer, Operation *, Region &body) {
  printer.printRegion(body, /*printEntryBlockArgs=*/false,
                      /*printBlockTerminators=*/false);
}

#define GET_OP_CLASSES
#include "mdl/IR/MdlOps.cpp.inc"
