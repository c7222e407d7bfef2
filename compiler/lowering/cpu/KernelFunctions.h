//===- KernelFunctions.h - What the CPU's vector kernels are built with -*- C++ -*-===//
//
// The hand-blocked kernels (-mdl-blocked-dot-kernels,
// -mdl-depthwise-conv-kernels) are private functions of the module that
// every matching op calls, so that each is compiled once however many ops
// call it; they are built from scf.for loops and vector ops on buffers.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_CPU_KERNELFUNCTIONS_H
#define MODELC_LOWERING_CPU_KERNELFUNCTIONS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include "lowering/shared/LoweringUtils.h"

namespace modelc::lowering {

/// Whether `memref`'s last dimension has a unit stride (vector loads and
/// stores along it are contiguous).
bool innerStrideOne(mlir::Value memref);

/// The form of `op` when -mdl-depthwise-conv-kernels computes it (on
/// tensors or buffers): a depthwise convolution (matchDepthwiseForm) with a
/// horizontal stride of 1 or 2 and a static filter; on buffers also
/// contiguous rows of x and out. -mdl-vectorizable-loop-order leaves those
/// loops as they are.
std::optional<DepthwiseForm> depthwiseKernelForm(mlir::linalg::GenericOp op);

/// `@name(inputs...)`: the module's function of that name, or a new private
/// `noinline` one whose body `build` writes (at the start of its entry
/// block, whose arguments are the inputs; the return is added after).
mlir::func::FuncOp getOrCreateKernelFunction(
    mlir::ModuleOp module, llvm::StringRef name, mlir::TypeRange inputs,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Block &entry)> build);

/// `kernel(operands...)`, each operand memref.cast to the kernel's type.
void callKernelFunction(mlir::OpBuilder &b, mlir::Location loc, mlir::func::FuncOp kernel,
                        mlir::ValueRange operands);

/// What the kernel builders build with: index constants and arithmetic,
/// and scf.for loops whose bodies a callback fills.
class LoopBuilder {
protected:
  LoopBuilder(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}
  mlir::OpBuilder &b;
  mlir::Location loc;

  mlir::Value index(int64_t v) { return mlir::arith::ConstantIndexOp::create(b, loc, v); }
  mlir::Value plus(mlir::Value v, int64_t c) {
    return c == 0 ? v : mlir::arith::AddIOp::create(b, loc, v, index(c)).getResult();
  }
  /// from + ((to - from) rounded down to a multiple of `step`).
  mlir::Value roundDown(mlir::Value from, mlir::Value to, int64_t step) {
    mlir::Value span = mlir::arith::SubIOp::create(b, loc, to, from);
    return mlir::arith::SubIOp::create(b, loc, to,
                                       mlir::arith::RemUIOp::create(b, loc, span, index(step)));
  }
  mlir::Value dim(mlir::Value memref, int64_t d) {
    return mlir::memref::DimOp::create(b, loc, memref, d);
  }
  /// A vector of `type` from `memref` at `at`; under `mask` when given
  /// (lanes off it read 0), built with `ob` (a loop body's builder).
  mlir::Value vectorLoad(mlir::OpBuilder &ob, mlir::VectorType type, mlir::Value memref,
                         mlir::ValueRange at, mlir::Value mask) {
    if (!mask)
      return mlir::vector::LoadOp::create(ob, loc, type, memref, at);
    mlir::Value zeros =
        mlir::arith::ConstantOp::create(ob, loc, type, mlir::DenseElementsAttr::get(type, 0.0f));
    return mlir::vector::MaskedLoadOp::create(ob, loc, type, memref, at, mask, zeros);
  }
  void loop(mlir::Value lower, mlir::Value upper, mlir::Value step,
            llvm::function_ref<void(mlir::Value)> body) {
    auto forOp = mlir::scf::ForOp::create(b, loc, lower, upper, step);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    body(forOp.getInductionVar());
  }
};

} // namespace modelc::lowering

#endif // MODELC_LOWERING_CPU_KERNELFUNCTIONS_H
