//===- DerivedValues.cpp - Values computed from parameters once per state -===//

#include "lowering/cpu/DerivedValues.h"
#include "lowering/cpu/Passes.h"

using namespace mlir;

namespace modelc::lowering {

SmallVector<func::FuncOp> forwardFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> forwards;
  for (auto fn : module.getOps<func::FuncOp>())
    if (fn->hasAttr(mlir::mdl::kParameterArgsAttr))
      forwards.push_back(fn);
  return forwards;
}

std::optional<unsigned> parameterArgument(func::FuncOp fn, Value value) {
  auto read = value.getDefiningOp<bufferization::ToTensorOp>();
  auto arg = read ? dyn_cast<BlockArgument>(read.getBuffer()) : BlockArgument();
  auto parameters = fn->getAttrOfType<DenseI64ArrayAttr>(mlir::mdl::kParameterArgsAttr);
  if (!arg || !parameters || arg.getOwner() != &fn.getBody().front() ||
      !llvm::is_contained(parameters.asArrayRef(), int64_t(arg.getArgNumber())))
    return std::nullopt;
  return arg.getArgNumber();
}

namespace {

ArrayAttr derivedEntries(ModuleOp module) {
  auto entries = module->getAttrOfType<ArrayAttr>(mlir::mdl::kDerivedAttr);
  return entries ? entries : ArrayAttr::get(module.getContext(), {});
}

/// `modelc_prepare(states...)` with no derived value yet: the forward
/// functions' state arguments come first in each, in the same order.
func::FuncOp createPrepare(ModuleOp module, func::FuncOp forward, unsigned numDerived) {
  unsigned numInputs = llvm::count_if(forward.getArgumentTypes(),
                                      [](Type t) { return isa<TensorType>(t); });
  // After the inputs: the random stream, if any (kRngArgAttr), then the
  // derived values.
  unsigned numRng = forward->hasAttr(mlir::mdl::kRngArgAttr) ? 1 : 0;
  unsigned numStates = forward.getNumArguments() - numInputs - numRng - numDerived;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  SmallVector<Type> argTypes(forward.getArgumentTypes().take_front(numStates));
  auto fn = func::FuncOp::create(b, forward.getLoc(), "modelc_prepare",
                                 b.getFunctionType(argTypes, {}));
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  func::ReturnOp::create(b, forward.getLoc());
  return fn;
}

void appendArguments(func::FuncOp fn, TypeRange types) {
  SmallVector<unsigned> at(types.size(), fn.getNumArguments());
  SmallVector<DictionaryAttr> attrs(types.size(), DictionaryAttr::get(fn.getContext()));
  SmallVector<Location> locs(types.size(), fn.getLoc());
  // Keeps the argument attributes (if any) in step with the arguments.
  (void)fn.insertArguments(at, types, attrs, locs);
}

} // namespace

void appendDerivedValues(ModuleOp module, ArrayRef<DerivedValue> values) {
  MLIRContext *ctx = module.getContext();
  SmallVector<func::FuncOp> forwards = forwardFunctions(module);
  ArrayAttr entries = derivedEntries(module);
  assert(!forwards.empty() && !values.empty() && "derived values need forward functions");

  auto prepare = module.lookupSymbol<func::FuncOp>("modelc_prepare");
  if (!prepare)
    prepare = createPrepare(module, forwards.front(), entries.size());

  SmallVector<Type> types;
  for (const DerivedValue &d : values)
    types.push_back(MemRefType::get(d.type.getShape(), d.type.getElementType()));
  for (func::FuncOp fn : forwards)
    appendArguments(fn, types);
  unsigned firstInPrepare = prepare.getNumArguments();
  appendArguments(prepare, types);

  // Each value written into its argument: the transform writes over `into`,
  // which is the argument itself.
  Block &body = prepare.getBody().front();
  OpBuilder b = OpBuilder::atBlockTerminator(&body);
  Location loc = prepare.getLoc();
  SmallVector<Attribute> list(entries.begin(), entries.end());
  for (auto [i, d] : llvm::enumerate(values)) {
    Value state = body.getArgument(d.stateArg);
    Value out = body.getArgument(firstInPrepare + i);
    Value parameter = bufferization::ToTensorOp::create(
        b, loc, memref::getTensorTypeFromMemRefType(state.getType()), state,
        /*restrict=*/true, /*writable=*/false);
    Value into = bufferization::ToTensorOp::create(b, loc, d.type, out, /*restrict=*/true,
                                                   /*writable=*/true);
    Value value =
        func::CallOp::create(b, loc, d.transform, ValueRange{parameter, into}).getResult(0);
    auto store =
        bufferization::MaterializeInDestinationOp::create(b, loc, TypeRange{}, value, out);
    store.setRestrict(true);
    store.setWritable(true);
    assert(d.stateArg < firstInPrepare - entries.size() && "derived from a state argument");
    list.push_back(DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, "state"),
                             IntegerAttr::get(IntegerType::get(ctx, 64), d.stateArg)),
              NamedAttribute(StringAttr::get(ctx, "kind"), StringAttr::get(ctx, d.kind)),
              NamedAttribute(StringAttr::get(ctx, "shape"),
                             DenseI64ArrayAttr::get(ctx, d.type.getShape()))}));
  }
  module->setAttr(mlir::mdl::kDerivedAttr, ArrayAttr::get(ctx, list));
}

/// The derived entries of `fn`'s module and the argument number of the
/// first, when `fn` is a forward function.
static std::optional<std::pair<ArrayAttr, unsigned>> derivedOf(func::FuncOp fn) {
  auto module = fn->getParentOfType<ModuleOp>();
  if (!module || !fn->hasAttr(mlir::mdl::kParameterArgsAttr))
    return std::nullopt;
  ArrayAttr entries = derivedEntries(module);
  return std::make_pair(entries, fn.getNumArguments() - entries.size());
}

std::optional<unsigned> derivedArgument(func::FuncOp fn, unsigned stateArg, StringRef kind) {
  // A part of a forward function says itself which of its arguments holds
  // what is derived from which (parts shared by several places of a model
  // have no one numbering of the forward function's).
  if (auto map = fn->getAttrOfType<ArrayAttr>(mlir::mdl::kOutlinedDerivedAttr)) {
    for (auto entry : map.getAsRange<DictionaryAttr>()) {
      auto state = entry.getAs<IntegerAttr>("state");
      auto entryKind = entry.getAs<StringAttr>("kind");
      auto arg = entry.getAs<IntegerAttr>("arg");
      if (state && entryKind && arg && state.getInt() == int64_t(stateArg) &&
          entryKind.getValue() == kind)
        return arg.getInt();
    }
    return std::nullopt;
  }
  auto derived = derivedOf(fn);
  if (!derived)
    return std::nullopt;
  for (auto [i, entry] : llvm::enumerate(derived->first.getAsRange<DictionaryAttr>())) {
    auto state = entry.getAs<IntegerAttr>("state");
    auto entryKind = entry.getAs<StringAttr>("kind");
    if (state && entryKind && state.getInt() == int64_t(stateArg) && entryKind.getValue() == kind)
      return derived->second + i;
  }
  return std::nullopt;
}

SmallVector<std::pair<unsigned, StringRef>> derivedArguments(func::FuncOp fn, unsigned stateArg) {
  SmallVector<std::pair<unsigned, StringRef>> out;
  auto derived = derivedOf(fn);
  if (!derived)
    return out;
  for (auto [i, entry] : llvm::enumerate(derived->first.getAsRange<DictionaryAttr>()))
    if (auto state = entry.getAs<IntegerAttr>("state"); state && state.getInt() == int64_t(stateArg))
      if (auto kind = entry.getAs<StringAttr>("kind"))
        out.push_back({derived->second + unsigned(i), kind.getValue()});
  return out;
}

} // namespace modelc::lowering
