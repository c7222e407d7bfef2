//===- Passes.h - modelc passes every target runs -*- C++ -*-===//
//
// Declared in Passes.td beside this file; docs/PIPELINE.md shows where each
// pass runs.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_SHARED_PASSES_H
#define MODELC_LOWERING_SHARED_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"

namespace modelc::lowering {

/// The runtime's `void modelc_shape_check_failed(line, column, a, b, kind)`
/// (i64 each), which generated code calls where a size known only at run
/// time breaks a rule the program relies on, at line:column of the model's
/// source (ShapeCheck in LoweringUtils.h): a reshape of `a` elements that
/// must be `b` or a multiple of it, or operands' sizes `a` and `b` of one
/// dimension that must be equal. forward then fails with that message.
/// -mdl-lower-state declares it when the model has sizes known only at run
/// time.
constexpr llvm::StringLiteral kShapeCheckFailedFn = "modelc_shape_check_failed";
/// The runtime's sum over the ranks of data-parallel training, in place:
/// `(memref<?xf32>) -> ()` (mdl.all_reduce, AllReduceBufferization.cpp).
constexpr llvm::StringLiteral kAllReduceFn = "modelc_all_reduce_f32";

/// How one-shot bufferization lowers mdl.all_reduce (a runtime call on a
/// copy of its input): part of registerCodegenDialects.
void registerAllReduceBufferization(mlir::DialectRegistry &registry);

#define GEN_PASS_DECL
#include "lowering/shared/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowering/shared/Passes.h.inc"

} // namespace modelc::lowering

#endif // MODELC_LOWERING_SHARED_PASSES_H
