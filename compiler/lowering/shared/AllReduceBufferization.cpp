//===- AllReduceBufferization.cpp - mdl.all_reduce as a runtime call ------===//
//
// mdl.all_reduce (SyncBatchNorm's statistics and their gradients) sums a
// tensor over the ranks of data-parallel training. The runtime does the
// communicating (runtime/src/Forward.cpp, modelc_all_reduce_f32, through
// the communicator libmodelc_dist installs), so the op survives the lowering
// to linalg and becomes, when one-shot bufferization meets it, a fresh
// buffer holding a copy of the input that the runtime sums in place:
//
//   %buf = memref.alloc  ; memref.copy %in, %buf
//   call @modelc_all_reduce_f32(%buf as memref<?xf32>)
//
// The buffer is passed as a memref operand, so that every pass sees the
// call as what may write it.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
namespace bz = mlir::bufferization;

namespace modelc::lowering {
namespace {

struct AllReduceBufferization
    : bz::BufferizableOpInterface::ExternalModel<AllReduceBufferization, mdl::AllReduceOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &, const bz::AnalysisState &) const {
    return true;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &, const bz::AnalysisState &) const {
    return false; // the runtime writes a copy, never the input
  }
  bz::AliasingValueList getAliasingValues(Operation *, OpOperand &,
                                          const bz::AnalysisState &) const {
    return {};
  }

  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bz::BufferizationOptions &options,
                          bz::BufferizationState &state) const {
    auto reduce = cast<mdl::AllReduceOp>(op);
    Location loc = op->getLoc();
    FailureOr<Value> input = bz::getBuffer(rewriter, reduce.getInput(), options, state);
    if (failed(input))
      return failure();
    auto type = cast<RankedTensorType>(reduce.getType());
    SmallVector<Value> dynamicSizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamicSizes.push_back(memref::DimOp::create(rewriter, loc, *input, d));
    auto bufferType = MemRefType::get(type.getShape(), type.getElementType());
    FailureOr<Value> buffer = options.createAlloc(rewriter, loc, bufferType, dynamicSizes);
    if (failed(buffer) || failed(options.createMemCpy(rewriter, loc, *input, *buffer)))
      return failure();
    // One dimension of any size, whatever the tensor's rank.
    Value flat = *buffer;
    if (type.getRank() == 0) {
      flat = memref::ExpandShapeOp::create(rewriter, loc, MemRefType::get({1}, rewriter.getF32Type()),
                                           flat, ArrayRef<ReassociationIndices>{}, ArrayRef<OpFoldResult>{rewriter.getIndexAttr(1)});
    } else if (type.getRank() > 1) {
      ReassociationIndices all = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
      flat = memref::CollapseShapeOp::create(rewriter, loc, flat, ArrayRef<ReassociationIndices>{all});
    }
    auto dynamicFlat = MemRefType::get({ShapedType::kDynamic}, rewriter.getF32Type());
    if (flat.getType() != dynamicFlat)
      flat = memref::CastOp::create(rewriter, loc, dynamicFlat, flat);
    func::CallOp::create(rewriter, loc, kAllReduceFn, TypeRange{}, ValueRange{flat});
    bz::replaceOpWithBufferizedValues(rewriter, op, *buffer);
    return success();
  }
};

} // namespace

void registerAllReduceBufferization(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, mdl::MdlDialect *) {
    mdl::AllReduceOp::attachInterface<AllReduceBufferization>(*ctx);
  });
}

} // namespace modelc::lowering
