//===- LoopUtils.h - Shared helpers of the GPU passes' loops ------*- C++ -*-===//
//
// Used by -mdl-map-to-gpu, which runs a parallel loop as GPU threads, or
// serially inside one, and by -mdl-chunk-serial-sums.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_LOOPUTILS_H
#define MODELC_LOWERING_LOOPUTILS_H

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace modelc::lowering {

/// The memref `v` is a view of, through subviews, reshapes and casts.
mlir::Value viewSource(mlir::Value v);

/// ceil((upper - lower) / step) of each dimension of `loop`.
llvm::SmallVector<mlir::Value> parallelTripCounts(mlir::OpBuilder &b, mlir::scf::ParallelOp loop);

/// Clones `loop` (which has no results) at the builder's insertion point as
/// nested scf.for loops over the same bounds with the same body.
void cloneAsSerialLoops(mlir::OpBuilder &b, mlir::scf::ParallelOp loop);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_LOOPUTILS_H
