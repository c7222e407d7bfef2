//===- MdlAttrNames.h - The mdl.* discardable attribute names ----*- C++ -*-===//
//
// Every `mdl.*` attribute that the frontend or a pass puts on an op or a
// function argument, named once here so that producer and consumer cannot
// drift apart. docs/DIALECT.md describes them.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLATTRNAMES_H
#define MDL_IR_MDLATTRNAMES_H

#include "llvm/ADT/StringRef.h"

namespace mlir::mdl {

/// On a forward function's argument: the `.mdl` name of the input (a
/// StringAttr), which the model's description and header carry.
constexpr llvm::StringLiteral kArgNameAttr = "mdl.name";

/// On a forward function's argument: the source's name of each dimension
/// (an ArrayAttr of StringAttrs, "" for a size that has none), so that the
/// runtime checks that inputs' sizes of one name agree.
constexpr llvm::StringLiteral kArgDimsAttr = "mdl.dims";

/// On each forward function -mdl-lower-state makes: the indices of its
/// arguments that are parameters (which no forward function writes).
constexpr llvm::StringLiteral kParameterArgsAttr = "mdl.parameter_args";

/// On the module once passes derived values from parameters
/// (lowering/cpu/DerivedValues.h): an array of {state, kind, shape}
/// dictionaries (state: the index of the parameter among the state
/// arguments; kind: what the value is, "winograd" or "packed"), in the order
/// the forward functions take them after their inputs and
/// `modelc_prepare(states..., derived...)` computes them (docs/ABI.md).
constexpr llvm::StringLiteral kDerivedAttr = "mdl.derived";

/// On a linalg op: the tile sizes -mdl-tile-and-fuse must use for it (a
/// DenseI64ArrayAttr, 0 for a dimension not tiled), chosen by the pass that
/// made the op (-mdl-conv-to-gemm, -mdl-winograd-conv).
constexpr llvm::StringLiteral kTileSizesAttr = "mdl.tile_sizes";

/// On each forward function -mdl-lower-state makes, when a dropout in it
/// draws random numbers: the index of its `memref<1xi64>` argument holding
/// the instance's random stream position (after the inputs and the derived
/// values; docs/ABI.md).
constexpr llvm::StringLiteral kRngArgAttr = "mdl.rng_arg";

/// On the module: the CPU target description the CPU passes tune for (a
/// DictionaryAttr; lowering/cpu/CpuTarget.h).
constexpr llvm::StringLiteral kCpuTargetAttr = "mdl.cpu_target";

/// On a private function -mdl-outline-long-bodies cut out of forward
/// functions: which of its arguments holds a value derived from which, an
/// ArrayAttr of {state = i, kind = "packed", arg = j}, so that a value
/// derived from a parameter is found from the part too
/// (lowering/cpu/DerivedValues.h). Its presence marks the function a part.
constexpr llvm::StringLiteral kOutlinedDerivedAttr = "mdl.outlined_derived";

/// On an mdl.param declared `param(requires_grad=false)` (a UnitAttr): the
/// runtime starts it frozen; training still differentiates it, so that
/// set_requires_grad can unfreeze it (spec/TRAINING.md).
constexpr llvm::StringLiteral kFrozenAttr = "mdl.frozen";

/// On the module (a UnitAttr, `modelc --forward-backward`): -mdl-differentiate
/// also builds @forward_backward_<mode> for a model with a loss.
constexpr llvm::StringLiteral kForwardBackwardAttr = "mdl.forward_backward";

/// On an mdl.one_hot of an embedding's indices (a UnitAttr): an index
/// outside the table fails the call with the embedding's message, not a
/// loss target's.
constexpr llvm::StringLiteral kEmbeddingIndicesAttr = "mdl.embedding_indices";

/// On a model function -mdl-differentiate made (a UnitAttr): it returns the
/// loss and then d loss / d parameter for every parameter, in declaration
/// order.
constexpr llvm::StringLiteral kBackwardAttr = "mdl.backward";

} // namespace mlir::mdl

#endif // MDL_IR_MDLATTRNAMES_H
