//===- MdlOps.td - mdl dialect ops ---------------------------*- tablegen -*-===//
//
// Root of the mdl dialect's ODS: add_mlir_dialect(MdlOps mdl) runs the
// generators on this file.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLOPS_TD
#define MDL_IR_MDLOPS_TD

include "mdl/IR/MdlBase.td"
include "mdl/IR/MdlStateOps.td"
include "mdl/IR/MdlComputeOps.td"

#endif // MDL_IR_MDLOPS_TD
