//===- ExpandStridedCopies.cpp - memref.copy of views to linalg.copy ------===//
//
// Implements -mdl-expand-strided-copies (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_EXPANDSTRIDEDCOPIES
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct ExpandStridedCopiesPass : impl::ExpandStridedCopiesBase<ExpandStridedCopiesPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().walk([&](memref::CopyOp copy) {
      auto contiguous = [](Value v) {
        return llvm::cast<MemRefType>(v.getType()).getLayout().isIdentity();
      };
      if (!allCopies && contiguous(copy.getSource()) && contiguous(copy.getTarget()))
        return; // becomes a memcpy
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
      copy.erase();
    });
  }
};

} // namespace
} // namespace modelc::lowering
