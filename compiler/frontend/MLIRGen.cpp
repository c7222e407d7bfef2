//===- MLIRGen.cpp - Tracing forward into mdl IR --------------------------===//
//
// forward is interpreted, not translated: compile-time values (constructor
// arguments, `training`, numbers) are computed here and `if` picks a branch,
// while every tensor operation becomes an mdl op in the function being built.
// The model is traced twice, into @forward_eval and @forward_train.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/ADT/SmallBitVector.h"

#include <fmt/format.h>

using namespace mlir;

namespace modelc {

//===----------------------------------------------------------------------===//
// Tensor helpers
//===----------------------------------------------------------------------===//

mlir::Value Elaborator::scalar(double v, Type elementType, Location loc) {
  return splat(v, RankedTensorType::get({}, elementType), loc);
}

mlir::Value Elaborator::splat(double v, RankedTensorType type, Location loc) {
  Type elementType = type.getElementType();
  TypedAttr attr;
  if (auto ft = llvm::dyn_cast<FloatType>(elementType))
    attr = FloatAttr::get(ft, v);
  else
    attr = IntegerAttr::get(elementType, elementType.isInteger(1) ? int64_t(v != 0) : int64_t(v));
  return arith::ConstantOp::create(builder, loc, type, DenseElementsAttr::get(type, attr));
}

mlir::Value Elaborator::denseF32(ArrayRef<int64_t> shape, ArrayRef<float> values, Location loc) {
  auto type = RankedTensorType::get(shape, builder.getF32Type());
  return arith::ConstantOp::create(builder, loc, type, DenseElementsAttr::get(type, values));
}

mlir::Value Elaborator::causalBias(int64_t l, int64_t s, int64_t firstRow, Location loc) {
  // From the row and column numbers (arange), not stored: an [l, s]
  // constant would take l·s floats in the library (4 MiB at 1024).
  auto numbers = [&](int64_t first, int64_t count, ArrayRef<int64_t> shape) {
    Value n = applyFunction("arange", "is_causal",
                            {{"start", Value::integer(first)},
                             {"end", Value::integer(first + count)}},
                            loc);
    return applyFunction("reshape", "is_causal", {{"input", n}, {"shape", Value::ints(shape)}},
                         loc);
  };
  Value above = binary(ast::BinaryOp::Gt, numbers(0, s, {1, s}), numbers(firstRow, l, {l, 1}),
                       loc);
  return applyFunction("where", "is_causal",
                       {{"condition", above},
                        {"input", Value::real(-std::numeric_limits<double>::infinity())},
                        {"other", Value::real(0.0)}},
                       loc)
      .tensor;
}

mlir::Value Elaborator::castTo(mlir::Value v, Type elementType, Location loc) {
  auto type = llvm::cast<RankedTensorType>(v.getType());
  if (type.getElementType() == elementType)
    return v;
  return mdl::CastOp::create(builder, loc, type.clone(elementType), v);
}

mlir::Value Elaborator::asTensor(const Value &v, Type like, Location loc) {
  if (v.isTensor())
    return like ? castTo(v.tensor, like, loc) : v.tensor;
  if (!like)
    like = v.kind == Value::Kind::Float ? Type(builder.getF32Type()) : builder.getI64Type();
  return scalar(v.number(), like, loc);
}

bool Elaborator::expectTensor(const Value &v, StringRef what, Location loc) {
  if (v.isTensor())
    return true;
  if (!v.isPoison())
    error(loc) << fmt::format("{} expects a tensor, but got {}", what.str(), v.describe());
  return false;
}

//===----------------------------------------------------------------------===//
// State
//===----------------------------------------------------------------------===//

Value Elaborator::readState(Instance &inst, const StateEntry &entry, Location loc) {
  mlir::Value &current = stateValues[entry.fullName];
  if (!current)
    current = mdl::ReadOp::create(builder, loc, entry.type,
                                  FlatSymbolRefAttr::get(ctx, entry.fullName));
  return Value::ofTensor(current);
}

LogicalResult Elaborator::writeState(Instance &inst, const ast::WriteStmt &stmt, Env &env) {
  const StateEntry *entry = inst.findState(stmt.target);
  if (!entry) {
    if (inst.findChild(stmt.target))
      error(stmt.getLoc()) << fmt::format("'{}' is a submodule; '<-' writes buffers only",
                                          stmt.target);
    else
      error(stmt.getLoc()) << fmt::format(
          "'{}' is not a buffer of module '{}'; '<-' writes buffers only", stmt.target,
          inst.typeName);
    return failure();
  }
  if (entry->role == StateRole::Parameter) {
    error(stmt.getLoc()) << fmt::format(
        "cannot write to parameter '{}': parameters are trained by the optimizer; only "
        "buffers can be assigned with '<-'",
        stmt.target);
    return failure();
  }
  if (entry->role == StateRole::Constant) {
    error(stmt.getLoc()) << fmt::format(
        "cannot write to constant '{}': constants are part of the compiled code; only "
        "buffers can be assigned with '<-'",
        stmt.target);
    return failure();
  }

  Value v = evaluate(*stmt.value, env);
  if (v.isPoison())
    return failure();
  if (!v.isTensor() && !v.isNumber()) {
    error(stmt.value->getLoc()) << fmt::format("cannot write {} to buffer '{}'", v.describe(),
                                               stmt.target);
    return failure();
  }
  Location loc = stmt.getLoc();
  // As PyTorch's in-place copy_: the value is cast to the buffer's dtype and
  // must broadcast to exactly the buffer's shape.
  mlir::Value t = asTensor(v, entry->type.getElementType(), loc);
  auto type = llvm::cast<RankedTensorType>(t.getType());
  if (type != entry->type) {
    std::string why;
    auto shape = mdl::shape::broadcast(type.getShape(), entry->type.getShape(), why);
    if (failed(shape) || ArrayRef<int64_t>(*shape) != entry->type.getShape() ||
        !type.hasStaticShape()) {
      error(stmt.value->getLoc()) << fmt::format(
          "cannot write a value of shape {} to buffer '{}' of shape {}",
          formatShape(type.getShape()), stmt.target, formatShape(entry->type.getShape()));
      return failure();
    }
    // Broadcast by adding to zeros of the buffer's shape.
    mlir::Value zeros = mdl::FullLikeOp::create(builder, loc, entry->type,
                                                readState(inst, *entry, loc).tensor,
                                                builder.getF64FloatAttr(0.0));
    t = mdl::AddOp::create(builder, loc, entry->type, zeros, t);
  }
  mdl::WriteOp::create(builder, loc, t, FlatSymbolRefAttr::get(ctx, entry->fullName));
  stateValues[entry->fullName] = t;
  return success();
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

static bool isDTypeName(StringRef s) {
  return llvm::is_contained({"f32", "f64", "f16", "bf16", "i32", "i64", "bool"}, s);
}

Value Elaborator::callWithInputs(Instance &inst, const ast::CallExpr &call, Env &env,
                                 const std::string &what) {
  bool keywords = llvm::any_of(call.args, [](const ast::Argument &a) {
    return !a.keyword.empty();
  });
  if (!keywords) {
    std::vector<Value> inputs;
    bool poisoned = false;
    for (const ast::Argument &a : call.args) {
      inputs.push_back(evaluate(*a.value, env));
      poisoned |= inputs.back().isPoison();
    }
    if (poisoned)
      return Value::poison();
    return callModule(inst, inputs, call.getLoc());
  }
  // Inputs by name, as torch.nn's forwards take them: a user module's
  // forward arguments, or a built-in's named inputs (defaults fill the gaps).
  Signature sig;
  if (inst.decl && inst.decl->forward) {
    for (const ast::ForwardArg &a : inst.decl->forward->args)
      sig.push_back({a.name, ArgType::Any, std::nullopt});
  } else if (const Signature *inputs = builtinModuleInputs(inst.typeName)) {
    sig = *inputs;
  } else {
    auto it = llvm::find_if(call.args, [](const ast::Argument &a) { return !a.keyword.empty(); });
    error(it->keywordLoc) << fmt::format("{} takes its inputs by position", what);
    return Value::poison();
  }
  auto args = evaluateArgs(call.args, env);
  if (!args)
    return Value::poison();
  auto bound = bind(sig, *args, what, call.getLoc());
  if (!bound)
    return Value::poison();
  // Up to the last input given; the built-ins take the rest as absent.
  size_t positional = llvm::count_if(*args, [](const ArgValue &a) { return a.keyword.empty(); });
  size_t count = 0;
  for (auto [i, p] : llvm::enumerate(sig))
    if (i < positional ||
        llvm::any_of(*args, [&](const ArgValue &a) { return a.keyword == p.name; }))
      count = i + 1;
  std::vector<Value> inputs;
  for (size_t i = 0; i < count; ++i)
    inputs.push_back((*bound)[sig[i].name]);
  return callModule(inst, inputs, call.getLoc());
}

Value Elaborator::evaluate(const ast::Expr &expr, Env &env) {
  // Every op comes from an expression or a module call, so checking at both
  // keeps the count within the bound plus the few ops of one built-in.
  if (failed(checkLimit(ops, expr.getLoc())))
    return Value::poison();
  using K = ast::Expr::Kind;
  switch (expr.getKind()) {
  case K::Int: return Value::integer(llvm::cast<ast::IntExpr>(expr).value);
  case K::Float: return Value::real(llvm::cast<ast::FloatExpr>(expr).value);
  case K::String: return Value::str(llvm::cast<ast::StringExpr>(expr).value);
  case K::Bool: return Value::boolean(llvm::cast<ast::BoolExpr>(expr).value);
  case K::None: return Value::none();
  case K::List: {
    std::vector<Value> elems;
    bool poisoned = false;
    for (const ast::ExprPtr &e : llvm::cast<ast::ListExpr>(expr).elements) {
      elems.push_back(evaluate(*e, env));
      poisoned |= elems.back().isPoison();
    }
    return poisoned ? Value::poison() : Value::list(std::move(elems));
  }
  case K::Name: {
    const std::string &name = llvm::cast<ast::NameExpr>(expr).name;
    if (env.bound) {
      auto it = env.bound->find(name);
      if (it != env.bound->end())
        return it->second;
    }
    if (env.locals) {
      auto it = env.locals->find(name);
      if (it != env.locals->end())
        return it->second;
    }
    // In forward a member wins over a bool argument of the same name (see
    // checkMemberName); in the declarations only arguments are values.
    if (env.self && env.inForward()) {
      if (env.self->broken.contains(name))
        return Value::poison();
      if (const StateEntry *s = env.self->findState(name))
        return readState(*env.self, *s, expr.getLoc());
      if (Instance *child = env.self->findChild(name)) {
        // A ModuleList (or Sequential) is a value that `for` iterates over.
        if (child->typeName == kModuleList || child->typeName == kSequential)
          return Value::ofModule(child);
        error(expr.getLoc()) << fmt::format("'{}' is a module; call it, as in {}(x)", name,
                                            name);
        return Value::poison();
      }
      // A member whose `if` was false is none, as PyTorch's None entries.
      if (env.self->absent.count(name))
        return Value::none();
    }
    if (env.self) {
      auto it = env.self->args.find(name);
      if (it != env.self->args.end())
        return it->second;
    }
    // Python's float('inf'), as the bare names PyTorch code imports.
    if (name == "inf" || name == "nan")
      return Value::real(name == "inf" ? std::numeric_limits<double>::infinity()
                                       : std::numeric_limits<double>::quiet_NaN());
    if (name == "training") {
      if (env.inForward())
        return Value::boolean(training);
      error(expr.getLoc()) << "'training' is known only inside forward";
      return Value::poison();
    }
    if (env.self && (env.self->findState(name) || env.self->findChild(name))) {
      error(expr.getLoc()) << fmt::format("'{}' can be used only inside forward", name);
      return Value::poison();
    }
    if (isDTypeName(name))
      return Value::ofDType(*parseDType(name, expr.getLoc()));

    std::vector<StringRef> candidates;
    if (env.locals)
      for (auto &kv : *env.locals)
        candidates.push_back(kv.getKey());
    if (env.self) {
      for (auto &kv : env.self->args)
        candidates.push_back(kv.getKey());
      for (const StateEntry &s : env.self->states)
        candidates.push_back(s.localName);
    }
    auto diag = error(expr.getLoc()) << fmt::format("unknown name '{}'", name);
    if (auto best = closestMatch(name, candidates))
      diag << fmt::format("; did you mean '{}'?", *best);
    return Value::poison();
  }
  case K::Unary: {
    const auto &u = llvm::cast<ast::UnaryExpr>(expr);
    Value v = evaluate(*u.operand, env);
    if (v.isPoison())
      return v;
    if (u.op == ast::UnaryOp::Not) {
      if (v.kind != Value::Kind::Bool) {
        error(expr.getLoc()) << fmt::format("'not' expects a bool known at compile time, "
                                            "but got {}",
                                            v.describe());
        return Value::poison();
      }
      return Value::boolean(!v.b);
    }
    if (v.kind == Value::Kind::Int)
      return Value::integer(-v.i);
    if (v.kind == Value::Kind::Float)
      return Value::real(-v.f);
    if (v.isTensor())
      return Value::ofTensor(mdl::NegOp::create(builder, expr.getLoc(), v.type(), v.tensor));
    error(expr.getLoc()) << fmt::format("cannot negate {}", v.describe());
    return Value::poison();
  }
  case K::Binary: {
    const auto &b = llvm::cast<ast::BinaryExpr>(expr);
    Value lhs = evaluate(*b.lhs, env);
    if (lhs.isPoison()) {
      // The right side's own mistakes are independent: report them too.
      if (b.op != ast::BinaryOp::And && b.op != ast::BinaryOp::Or)
        evaluate(*b.rhs, env);
      return lhs;
    }
    if (b.op == ast::BinaryOp::And || b.op == ast::BinaryOp::Or) {
      auto checkBool = [&](const Value &v, const ast::Expr &e) {
        if (v.kind == Value::Kind::Bool)
          return true;
        if (!v.isPoison())
          error(e.getLoc()) << fmt::format("'{}' expects bools known at compile time, but got {}",
                                           ast::spell(b.op).str(), v.describe());
        return false;
      };
      if (!checkBool(lhs, *b.lhs))
        return Value::poison();
      // Short-circuit as Python does: `downsample is used only if ...`.
      if ((b.op == ast::BinaryOp::And) != lhs.b)
        return lhs;
      Value rhs = evaluate(*b.rhs, env);
      return checkBool(rhs, *b.rhs) ? rhs : Value::poison();
    }
    Value rhs = evaluate(*b.rhs, env);
    if (rhs.isPoison())
      return rhs;
    return binary(b.op, lhs, rhs, expr.getLoc());
  }
  case K::Comprehension:
    return evaluateComprehension(llvm::cast<ast::ComprehensionExpr>(expr), env);
  case K::Index: {
    const auto &ix = llvm::cast<ast::IndexExpr>(expr);
    Value base = evaluate(*ix.base, env);
    if (base.isPoison())
      return base;
    if (base.kind == Value::Kind::List)
      return indexList(base, ix, env);
    if (!expectTensor(base, "indexing", expr.getLoc()))
      return Value::poison();
    return emitIndex(base, ix, env);
  }
  case K::Call: {
    const auto &call = llvm::cast<ast::CallExpr>(expr);
    if (call.form != ast::CallExpr::Form::Call)
      return callMethod(call, env);
    // A name a `for` bound to a module (`for blk in blocks { x = blk(x) }`).
    for (const llvm::StringMap<Value> *scope : {env.bound, (const llvm::StringMap<Value> *)env.locals}) {
      if (!scope)
        continue;
      auto it = scope->find(call.callee);
      if (it == scope->end())
        continue;
      if (it->second.kind == Value::Kind::Module)
        return callWithInputs(*it->second.module, call, env,
                              fmt::format("module '{}'", call.callee));
      if (it->second.isPoison())
        return Value::poison();
      error(call.getLoc()) << fmt::format("'{}' is {}, not a module or a function",
                                          call.callee, it->second.describe());
      return Value::poison();
    }
    if (std::optional<Value> v = callPythonBuiltin(call, env))
      return *v;
    if (env.self && env.inForward()) {
      if (env.self->broken.contains(call.callee))
        return Value::poison();
      if (Instance *child = env.self->findChild(call.callee))
        return callWithInputs(*child, call, env,
                              fmt::format("module '{}'", call.callee));
      auto absent = env.self->absent.find(call.callee);
      if (absent != env.self->absent.end()) {
        auto diag = error(call.getLoc());
        diag << fmt::format("'{}' does not exist in this instance of '{}': its 'if' "
                            "condition is false",
                            call.callee, env.self->typeName);
        diag.attachNote(absent->second) << "declared here";
        return Value::poison();
      }
    }
    // `forward(...)` in the model's loss runs the model's own forward.
    if (lossModel && env.self == lossModel && call.callee == "forward")
      return callWithInputs(*lossModel, call, env, "forward");
    if (isBuiltinFunction(call.callee))
      return callFunction(call, env);
    if (isBuiltinModule(call.callee) || call.callee == kSequential ||
        call.callee == kModuleList ||
        modules.count(call.callee)) {
      error(call.getLoc()) << fmt::format(
          "'{}' is a module: declare it as a member (name = {}(...)) and call the member",
          call.callee, call.callee);
      return Value::poison();
    }
    // Submodules first: on a tie, the user's own name is the likelier meaning.
    // Initializers are calls only outside forward, as a state's initial value.
    std::vector<StringRef> candidates;
    if (env.self)
      for (auto &[name, child] : env.self->children)
        candidates.push_back(name);
    llvm::append_range(candidates, builtinFunctionNames());
    if (!env.inForward())
      llvm::append_range(candidates, initializerNames());
    auto diag = error(call.getLoc())
                << fmt::format("unknown function or submodule '{}'", call.callee);
    if (auto best = closestMatch(call.callee, candidates))
      diag << fmt::format("; did you mean '{}'?", *best);
    return Value::poison();
  }
  }
  return Value::poison();
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

namespace {
/// The outcome of running a block: still going, returned, or failed.
struct Flow {
  bool returned = false;
  std::vector<Value> results;
  Location loc;
};
} // namespace

static LogicalResult runBlock(Elaborator &e, const ast::Block &block, Env &env, Flow &flow);

static LogicalResult runStmt(Elaborator &e, const ast::Stmt &stmt, Env &env, Flow &flow) {
  switch (stmt.getKind()) {
  case ast::Stmt::Kind::Assign: {
    const auto &a = llvm::cast<ast::AssignStmt>(stmt);
    // `w = ...` where w is state would silently shadow it; say what was meant.
    for (auto [name, loc] : llvm::zip(a.targets, a.targetLocs)) {
      if (const StateEntry *s = env.self->findState(name)) {
        if (s->role == StateRole::PersistentBuffer || s->role == StateRole::NonPersistentBuffer)
          e.error(loc) << fmt::format("'{}' is a buffer; write it with '{} <- value'", name,
                                      name);
        else
          e.error(loc) << fmt::format("cannot assign to {} '{}'",
                                      s->role == StateRole::Parameter ? "parameter" : "constant",
                                      name);
        return failure();
      }
    }
    Value v = e.evaluate(*a.value, env);
    if (a.targets.size() == 1) {
      (*env.locals)[a.targets.front()] = v;
      return success(!v.isPoison());
    }
    if (v.isPoison() || v.kind != Value::Kind::List || v.elems.size() != a.targets.size()) {
      if (!v.isPoison())
        e.error(stmt.getLoc()) << fmt::format(
            "cannot unpack {} into {} names",
            v.kind == Value::Kind::List ? fmt::format("{} values", v.elems.size())
                                        : v.describe(),
            a.targets.size());
      for (const std::string &t : a.targets)
        (*env.locals)[t] = Value::poison();
      return failure();
    }
    for (auto [t, val] : llvm::zip(a.targets, v.elems))
      (*env.locals)[t] = val;
    return success();
  }
  case ast::Stmt::Kind::Write:
    return e.writeState(*env.self, llvm::cast<ast::WriteStmt>(stmt), env);
  case ast::Stmt::Kind::Return: {
    const auto &r = llvm::cast<ast::ReturnStmt>(stmt);
    flow.returned = true;
    flow.loc = stmt.getLoc();
    bool ok = true;
    for (const ast::ExprPtr &x : r.values) {
      flow.results.push_back(e.evaluate(*x, env));
      ok &= !flow.results.back().isPoison();
    }
    return success(ok);
  }
  case ast::Stmt::Kind::If: {
    const auto &i = llvm::cast<ast::IfStmt>(stmt);
    Value c = e.evaluate(*i.cond, env);
    if (c.isPoison())
      return failure();
    if (c.kind != Value::Kind::Bool) {
      e.error(i.cond->getLoc()) << fmt::format(
          "the condition of 'if' must be known at compile time (constructor arguments, "
          "training), but got {}",
          c.describe());
      return failure();
    }
    return runBlock(e, c.b ? i.thenBlock : i.elseBlock, env, flow);
  }
  case ast::Stmt::Kind::For: {
    const auto &f = llvm::cast<ast::ForStmt>(stmt);
    FailureOr<std::vector<Value>> items =
        e.iterate(e.evaluate(*f.iterable, env), f.iterable->getLoc());
    if (failed(items)) {
      for (const std::string &t : f.targets)
        (*env.locals)[t] = Value::poison();
      return failure();
    }
    for (const Value &item : *items) {
      ++e.iterations.count;
      if (failed(e.checkLimit(e.iterations, stmt.getLoc())) ||
          failed(e.bindTargets(f.targets, item, *env.locals, stmt.getLoc())))
        return failure();
      // An error in the body is reported at the first turn; later turns
      // would repeat it, so stop there.
      if (failed(runBlock(e, f.body, env, flow)))
        return failure();
      if (flow.returned)
        break;
    }
    return success();
  }
  }
  return failure();
}

static LogicalResult runBlock(Elaborator &e, const ast::Block &block, Env &env, Flow &flow) {
  bool ok = true;
  for (const ast::StmtPtr &s : block) {
    // Keep going after an error so that independent errors are all reported;
    // poisoned names keep the follow-on errors quiet.
    ok &= succeeded(runStmt(e, *s, env, flow));
    if (flow.returned)
      break;
  }
  return success(ok);
}

//===----------------------------------------------------------------------===//
// Calls of modules
//===----------------------------------------------------------------------===//

/// Whether a value of type `got` may stand where `want` is declared: the same
/// dtype and rank, and equal sizes wherever both are known.
static bool fits(RankedTensorType want, RankedTensorType got) {
  return want.getElementType() == got.getElementType() &&
         mdl::shape::compatible(want.getShape(), got.getShape());
}

Value Elaborator::callModule(Instance &inst, ArrayRef<Value> inputs, Location loc) {
  ++moduleCalls.count;
  if (failed(checkLimit(moduleCalls, loc)) || failed(checkLimit(ops, loc)))
    return Value::poison();
  if (inst.typeName == kSequential) {
    if (inputs.size() != 1) {
      error(loc) << fmt::format("Sequential takes one input, but {} were given", inputs.size());
      return Value::poison();
    }
    Value x = inputs.front();
    for (auto &[name, child] : inst.children) {
      x = callModule(*child, {x}, loc);
      if (x.isPoison())
        return x;
    }
    return x;
  }
  if (inst.typeName == kModuleList) {
    StringRef local = StringRef(inst.path).rsplit('.').second;
    if (local.empty())
      local = inst.path;
    error(loc) << fmt::format("ModuleList '{}' is not callable; call its modules in a loop: "
                              "for m in {} {{ x = m(x) }}",
                              inst.path, local.str());
    return Value::poison();
  }
  if (!inst.decl)
    return callBuiltinModule(inst, inputs, loc);

  const ast::ModuleDecl &decl = *inst.decl;
  if (!decl.forward) {
    error(loc) << fmt::format("module '{}' has no forward", decl.name);
    return Value::poison();
  }
  const ast::ForwardDecl &fwd = *decl.forward;
  if (inputs.size() != fwd.args.size()) {
    error(loc) << fmt::format("forward of '{}' takes {} input{}, but {} were given", decl.name,
                              fwd.args.size(), fwd.args.size() == 1 ? "" : "s", inputs.size());
    return Value::poison();
  }
  llvm::StringMap<Value> locals;
  Env env{&inst, &locals};
  for (auto [arg, input] : llvm::zip(fwd.args, inputs)) {
    if (arg.type) {
      FailureOr<RankedTensorType> want = resolveType(*arg.type, env, /*allowDynamic=*/true);
      if (failed(want))
        return Value::poison();
      if (!input.isTensor() || !fits(*want, input.type())) {
        auto diag = error(loc);
        diag << fmt::format("forward of '{}' expects '{}' to be a {} tensor of shape {}, but "
                            "got {}",
                            decl.name, arg.name, formatDType(want->getElementType()),
                            formatShape(want->getShape()), input.describe());
        diag.attachNote(arg.loc) << "declared here";
        return Value::poison();
      }
      bindDimNames(*arg.type, input.type(), env);
    }
    locals[arg.name] = input;
  }

  Flow flow{false, {}, loc};
  if (failed(runBlock(*this, fwd.body, env, flow)))
    return Value::poison();
  if (!flow.returned || flow.results.empty()) {
    error(fwd.loc) << fmt::format("forward of '{}' must return a value", decl.name);
    return Value::poison();
  }
  if (flow.results.size() == 1)
    return flow.results.front();
  return Value::list(flow.results);
}

LogicalResult Elaborator::traceForward(Instance &model, bool isTraining, mdl::ModelOp modelOp) {
  return traceMethod(model, *model.decl->forward, "forward",
                     isTraining ? "forward_train" : "forward_eval", isTraining, modelOp);
}

LogicalResult Elaborator::traceLoss(Instance &model, bool isTraining, mdl::ModelOp modelOp) {
  const ast::ForwardDecl &loss = *model.decl->loss;
  lossModel = &model;
  FailureOr<func::FuncOp> fn = traceMethod(model, loss, "loss",
                                           isTraining ? "loss_train" : "loss_eval", isTraining,
                                           modelOp);
  lossModel = nullptr;
  if (failed(fn))
    return failure();
  // What training differentiates: one number (spec/TRAINING.md).
  TypeRange results = fn->getResultTypes();
  auto type = results.size() == 1 ? dyn_cast<RankedTensorType>(results.front()) : nullptr;
  if (!type || type.getRank() != 0 || !type.getElementType().isF32()) {
    std::string got = results.size() == 1 ? formatDType(cast<RankedTensorType>(results.front())
                                                            .getElementType()) +
                                                " tensor of shape " +
                                                formatShape(cast<RankedTensorType>(results.front())
                                                                .getShape())
                                          : fmt::format("{} results", results.size());
    error(loss.loc) << fmt::format("loss must return one 0-d f32 tensor (f32[]), but returns {}",
                                   got);
    fn->erase();
    return failure();
  }
  return success();
}

FailureOr<func::FuncOp> Elaborator::traceMethod(Instance &model, const ast::ForwardDecl &fwd,
                                                StringRef what, StringRef fnName,
                                                bool isTraining, mdl::ModelOp modelOp) {
  training = isTraining;
  stateValues.clear();
  ops.count = 0;
  moduleCalls.count = 0;
  iterations.count = 0;
  llvm::StringMap<Value> locals;
  Env env{&model, &locals};

  // An argument without a usable type is reported and poisoned (with a
  // placeholder type), so that the body's own errors are reported too.
  SmallVector<Type> argTypes;
  llvm::SmallBitVector poisoned(fwd.args.size());
  for (auto [i, a] : llvm::enumerate(fwd.args)) {
    FailureOr<RankedTensorType> t = failure();
    if (!a.type)
      error(a.loc) << fmt::format(
          "the model's {} must give the type of '{}', as in {}: f32[N, 100]", what.str(),
          a.name, a.name);
    else
      t = resolveType(*a.type, env, /*allowDynamic=*/true);
    poisoned[i] = failed(t);
    argTypes.push_back(succeeded(t) ? *t : RankedTensorType::get({}, builder.getF32Type()));
  }

  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(modelOp.getBody());
  auto func = func::FuncOp::create(builder, fwd.loc, fnName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, a] : llvm::enumerate(fwd.args)) {
    locals[a.name] = poisoned[i] ? Value::poison() : Value::ofTensor(entry->getArgument(i));
    if (!poisoned[i] && a.type)
      bindDimNames(*a.type, llvm::cast<RankedTensorType>(argTypes[i]), env);
    func.setArgAttr(i, mlir::mdl::kArgNameAttr, builder.getStringAttr(a.name));
    // The names of its dynamic sizes ("" for the others): the inputs of one
    // name must agree at run time, which the runtime checks.
    auto type = dyn_cast<RankedTensorType>(argTypes[i]);
    if (poisoned[i] || !a.type || !type || type.getRank() != int64_t(a.type->dims.size()) ||
        type.hasStaticShape())
      continue;
    SmallVector<Attribute> names;
    for (auto [d, dim] : llvm::enumerate(a.type->dims)) {
      auto *name = llvm::dyn_cast<ast::NameExpr>(dim.get());
      names.push_back(builder.getStringAttr(type.isDynamicDim(d) && name ? name->name : ""));
    }
    func.setArgAttr(i, mlir::mdl::kArgDimsAttr, builder.getArrayAttr(names));
  }
  builder.setInsertionPointToEnd(entry);

  Flow flow{false, {}, fwd.loc};
  if (failed(runBlock(*this, fwd.body, env, flow)))
    return failure();
  if (!flow.returned || flow.results.empty()) {
    error(fwd.loc) << fmt::format("{} of model '{}' must return a value", what.str(),
                                  model.typeName);
    return failure();
  }
  // A module may return several results as one list; flatten one level.
  std::vector<Value> results;
  for (Value &r : flow.results) {
    if (r.kind == Value::Kind::List && flow.results.size() == 1)
      results.insert(results.end(), r.elems.begin(), r.elems.end());
    else
      results.push_back(r);
  }
  SmallVector<mlir::Value> values;
  SmallVector<Type> resultTypes;
  for (const Value &r : results) {
    if (!r.isTensor()) {
      error(flow.loc) << fmt::format("{} must return tensors, but returns {}", what.str(),
                                     r.describe());
      return failure();
    }
    values.push_back(r.tensor);
    resultTypes.push_back(r.tensor.getType());
  }
  if (!fwd.results.empty()) {
    if (fwd.results.size() != results.size()) {
      error(flow.loc) << fmt::format("{} declares {} result{} but returns {}", what.str(),
                                     fwd.results.size(), fwd.results.size() == 1 ? "" : "s",
                                     results.size());
      return failure();
    }
    for (auto [declared, r] : llvm::zip(fwd.results, results)) {
      FailureOr<RankedTensorType> want = resolveType(declared, env, /*allowDynamic=*/true);
      if (failed(want))
        return failure();
      if (!fits(*want, r.type())) {
        auto diag = error(flow.loc);
        diag << fmt::format("{} declares a {} result of shape {}, but returns {}", what.str(),
                            formatDType(want->getElementType()), formatShape(want->getShape()),
                            r.describe());
        diag.attachNote(declared.loc) << "declared here";
        return failure();
      }
    }
  }
  func::ReturnOp::create(builder, flow.loc, values);
  func.setType(builder.getFunctionType(argTypes, resultTypes));
  return func;
}

} // namespace modelc
