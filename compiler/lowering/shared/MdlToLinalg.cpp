//===- MdlToLinalg.cpp - The convert-mdl-to-linalg pass -------------------===//
//
// Applies the pattern families of *ToLinalg.cpp; any mdl op left afterwards
// is reported, so that an unsupported op is a diagnostic, not a crash later.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"
#include "lowering/shared/Patterns.h"

#include "mdl/IR/MdlDialect.h"
#include "mdl/IR/MdlOps.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_CONVERTMDLTOLINALG
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Lets LLVM contract multiply-adds into FMAs everywhere, and reassociate the
/// combiners of reductions so that it can vectorize them. Both change
/// results only within float rounding, and never with the number of threads:
/// every tile runs the same code.
void allowFastMath(func::FuncOp fn) {
  fn.walk([](linalg::LinalgOp op) {
    auto flags = arith::FastMathFlags::contract;
    if (op.getNumReductionLoops() > 0)
      flags = flags | arith::FastMathFlags::reassoc;
    op->walk([&](arith::ArithFastMathInterface arith) {
      arith->setAttr(arith.getFastMathAttrName(),
                     arith::FastMathFlagsAttr::get(op->getContext(), flags));
    });
  });
}

struct ConvertMdlToLinalgPass : impl::ConvertMdlToLinalgBase<ConvertMdlToLinalgPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateElementwiseToLinalgPatterns(patterns);
    populateStructuredToLinalgPatterns(patterns);
    populateNormalizationToLinalgPatterns(patterns);
    populateShapeToLinalgPatterns(patterns);
    populateGradientsToLinalgPatterns(patterns);
    // Each pattern replaces one op by ops of other dialects: a single
    // top-down sweep suffices and keeps the IR in program order.
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
    allowFastMath(getOperation());
    bool failed = false;
    getOperation().walk([&](Operation *op) {
      // (mdl.all_reduce stays: bufferization turns it into a runtime call;
      // mdl.attention stays for -mdl-attention-to-linalg, which each back
      // end runs in the form it wants.)
      if (isa<mdl::MdlDialect>(op->getDialect()) && !isa<mdl::AllReduceOp, mdl::AttentionOp>(op)) {
        op->emitOpError("has no lowering to linalg in this version of modelc");
        failed = true;
      }
    });
    if (failed)
      signalPassFailure();
  }
};

} // namespace
} // namespace modelc::lowering
