//===- GpuLaunchToLoops.cpp - gpu.launch as host loops, for testing -------===//
//
// Implements -mdl-gpu-launch-to-loops (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_GPULAUNCHTOLOOPS
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Replaces `launch` by loops over its blocks and threads (x, y, z), the
/// body inlined with the ids and sizes substituted.
LogicalResult launchAsLoops(gpu::LaunchOp launch) {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return launch.emitOpError("asynchronous launches are not emulated");
  Block &body = launch.getBody().front();
  if (!llvm::hasSingleElement(launch.getBody()))
    return launch.emitOpError("a kernel with several blocks is not emulated");
  OpBuilder b(launch);
  Location loc = launch.getLoc();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  IRMapping mapping;
  gpu::KernelDim3 gridSize = launch.getGridSizeOperandValues();
  gpu::KernelDim3 blockSize = launch.getBlockSizeOperandValues();
  gpu::KernelDim3 gridArgs = launch.getGridSize(), blockArgs = launch.getBlockSize();
  gpu::KernelDim3 blockIds = launch.getBlockIds(), threadIds = launch.getThreadIds();
  for (auto [arg, v] : llvm::zip(SmallVector<Value>{gridArgs.x, gridArgs.y, gridArgs.z,
                                                    blockArgs.x, blockArgs.y, blockArgs.z},
                                 SmallVector<Value>{gridSize.x, gridSize.y, gridSize.z,
                                                    blockSize.x, blockSize.y, blockSize.z}))
    mapping.map(arg, v);
  auto loop = [&](Value upper, Value iv) {
    auto serial = scf::ForOp::create(b, loc, zero, upper, one);
    mapping.map(iv, serial.getInductionVar());
    b.setInsertionPointToStart(serial.getBody());
  };
  loop(gridSize.z, blockIds.z);
  loop(gridSize.y, blockIds.y);
  loop(gridSize.x, blockIds.x);
  loop(blockSize.z, threadIds.z);
  loop(blockSize.y, threadIds.y);
  loop(blockSize.x, threadIds.x);
  for (Operation &op : body.without_terminator()) {
    Operation *clone = b.clone(op, mapping);
    // A thread's reduction is summed in order. With reassociation allowed,
    // the host's LLVM vectorizes it behind run-time overlap checks of the
    // buffers' addresses, and the same call on the same data then rounded
    // differently from one call to the next (the heap's addresses differ).
    clone->walk([](arith::ArithFastMathInterface arith) {
      auto flags = arith.getFastMathFlagsAttr();
      if (flags && bitEnumContainsAll(flags.getValue(), arith::FastMathFlags::reassoc))
        arith->setAttr(arith.getFastMathAttrName(),
                       arith::FastMathFlagsAttr::get(arith->getContext(),
                                                     flags.getValue() &
                                                         ~arith::FastMathFlags::reassoc));
    });
  }
  launch.erase();
  return success();
}

struct GpuLaunchToLoopsPass : impl::GpuLaunchToLoopsBase<GpuLaunchToLoopsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<gpu::LaunchOp, gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      Location loc = op->getLoc();
      if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
        if (failed(launchAsLoops(launch)))
          return signalPassFailure();
      } else if (auto alloc = dyn_cast<gpu::AllocOp>(op)) {
        auto host = memref::AllocOp::create(b, loc, alloc.getMemref().getType(),
                                            alloc.getDynamicSizes(), alloc.getSymbolOperands());
        alloc.getMemref().replaceAllUsesWith(host);
        alloc.erase();
      } else if (auto dealloc = dyn_cast<gpu::DeallocOp>(op)) {
        memref::DeallocOp::create(b, loc, dealloc.getMemref());
        dealloc.erase();
      } else if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
        memref::CopyOp::create(b, loc, copy.getSrc(), copy.getDst());
        copy.erase();
      }
    }
  }
};

} // namespace
} // namespace modelc::lowering
