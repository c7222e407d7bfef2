//===- KernelFunctions.cpp - What the CPU's vector kernels are built with -===//

#include "lowering/cpu/KernelFunctions.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace modelc::lowering {

bool innerStrideOne(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return !strides.empty() && strides.back() == 1;
}

bool depthwiseKernelTakes(const DepthwiseForm &form) {
  return form.stride[1] == 1 || form.stride[1] == 2;
}

func::FuncOp getOrCreateKernelFunction(
    ModuleOp module, StringRef name, TypeRange inputs,
    llvm::function_ref<void(OpBuilder &, Location, Block &)> build) {
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = b.getUnknownLoc();
  auto fn = func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, {}));
  fn.setPrivate();
  fn->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  build(b, loc, *entry);
  func::ReturnOp::create(b, loc);
  return fn;
}

void callKernelFunction(OpBuilder &b, Location loc, func::FuncOp kernel, ValueRange operands) {
  SmallVector<Value> args;
  for (auto [v, t] : llvm::zip_equal(operands, kernel.getFunctionType().getInputs()))
    args.push_back(memref::CastOp::create(b, loc, t, v));
  func::CallOp::create(b, loc, kernel, args);
}

} // namespace modelc::lowering
