//===- MdlOps.h - mdl dialect ops -------------------------------*- C++ -*-===//
//
// The op classes generated from MdlOps.td, plus the state-kind helpers that
// the verifiers and later passes share.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLOPS_H
#define MDL_IR_MDLOPS_H

#include "mdl/IR/MdlAttrNames.h"
#include "mdl/IR/MdlDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <optional>

namespace mlir::mdl {

/// The kinds of state a model declares. Parameters are trained, buffers are
/// assigned by forward functions (persistent ones are in the state dict),
/// constants are compiled into the code.
enum class StateKind {
  Parameter,
  PersistentBuffer,
  NonPersistentBuffer,
  Constant
};

/// The most elements of one constant (`mdl.const`), and of all the constants
/// of one model together. A constant is drawn at compile time and compiled
/// into the library as data, so its time, memory and library size grow with
/// its element count: without a bound, `const c: f32[100000000] = randn()`,
/// a line of source, would ask for gigabytes. Parameters and buffers, drawn
/// by the runtime when the model is created, have no such limit. Checked by
/// the frontend where constants are declared and by the model's verifier.
inline constexpr int64_t kMaxConstantElements = int64_t(1) << 22;
inline constexpr int64_t kMaxModelConstantElements = int64_t(1) << 24;

/// A short noun for diagnostics: "parameter", "buffer" or "constant".
llvm::StringRef stringifyStateKind(StateKind kind);

} // namespace mlir::mdl

#define GET_OP_CLASSES
#include "mdl/IR/MdlOps.h.inc"

namespace mlir::mdl {

/// What one state declaration says, independent of its op class.
struct StateInfo {
  Operation *decl; ///< The mdl.param / mdl.buffer / mdl.const op.
  StateKind kind;
  llvm::StringRef name;  ///< The state-dict key, e.g. "linear1.weight".
  RankedTensorType type; ///< Statically shaped.
  llvm::StringRef init;  ///< "full", "uniform" or "normal".
  llvm::ArrayRef<double> initArgs;
};

/// Describes `op` if it is a state declaration, std::nullopt otherwise.
std::optional<StateInfo> getStateInfo(Operation *op);

/// Looks up the state entry `name` of `model`; std::nullopt if the model has
/// no state entry of that name.
std::optional<StateInfo> lookupState(ModelOp model, llvm::StringRef name);

/// Every state declaration of `model`, in declaration order.
llvm::SmallVector<StateInfo> getStates(ModelOp model);

} // namespace mlir::mdl

#endif // MDL_IR_MDLOPS_H
