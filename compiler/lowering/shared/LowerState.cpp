//===- LowerState.cpp - mdl.model to functions over state memrefs ---------===//
//
// Implements -mdl-lower-state (see Passes.td): the runtime owns the state and
// passes it in as memrefs, so reads become views of those memrefs and writes
// become copies into them at the end of the call.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"
#include "lowering/shared/StateValues.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringSet.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_LOWERMODELSTATE
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The values of a model's constants, drawn once per model on first read:
/// every read of a constant, in every forward function, shares one
/// attribute, and a constant no function reads is never drawn.
class ConstantTable {
public:
  explicit ConstantTable(mdl::ModelOp model) : model(model) {}
  FailureOr<DenseElementsAttr> lookup(StringRef name) {
    auto it = values.find(name);
    if (it != values.end())
      return it->second;
    FailureOr<DenseElementsAttr> drawn = constantValues(*mdl::lookupState(model, name));
    if (succeeded(drawn))
      values[name] = *drawn;
    return drawn;
  }

private:
  mdl::ModelOp model;
  llvm::StringMap<DenseElementsAttr> values;
};

/// Rewrites one forward function of `model` into `modelc_<name>` at the
/// module level, taking `states` as leading memref arguments.
LogicalResult lowerFunction(mdl::ModelOp model, func::FuncOp fn,
                            ArrayRef<mdl::StateInfo> states, ConstantTable &constants,
                            bool drawsRandom) {
  OpBuilder b(model);
  Location loc = fn.getLoc();
  MLIRContext *ctx = b.getContext();

  // Parameters and buffers become memref arguments; constants do not.
  SmallVector<Type> argTypes;
  llvm::StringMap<unsigned> argOf;
  for (const mdl::StateInfo &s : states) {
    if (s.kind == mdl::StateKind::Constant)
      continue;
    argOf[s.name] = argTypes.size();
    argTypes.push_back(MemRefType::get(s.type.getShape(), s.type.getElementType()));
  }
  unsigned numStates = argTypes.size();
  llvm::append_range(argTypes, fn.getArgumentTypes());
  // A dropout draws from the instance's random stream: one more argument,
  // after the inputs, which the runtime keeps per instance (seeded by
  // create) and the generated code advances. A global here would be shared
  // by every instance in the process, and a function pass adding it would
  // race with its neighbours. Every forward function of such a model takes
  // it, so that the runtime calls them alike.
  if (drawsRandom)
    argTypes.push_back(MemRefType::get({1}, b.getI64Type()));
  auto newFn = func::FuncOp::create(b, loc, ("modelc_" + fn.getSymName()).str(),
                                    FunctionType::get(ctx, argTypes, fn.getResultTypes()));
  if (drawsRandom)
    newFn->setAttr(mdl::kRngArgAttr, b.getI64IntegerAttr(argTypes.size() - 1));
  // The runtime calls the C interface; input names live in the model's table.
  newFn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  // Which arguments are parameters: nothing in a forward function writes
  // them, so what is computed from them alone may be computed once per
  // state (-mdl-winograd-conv's transformed filters).
  SmallVector<int64_t> parameterArgs;
  for (const mdl::StateInfo &s : states)
    if (s.kind == mdl::StateKind::Parameter)
      parameterArgs.push_back(argOf[s.name]);
  newFn->setAttr(mlir::mdl::kParameterArgsAttr, b.getDenseI64ArrayAttr(parameterArgs));

  // Move the body over and put the state arguments in front.
  newFn.getBody().takeBody(fn.getBody());
  Block &entry = newFn.getBody().front();
  for (unsigned i = 0; i < numStates; ++i)
    entry.insertArgument(i, argTypes[i], loc);
  if (drawsRandom)
    entry.addArgument(argTypes.back(), loc);

  // Buffers written in this function: their reads are copied, so that the
  // old value stays valid after the new one is stored.
  llvm::StringSet<> written;
  llvm::StringMap<Value> lastWrite;
  newFn.walk([&](mdl::WriteOp w) { written.insert(w.getState()); });

  SmallVector<Operation *> toErase;
  WalkResult walk = newFn.walk([&](Operation *op) {
    if (auto read = dyn_cast<mdl::ReadOp>(op)) {
      b.setInsertionPoint(read);
      StringRef name = read.getState();
      auto it = argOf.find(name);
      Value v;
      if (it == argOf.end()) {
        FailureOr<DenseElementsAttr> values = constants.lookup(name);
        if (failed(values)) {
          read.emitOpError("cannot materialize constant '") << name << "'";
          return WalkResult::interrupt();
        }
        v = arith::ConstantOp::create(b, read.getLoc(), *values);
      } else {
        Value memref = entry.getArgument(it->second);
        v = bufferization::ToTensorOp::create(b, read.getLoc(), read.getType(), memref,
                                              /*restrict=*/true, /*writable=*/false);
        if (written.contains(name))
          v = bufferization::AllocTensorOp::create(b, read.getLoc(), read.getType(), ValueRange{}, v,
                                                   /*memorySpace=*/nullptr);
      }
      read.replaceAllUsesWith(v);
      toErase.push_back(read);
    } else if (auto write = dyn_cast<mdl::WriteOp>(op)) {
      lastWrite[write.getState()] = write.getValue();
      toErase.push_back(write);
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();

  // Store the final value of each written buffer, in state order.
  Operation *ret = entry.getTerminator();
  b.setInsertionPoint(ret);
  for (const mdl::StateInfo &s : states) {
    auto it = lastWrite.find(s.name);
    if (it == lastWrite.end())
      continue;
    auto store = bufferization::MaterializeInDestinationOp::create(
        b, ret->getLoc(), TypeRange{}, it->second, entry.getArgument(argOf[s.name]));
    store.setRestrict(true);
    store.setWritable(true);
  }
  for (Operation *op : toErase)
    op->erase();
  return success();
}

/// Whether the mdl program may have shape checks that run with the model:
/// a forward input has a size known only at run time, or class indices are
/// checked (mdl.one_hot).
bool hasRuntimeShapeChecks(ModuleOp root) {
  // Sizes known only at run time come from the forward functions' inputs;
  // where they meet (elementwise operands, reshapes) the lowering checks
  // them. (Over-approximated: checks of sizes that turn out to be one value
  // are removed later.)
  bool found = false;
  root.walk([&](mdl::ModelOp model) {
    for (auto fn : model.getBody()->getOps<func::FuncOp>())
      for (Type t : fn.getArgumentTypes())
        found |= !cast<RankedTensorType>(t).hasStaticShape();
  });
  // Class indices (a loss's targets) are checked against the classes.
  root.walk([&](mdl::OneHotOp) { found = true; });
  return found;
}

/// Declares the runtime's kShapeCheckFailedFn when a check of a size known
/// only at run time may call it (ShapeToLinalg.cpp, elementwise()): the
/// function passes that lower them cannot add symbols to the module.
void declareShapeCheck(ModuleOp module) {
  if (!hasRuntimeShapeChecks(module) || module.lookupSymbol(kShapeCheckFailedFn))
    return;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Type i64 = b.getI64Type();
  auto fn = func::FuncOp::create(b, module.getLoc(), kShapeCheckFailedFn,
                                 b.getFunctionType({i64, i64, i64, i64, i64}, {}));
  fn.setPrivate();
}

/// Declares the runtime's kAllReduceFn when an mdl.all_reduce will call it
/// once bufferized (SyncBatchNorm).
void declareAllReduce(ModuleOp module) {
  bool found = false;
  module.walk([&](mdl::AllReduceOp) { found = true; });
  if (!found || module.lookupSymbol(kAllReduceFn))
    return;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Type buffer = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  auto fn = func::FuncOp::create(b, module.getLoc(), kAllReduceFn,
                                 b.getFunctionType({buffer}, {}));
  fn.setPrivate();
}

struct LowerModelStatePass : impl::LowerModelStateBase<LowerModelStatePass> {
  void runOnOperation() override {
    declareShapeCheck(getOperation());
    declareAllReduce(getOperation());
    SmallVector<mdl::ModelOp> models(getOperation().getOps<mdl::ModelOp>());
    for (mdl::ModelOp model : models) {
      SmallVector<mdl::StateInfo> states = mdl::getStates(model);
      bool drawsRandom = false;
      model.walk([&](mdl::DropoutOp) { drawsRandom = true; });
      ConstantTable constants(model);
      for (auto fn : llvm::make_early_inc_range(model.getBody()->getOps<func::FuncOp>()))
        if (failed(lowerFunction(model, fn, states, constants, drawsRandom)))
          return signalPassFailure();
      model.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
