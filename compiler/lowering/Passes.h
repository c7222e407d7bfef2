//===- Passes.h - modelc lowering passes -------------------------*- C++ -*-===//

#ifndef MODELC_LOWERING_PASSES_H
#define MODELC_LOWERING_PASSES_H

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

/// On each forward function -mdl-lower-state makes: the indices of its
/// arguments that are parameters (which no forward function writes).
constexpr llvm::StringLiteral kParameterArgsAttr = "mdl.parameter_args";

/// On the module once passes derived values from parameters
/// (DerivedValues.h): an array of {state, kind, shape} dictionaries (state:
/// the index of the parameter among the state arguments; kind: what the
/// value is, "winograd" or "packed"), in the order the forward functions
/// take them after their inputs and `modelc_prepare(states..., derived...)`
/// computes them (docs/ABI.md).
constexpr llvm::StringLiteral kDerivedAttr = "mdl.derived";

/// The runtime's `void modelc_shape_check_failed(line, column, a, b, kind)`
/// (i64 each), which generated code calls where a size known only at run
/// time breaks a rule the program relies on, at line:column of the model's
/// source (ShapeCheck in LoweringUtils.h): a reshape of `a` elements that
/// must be `b` or a multiple of it, or operands' sizes `a` and `b` of one
/// dimension that must be equal. forward then fails with that message.
/// -mdl-lower-state declares it when the model has sizes known only at run
/// time.
constexpr llvm::StringLiteral kShapeCheckFailedFn = "modelc_shape_check_failed";

/// Columns of W per panel of a packed weight (-mdl-pack-weights): two
/// vectors of 8 floats, the packed kernel's width
/// (-mdl-blocked-dot-kernels).
constexpr int64_t kPackedPanelColumns = 16;
/// Rows of A from which the packed kernel takes a contraction: fewer (a
/// batch of 1) make blocks of 1 row, 2 accumulators waiting on each FMA's
/// latency, where the dot kernel keeps 8. A static batch below it packs
/// nothing.
constexpr int64_t kMinPackedRows = 4;

#define GEN_PASS_DECL
#include "lowering/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lowering/Passes.h.inc"

} // namespace modelc::lowering

#endif // MODELC_LOWERING_PASSES_H
