//===- MapToGpu.cpp - Bufferized loops as GPU kernels on device memory ----===//
//
// Implements -mdl-map-to-gpu (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlAttrNames.h"
#include "lowering/gpu/LoopUtils.h"
#include "lowering/gpu/Passes.h"
#include "lowering/shared/Passes.h"

#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/IR/IRMapping.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_MAPTOGPU
#include "lowering/gpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Threads per block of the elementwise-style kernels: a multiple of the
/// warp size that keeps every SM busy for the tensor sizes of these models.
constexpr int64_t kThreadsPerBlock = 256;

/// A buffer of `index` holds a shape (a dynamic reshape's target sizes):
/// host metadata, written and read by the host.
bool isShapeBuffer(Value memref) {
  return cast<MemRefType>(memref.getType()).getElementType().isIndex();
}

/// The instance's random stream (mdl::kRngArgAttr): a counter in host
/// memory that the host advances and passes to the kernels by value.
bool isRandomStream(Value memref) {
  auto arg = dyn_cast<BlockArgument>(memref);
  auto fn = arg ? dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()) : nullptr;
  auto index = fn ? fn->getAttrOfType<IntegerAttr>(mlir::mdl::kRngArgAttr) : nullptr;
  return index && arg.getOwner()->isEntryBlock() && index.getInt() == arg.getArgNumber();
}

/// True when `op` reads or writes memory (as opposed to allocating,
/// freeing or only computing on values): such an op must run on the device.
bool touchesMemory(Operation *op) {
  if (isa<gpu::GPUDialect>(op->getDialect()))
    return false; // host-side runtime calls: alloc, memcpy, launch
  if (isa<memref::ReshapeOp>(op))
    return false; // reads its shape buffer on the host
  // The runtime's shape check (ShapeToLinalg.cpp) is a host call on sizes.
  if (auto call = dyn_cast<func::CallOp>(op))
    return call.getCallee() != kShapeCheckFailedFn;
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return !isShapeBuffer(load.getMemRef()) && !isRandomStream(load.getMemRef());
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return !isShapeBuffer(store.getMemRef()) && !isRandomStream(store.getMemRef());
  std::optional<SmallVector<MemoryEffects::EffectInstance>> effects =
      getEffectsRecursively(op);
  if (!effects)
    return true;
  return llvm::any_of(*effects, [](const MemoryEffects::EffectInstance &e) {
    return isa<MemoryEffects::Read, MemoryEffects::Write>(e.getEffect());
  });
}

/// Builds a gpu.launch of `grid` blocks of `block` threads (x only) at the
/// insertion point of `b`, and leaves `b` at the start of its body.
gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, Value grid, Value block) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto launch = gpu::LaunchOp::create(b, loc, grid, one, one, block, one, one);
  b.setInsertionPointToEnd(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
  b.setInsertionPointToStart(&launch.getBody().front());
  return launch;
}

class GpuMapper {
public:
  explicit GpuMapper(func::FuncOp fn) : fn(fn) {}

  LogicalResult run() {
    if (failed(moveConstantsToDevice()) || failed(allocateOnDevice()))
      return failure();
    return mapBlock(fn.getBody().front());
  }

private:
  func::FuncOp fn;

  /// memref.get_global lives in host memory: kernels read a device copy,
  /// freed at the end unless it is returned (then the runtime frees it).
  LogicalResult moveConstantsToDevice() {
    SmallVector<memref::GetGlobalOp> globals;
    fn.walk([&](memref::GetGlobalOp g) { globals.push_back(g); });
    SmallVector<func::ReturnOp> returns;
    llvm::SmallPtrSet<Value, 4> returned; // what the results are views of
    fn.walk([&](func::ReturnOp ret) {
      returns.push_back(ret);
      for (Value v : ret.getOperands())
        returned.insert(viewSource(v));
    });
    for (memref::GetGlobalOp global : globals) {
      OpBuilder b(global->getContext());
      b.setInsertionPointAfter(global);
      Location loc = global.getLoc();
      auto type = cast<MemRefType>(global.getType());
      if (!type.getLayout().isIdentity())
        return global.emitOpError("a constant with a strided layout cannot be copied to the GPU");
      auto copy = gpu::AllocOp::create(b, loc, type, /*asyncToken=*/Type(), ValueRange(),
                                       ValueRange(), ValueRange(), /*hostShared=*/false);
      Value device = copy.getMemref();
      global.getResult().replaceAllUsesWith(device);
      gpu::MemcpyOp::create(b, loc, TypeRange(), ValueRange(), device, global.getResult());
      if (returned.contains(global.getResult()))
        continue;
      for (func::ReturnOp ret : returns) {
        OpBuilder r(ret);
        gpu::DeallocOp::create(r, loc, TypeRange(), ValueRange(), device);
      }
    }
    return success();
  }

  /// Every buffer the function allocates is device memory.
  LogicalResult allocateOnDevice() {
    WalkResult result = fn.walk([&](Operation *op) {
      OpBuilder b(op);
      auto alloc = dyn_cast<memref::AllocOp>(op);
      auto dealloc = dyn_cast<memref::DeallocOp>(op);
      if ((alloc && isShapeBuffer(alloc.getMemref())) ||
          (dealloc && isShapeBuffer(dealloc.getMemref())))
        return WalkResult::advance(); // stays on the host
      if (alloc) {
        auto device = gpu::AllocOp::create(b, alloc.getLoc(), alloc.getType(), Type(),
                                           ValueRange(), alloc.getDynamicSizes(),
                                           alloc.getSymbolOperands(), false);
        alloc.replaceAllUsesWith(device.getMemref());
        alloc.erase();
      } else if (dealloc) {
        gpu::DeallocOp::create(b, dealloc.getLoc(), TypeRange(), ValueRange(),
                               dealloc.getMemref());
        dealloc.erase();
      } else if (isa<memref::AllocaOp, memref::AllocaScopeOp>(op)) {
        op->emitOpError("stack memory is not supported on the GPU");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    return failure(result.wasInterrupted());
  }

  /// Maps the operations of `block` (the function body, or the body of a
  /// host loop around parallel loops).
  LogicalResult mapBlock(Block &block) {
    SmallVector<Operation *> serial; // the pending one-thread kernel
    llvm::SmallPtrSet<Operation *, 16> inSerial;
    auto usesSerial = [&](Operation *op) {
      return llvm::any_of(op->getOperands(), [&](Value v) {
        Operation *def = v.getDefiningOp();
        return def && inSerial.contains(def);
      });
    };
    auto flush = [&](Operation *before) {
      if (serial.empty())
        return success();
      if (failed(launchSerial(serial, before)))
        return failure();
      serial.clear();
      inSerial.clear();
      return success();
    };
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (auto loop = dyn_cast<scf::ParallelOp>(op)) {
        if (failed(flush(&op)) || failed(launchParallel(loop)))
          return failure();
        continue;
      }
      bool hasParallel = false, checks = false;
      op.walk([&](Operation *inner) {
        hasParallel |= isa<scf::ParallelOp>(inner);
        auto call = dyn_cast<func::CallOp>(inner);
        checks |= inner != &op && call && call.getCallee() == kShapeCheckFailedFn;
      });
      if (hasParallel || checks) {
        // A host loop around kernels, or the if of a shape check (whose
        // call stays on the host): map inside it.
        if (failed(flush(&op)))
          return failure();
        for (Region &region : op.getRegions())
          for (Block &inner : region)
            if (failed(mapBlock(inner)))
              return failure();
        continue;
      }
      bool device = !op.hasTrait<OpTrait::IsTerminator>() &&
                    (touchesMemory(&op) || (isMemoryEffectFree(&op) && usesSerial(&op)));
      if (device) {
        serial.push_back(&op);
        inSerial.insert(&op);
        continue;
      }
      if (isMemoryEffectFree(&op) && !usesSerial(&op))
        continue; // host arithmetic can stay put between device ops
      if (failed(flush(&op)))
        return failure();
    }
    return success();
  }

  /// Moves `ops` (in order) into a one-block, one-thread kernel placed just
  /// before `before`.
  LogicalResult launchSerial(ArrayRef<Operation *> ops, Operation *before) {
    OpBuilder b(before);
    Location loc = ops.front()->getLoc();
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    gpu::LaunchOp launch = createLaunch(b, loc, one, one);
    Operation *terminator = launch.getBody().front().getTerminator();
    for (Operation *op : ops)
      op->moveBefore(terminator);
    for (Operation *op : ops)
      for (Value result : op->getResults())
        if (llvm::any_of(result.getUsers(),
                         [&](Operation *user) { return !launch->isProperAncestor(user); }) &&
            failed(readOnHost(result, launch)))
          return failure();
    return success();
  }

  /// A scalar that the kernel `launch` computes and the host uses (a check
  /// of the data, such as a class index out of range, whose report is a host
  /// call): the kernel stores it to a device scalar, which is copied to a
  /// host one after the launch (gpu-async-region makes the host wait before
  /// it reads), and the host's uses read that.
  LogicalResult readOnHost(Value value, gpu::LaunchOp launch) {
    Type type = value.getType();
    if (!type.isIntOrIndexOrFloat())
      return value.getDefiningOp()->emitOpError(
          "uses on the host a value computed from device memory; this model "
          "cannot run on the GPU");
    Location loc = value.getLoc();
    auto scalar = MemRefType::get({}, type);
    OpBuilder b(launch);
    Value device = gpu::AllocOp::create(b, loc, scalar, Type(), ValueRange(), ValueRange(),
                                        ValueRange(), /*hostShared=*/false)
                       .getMemref();
    OpBuilder k(launch.getBody().front().getTerminator());
    memref::StoreOp::create(k, loc, value, device, ValueRange());
    b.setInsertionPointAfter(launch);
    Value host = memref::AllocOp::create(b, loc, scalar);
    gpu::MemcpyOp::create(b, loc, TypeRange(), ValueRange(), host, device);
    gpu::DeallocOp::create(b, loc, TypeRange(), ValueRange(), device);
    Value read = memref::LoadOp::create(b, loc, host, ValueRange());
    memref::DeallocOp::create(b, loc, host);
    value.replaceUsesWithIf(read, [&](OpOperand &use) {
      return !launch->isProperAncestor(use.getOwner());
    });
    return success();
  }

  /// One thread per iteration of `loop`, linearized over its dimensions
  /// (the last fastest, so consecutive threads touch consecutive elements).
  LogicalResult launchParallel(scf::ParallelOp loop) {
    if (loop.getNumResults() != 0)
      return loop.emitOpError("a parallel reduction cannot be mapped to the GPU");
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    SmallVector<Value> counts = parallelTripCounts(b, loop);
    Value total = arith::ConstantIndexOp::create(b, loc, 1);
    for (Value n : counts)
      total = arith::MulIOp::create(b, loc, total, n);
    Value threads = arith::ConstantIndexOp::create(b, loc, kThreadsPerBlock);
    Value blocks = arith::CeilDivUIOp::create(b, loc, total, threads);
    // An empty loop (a batch of 0) still launches one block, which does
    // nothing: a grid of 0 blocks is an error for the driver.
    blocks = arith::MaxUIOp::create(b, loc, blocks, arith::ConstantIndexOp::create(b, loc, 1));
    gpu::LaunchOp launch = createLaunch(b, loc, blocks, threads);
    gpu::KernelDim3 blockId = launch.getBlockIds(), threadId = launch.getThreadIds();
    Value id = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, blockId.x, threads), threadId.x);
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, id, total);
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
    b.setInsertionPointToStart(guard.thenBlock());
    IRMapping mapping;
    Value rest = id;
    for (int64_t d = counts.size() - 1; d >= 0; --d) {
      Value index = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, counts[d]).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(b, loc, rest, counts[d]);
      Value iv = arith::AddIOp::create(
          b, loc, loop.getLowerBound()[d],
          arith::MulIOp::create(b, loc, index, loop.getStep()[d]));
      mapping.map(loop.getInductionVars()[d], iv);
    }
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, mapping);
    loop.erase();
    // Parallel loops inside a thread run serially.
    SmallVector<scf::ParallelOp> nested;
    launch.walk([&](scf::ParallelOp inner) { nested.push_back(inner); });
    // (Innermost first: the walk is post-order.)
    for (scf::ParallelOp inner : nested) {
      if (inner.getNumResults() != 0)
        return inner.emitOpError("a parallel reduction cannot be mapped to the GPU");
      OpBuilder ib(inner);
      cloneAsSerialLoops(ib, inner);
      inner.erase();
    }
    return success();
  }
};

struct MapToGpuPass : impl::MapToGpuBase<MapToGpuPass> {
  void runOnOperation() override {
    if (getOperation().isExternal())
      return;
    if (failed(GpuMapper(getOperation()).run()))
      signalPassFailure();
  }
};

} // namespace
} // namespace modelc::lowering
