//===- StateValues.h - Compile-time values of constants ----------*- C++ -*-===//
//
// A `const` is part of the compiled code: its initializer is drawn here, at
// compile time, from a generator seeded by the constant's name, so that one
// source always compiles to the same values.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_STATEVALUES_H
#define MODELC_LOWERING_STATEVALUES_H

#include "mdl/IR/MdlOps.h"

#include "mlir/IR/BuiltinAttributes.h"

namespace modelc::lowering {

mlir::FailureOr<mlir::DenseElementsAttr> constantValues(const mlir::mdl::StateInfo &state);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_STATEVALUES_H
