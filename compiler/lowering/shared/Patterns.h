//===- Patterns.h - Pattern families of the mdl-to-linalg lowering --------===//
//
// One family per file; the pass in MdlToLinalg.cpp applies them all.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_PATTERNS_H
#define MODELC_LOWERING_PATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace modelc::lowering {

/// Binary, unary and activation ops, casts, fills and dropout.
void populateElementwiseToLinalgPatterns(mlir::RewritePatternSet &patterns);
/// linear, matmul, conv2d, pooling, embedding.
void populateStructuredToLinalgPatterns(mlir::RewritePatternSet &patterns);
/// Reductions, softmax, batch and layer normalization.
void populateNormalizationToLinalgPatterns(mlir::RewritePatternSet &patterns);
/// The gradient ops of -mdl-differentiate.
void populateGradientsToLinalgPatterns(mlir::RewritePatternSet &patterns);
/// reshape, flatten, permute, cat.
void populateShapeToLinalgPatterns(mlir::RewritePatternSet &patterns);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_PATTERNS_H
