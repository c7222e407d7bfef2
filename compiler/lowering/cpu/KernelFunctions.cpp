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

std::optional<DepthwiseForm> depthwiseKernelForm(linalg::GenericOp op) {
  std::optional<DepthwiseForm> form = matchDepthwiseForm(op);
  if (!form || (form->stride[1] != 1 && form->stride[1] != 2))
    return std::nullopt;
  auto filter = cast<ShapedType>(op.getDpsInputOperand(1)->get().getType());
  if (filter.isDynamicDim(1) || filter.isDynamicDim(2))
    return std::nullopt;
  if (op.hasPureBufferSemantics() && (!innerStrideOne(op.getDpsInputOperand(0)->get()) ||
                                      !innerStrideOne(op.getDpsInitOperand(0)->get())))
    return std::nullopt;
  return form;
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
