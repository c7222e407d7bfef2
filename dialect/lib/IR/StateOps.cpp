//===- StateOps.cpp - model, state declarations, read and write -----------===//
//
// The state rules of a model: every entry is declared once with a static
// type and an initializer, reads name an entry of the enclosing model, and
// only buffers can be written.
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <string>

using namespace mlir;
using namespace mlir::mdl;

StringRef mlir::mdl::stringifyStateKind(StateKind kind) {
  switch (kind) {
  case StateKind::Parameter:
    return "parameter";
  case StateKind::PersistentBuffer:
  case StateKind::NonPersistentBuffer:
    return "buffer";
  case StateKind::Constant:
    return "constant";
  }
  llvm_unreachable("unknown state kind");
}

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

void ModelOp::build(OpBuilder &builder, OperationState &state, StringRef name) {
  state.addAttribute(::mlir::SymbolTable::getSymbolAttrName(),
                     builder.getStringAttr(name));
  state.addRegion()->emplaceBlock();
}

LogicalResult ModelOp::verifyRegions() {
  int64_t total = 0;
  for (ConstOp c : getBody()->getOps<ConstOp>()) {
    std::optional<int64_t> n = shape::numElements(c.getTensorType().getShape());
    if (!n || *n > kMaxConstantElements)
      return c.emitOpError()
             << "has " << (n ? std::to_string(*n) : "more than 2^63")
             << " elements, more than the limit of " << kMaxConstantElements
             << " of modelc";
    total += *n;
    if (total > kMaxModelConstantElements)
      return c.emitOpError() << "brings the model's constants to more than "
                             << kMaxModelConstantElements
                             << " elements in all, the limit of modelc";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// State declarations: shared syntax and checks
//===----------------------------------------------------------------------===//
//
//   state-decl ::= `@`name `:` tensor-type buffer-kind? `init` string
//                  `(` (float (`,` float)*)? `)` attr-dict?
//   buffer-kind ::= `persistent` | `non_persistent`     (mdl.buffer only)

namespace {
/// Names of the attributes a declaration op stores, for the parser.
struct DeclAttrNames {
  StringAttr type, init, initArgs, persistent;
};
} // namespace

static ParseResult parseStateDecl(OpAsmParser &parser, OperationState &result,
                                  const DeclAttrNames &names) {
  StringAttr symName;
  Type type;
  std::string init;
  SmallVector<double> args;
  if (parser.parseSymbolName(symName, SymbolTable::getSymbolAttrName(),
                             result.attributes) ||
      parser.parseColonType(type))
    return failure();
  result.addAttribute(names.type, TypeAttr::get(type));
  if (names.persistent) {
    bool persistent;
    if (succeeded(parser.parseOptionalKeyword("persistent")))
      persistent = true;
    else if (succeeded(parser.parseOptionalKeyword("non_persistent")))
      persistent = false;
    else
      return parser.emitError(parser.getCurrentLocation(),
                              "expected 'persistent' or 'non_persistent'");
    result.addAttribute(names.persistent,
                        parser.getBuilder().getBoolAttr(persistent));
  }
  if (parser.parseKeyword("init") || parser.parseString(&init) ||
      parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren, [&]() {
        return parser.parseFloat(args.emplace_back());
      }))
    return failure();
  Builder &b = parser.getBuilder();
  result.addAttribute(names.init, b.getStringAttr(init));
  result.addAttribute(names.initArgs, b.getDenseF64ArrayAttr(args));
  return parser.parseOptionalAttrDict(result.attributes);
}

static void printStateDecl(OpAsmPrinter &printer, Operation *op, StringRef name,
                           Type type, std::optional<bool> persistent,
                           StringRef init, ArrayRef<double> args) {
  printer << ' ';
  printer.printSymbolName(name);
  printer << " : " << type;
  if (persistent)
    printer << (*persistent ? " persistent" : " non_persistent");
  printer << " init ";
  printer.printString(init);
  printer << '(';
  llvm::interleaveComma(
      args, printer, [&](double v) { printer.printFloat(llvm::APFloat(v)); });
  printer << ')';
  printer.printOptionalAttrDict(op->getAttrs(),
                                {SymbolTable::getSymbolAttrName(), "type",
                                 "init", "init_args", "persistent"});
}

/// The number of arguments each initializer takes, and what they are.
static std::optional<std::pair<size_t, StringRef>>
initializerSignature(StringRef init) {
  return llvm::StringSwitch<std::optional<std::pair<size_t, StringRef>>>(init)
      .Case("full", std::pair<size_t, StringRef>{1, "value"})
      .Case("uniform", std::pair<size_t, StringRef>{2, "low, high"})
      .Case("normal", std::pair<size_t, StringRef>{2, "mean, std"})
      .Default(std::nullopt);
}

static LogicalResult verifyStateDecl(Operation *op, Type type, StringRef init,
                                     ArrayRef<double> args) {
  // The runtime allocates every state entry when the model is created, so
  // its size must be known at compile time.
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || !tensor.hasStaticShape())
    return op->emitOpError()
           << "declared type " << type
           << " must be a statically shaped tensor: state is allocated when "
              "the model is created";
  Type elem = tensor.getElementType();
  if (!elem.isF32() && !elem.isF64() && !elem.isF16() && !elem.isBF16() &&
      !elem.isInteger(32) && !elem.isInteger(64) && !elem.isInteger(1))
    return op->emitOpError()
           << "unsupported element type " << elem
           << "; expected f32, f64, f16, bf16, i32, i64 or i1";
  auto signature = initializerSignature(init);
  if (!signature)
    return op->emitOpError() << "unknown initializer '" << init
                             << "'; expected 'full', 'uniform' or 'normal'";
  if (args.size() != signature->first)
    return op->emitOpError()
           << "initializer '" << init << "' takes " << signature->first
           << " argument" << (signature->first == 1 ? "" : "s") << " ("
           << signature->second << "), got " << args.size();
  if (init == "uniform" && args[0] > args[1])
    return op->emitOpError() << "initializer 'uniform' needs low <= high, got ("
                             << args[0] << ", " << args[1] << ")";
  if (init == "normal" && args[1] < 0)
    return op->emitOpError()
           << "initializer 'normal' needs a non-negative std, got " << args[1];
  return success();
}

//===----------------------------------------------------------------------===//
// ParamOp, BufferOp, ConstOp
//===----------------------------------------------------------------------===//

ParseResult ParamOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseStateDecl(parser, result,
                        {getTypeAttrName(result.name),
                         getInitAttrName(result.name),
                         getInitArgsAttrName(result.name), StringAttr()});
}
void ParamOp::print(OpAsmPrinter &p) {
  printStateDecl(p, *this, getSymName(), getType(), std::nullopt, getInit(),
                 getInitArgs());
}
LogicalResult ParamOp::verify() {
  return verifyStateDecl(*this, getType(), getInit(), getInitArgs());
}
StateKind ParamOp::getStateKind() { return StateKind::Parameter; }

ParseResult BufferOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseStateDecl(
      parser, result,
      {getTypeAttrName(result.name), getInitAttrName(result.name),
       getInitArgsAttrName(result.name), getPersistentAttrName(result.name)});
}
void BufferOp::print(OpAsmPrinter &p) {
  printStateDecl(p, *this, getSymName(), getType(), getPersistent(), getInit(),
                 getInitArgs());
}
LogicalResult BufferOp::verify() {
  return verifyStateDecl(*this, getType(), getInit(), getInitArgs());
}
StateKind BufferOp::getStateKind() {
  return getPersistent() ? StateKind::PersistentBuffer
                         : StateKind::NonPersistentBuffer;
}

ParseResult ConstOp::parse(OpAsmParser &parser, OperationState &result) {
  return parseStateDecl(parser, result,
                        {getTypeAttrName(result.name),
                         getInitAttrName(result.name),
                         getInitArgsAttrName(result.name), StringAttr()});
}
void ConstOp::print(OpAsmPrinter &p) {
  printStateDecl(p, *this, getSymName(), getType(), std::nullopt, getInit(),
                 getInitArgs());
}
LogicalResult ConstOp::verify() {
  return verifyStateDecl(*this, getType(), getInit(), getInitArgs());
}
StateKind ConstOp::getStateKind() { return StateKind::Constant; }

//===----------------------------------------------------------------------===//
// State lookup
//===----------------------------------------------------------------------===//

std::optional<StateInfo> mlir::mdl::getStateInfo(Operation *op) {
  if (!op)
    return std::nullopt;
  return llvm::TypeSwitch<Operation *, std::optional<StateInfo>>(op)
      .Case<ParamOp, BufferOp, ConstOp>([](auto decl) {
        return StateInfo{decl,
                         decl.getStateKind(),
                         decl.getSymName(),
                         decl.getTensorType(),
                         decl.getInit(),
                         decl.getInitArgs()};
      })
      .Default([](Operation *) { return std::nullopt; });
}

std::optional<StateInfo> mlir::mdl::lookupState(ModelOp model, StringRef name) {
  return getStateInfo(SymbolTable::lookupSymbolIn(
      model, StringAttr::get(model.getContext(), name)));
}

SmallVector<StateInfo> mlir::mdl::getStates(ModelOp model) {
  SmallVector<StateInfo> states;
  if (model.getBodyRegion().empty())
    return states;
  for (Operation &op : *model.getBody())
    if (auto info = getStateInfo(&op))
      states.push_back(*info);
  return states;
}

//===----------------------------------------------------------------------===//
// ReadOp, WriteOp
//===----------------------------------------------------------------------===//

/// Resolves the state entry `ref` names in the model enclosing `user`, or
/// reports why it cannot.
static FailureOr<StateInfo> resolveState(Operation *user, FlatSymbolRefAttr ref,
                                         SymbolTableCollection &tables) {
  auto model = user->getParentOfType<ModelOp>();
  if (!model)
    return user->emitOpError()
           << "must be nested in an 'mdl.model': state belongs to a model";
  std::optional<StateInfo> info =
      getStateInfo(tables.lookupSymbolIn(model, ref.getAttr()));
  if (!info)
    return user->emitOpError()
           << "'" << ref << "' does not name a state entry of model '"
           << model.getSymName() << "'";
  return *info;
}

LogicalResult ReadOp::verifySymbolUses(SymbolTableCollection &tables) {
  FailureOr<StateInfo> info = resolveState(*this, getStateAttr(), tables);
  if (failed(info))
    return failure();
  if (getType() != info->type)
    return emitOpError() << "result type " << getType() << " does not match "
                         << stringifyStateKind(info->kind) << " '" << info->name
                         << "' of type " << info->type;
  return success();
}

LogicalResult WriteOp::verifySymbolUses(SymbolTableCollection &tables) {
  FailureOr<StateInfo> info = resolveState(*this, getStateAttr(), tables);
  if (failed(info))
    return failure();
  switch (info->kind) {
  case StateKind::Parameter:
    return emitOpError() << "cannot write to parameter '" << info->name
                         << "': parameters are trained by the optimizer; "
                            "only buffers can be assigned";
  case StateKind::Constant:
    return emitOpError() << "cannot write to constant '" << info->name
                         << "': constants are part of the compiled code; "
                            "only buffers can be assigned";
  case StateKind::PersistentBuffer:
  case StateKind::NonPersistentBuffer:
    break;
  }
  if (getValue().getType() != info->type)
    return emitOpError() << "value of type " << getValue().getType()
                         << " does not match buffer '" << info->name
                         << "' of type " << info->type;
  return success();
}
