//===- ApproximateMath.cpp - tanh, erf, exp as vectorizable polynomials ---===//
//
// Implements -mdl-approximate-math (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

struct ApproximateMathPass : impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == "math.tanh" || name == "math.erf" || name == "math.exp";
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace modelc::lowering
