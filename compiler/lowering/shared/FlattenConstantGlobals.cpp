//===- FlattenConstantGlobals.cpp - One flat array per global's data ------===//
//
// Implements -mdl-flatten-constant-globals (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_FLATTENCONSTANTGLOBALS
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct FlattenConstantGlobalsPass
    : impl::FlattenConstantGlobalsBase<FlattenConstantGlobalsPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::GlobalOp global) {
      auto values = dyn_cast_or_null<DenseElementsAttr>(global.getValueOrNull());
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (!values || !array || !isa<LLVM::LLVMArrayType>(array.getElementType()))
        return;
      Type element = array.getElementType();
      while (auto inner = dyn_cast<LLVM::LLVMArrayType>(element))
        element = inner.getElementType();
      // Arrays of scalars only: an array of vectors holds several of the
      // attribute's elements in each of its own.
      if (element != values.getElementType())
        return;
      int64_t n = values.getNumElements();
      // The same bytes at the same address: every use reaches the data
      // through an untyped pointer (GEPs carry their own element type).
      global.setValueAttr(values.reshape(RankedTensorType::get({n}, values.getElementType())));
      global.setGlobalType(LLVM::LLVMArrayType::get(element, n));
    });
  }
};

} // namespace
} // namespace modelc::lowering
