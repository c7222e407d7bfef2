//===- DerivedValues.h - Values computed from parameters once per state ---===//
//
// A forward function may take values that depend on parameters alone (a
// Winograd-transformed filter, a weight packed in panels): the runtime
// computes them once per state with `modelc_prepare(states..., derived...)`
// and passes them to the CPU forward functions after their inputs
// (docs/ABI.md). The passes that make such values add them here, at the
// tensor level; the module's mlir::mdl::kDerivedAttr lists them in argument order.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_DERIVEDVALUES_H
#define MODELC_LOWERING_DERIVEDVALUES_H

#include "mdl/IR/MdlAttrNames.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace modelc::lowering {

/// The forward functions: those -mdl-lower-state marked with
/// mlir::mdl::kParameterArgsAttr.
llvm::SmallVector<mlir::func::FuncOp> forwardFunctions(mlir::ModuleOp module);

/// The parameter argument of forward function `fn` that the tensor `value`
/// reads (a bufferization.to_tensor of it), if any.
std::optional<unsigned> parameterArgument(mlir::func::FuncOp fn, mlir::Value value);

/// One value derived from a parameter.
struct DerivedValue {
  /// The parameter's argument number, the same in every forward function.
  unsigned stateArg;
  mlir::RankedTensorType type;
  /// Names the value in the model's description: "<kind>(<parameter>)".
  llvm::StringRef kind;
  /// `(parameter, into) -> value`, computing the value over `into`.
  mlir::func::FuncOp transform;
};

/// Appends `values` to every forward function's arguments (as memrefs, after
/// its inputs and any derived values before them), to `modelc_prepare`
/// (created on first use) and to the module's mlir::mdl::kDerivedAttr.
/// Functions differ in their inputs (forward, loss_backward), so each finds
/// its own argument with derivedArgument.
void appendDerivedValues(mlir::ModuleOp module, llvm::ArrayRef<DerivedValue> values);

/// The argument of forward function `fn` (tensors or buffers) that holds
/// the value of `kind` derived from its state argument `stateArg`, if any.
/// `fn` may also be a part -mdl-outline-long-bodies cut out of a forward
/// function; `stateArg` and the result are then the part's arguments
/// (mdl.outlined_derived).
std::optional<unsigned> derivedArgument(mlir::func::FuncOp fn, unsigned stateArg,
                                        llvm::StringRef kind);

/// The arguments of forward function `fn` that hold values derived from its
/// state argument `stateArg`, with their kinds.
llvm::SmallVector<std::pair<unsigned, llvm::StringRef>> derivedArguments(mlir::func::FuncOp fn,
                                                                        unsigned stateArg);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_DERIVEDVALUES_H
