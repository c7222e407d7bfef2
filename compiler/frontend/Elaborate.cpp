//===- Elaborate.cpp - The module tree, its arguments and its state -------===//
//
// Instantiates the model: binds constructor arguments (positional, keyword,
// defaults), expands submodules and Sequentials, and declares every state
// entry under the name PyTorch's state_dict() gives it, in PyTorch's order: a
// module's own parameters, then its own buffers, then its children in
// declaration order.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborate.h"
#include "frontend/Elaborator.h"

#include "mdl/IR/MdlDialect.h"
#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

using namespace mlir;

namespace modelc {

//===----------------------------------------------------------------------===//
// Values and formatting
//===----------------------------------------------------------------------===//

std::string formatDType(Type type) {
  if (type.isF32()) return "f32";
  if (type.isF64()) return "f64";
  if (type.isF16()) return "f16";
  if (type.isBF16()) return "bf16";
  if (type.isInteger(1)) return "bool";
  if (type.isInteger(32)) return "i32";
  if (type.isInteger(64)) return "i64";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

std::string Value::describe() const {
  switch (kind) {
  case Kind::Poison: return "an invalid value";
  case Kind::None: return "none";
  case Kind::Bool: return "a bool";
  case Kind::Int: return "an int";
  case Kind::Float: return "a float";
  case Kind::Str: return "a string";
  case Kind::List: return "a list";
  case Kind::DType: return "a dtype";
  case Kind::Module: return "a module";
  case Kind::Size: return fmt::format("the run-time size '{}'", s);
  case Kind::Tensor:
    return fmt::format("a tensor of shape {} and dtype {}", formatShape(type().getShape()),
                       formatDType(type().getElementType()));
  }
  return "a value";
}

std::optional<std::string> closestMatch(StringRef name, ArrayRef<StringRef> candidates) {
  std::optional<std::string> best;
  unsigned bestDistance = std::max<unsigned>(2, name.size() / 3) + 1;
  for (StringRef c : candidates) {
    unsigned d = name.edit_distance(c, /*AllowReplacements=*/true, bestDistance);
    if (d < bestDistance) {
      bestDistance = d;
      best = c.str();
    }
  }
  return best;
}

const StateEntry *Instance::findState(StringRef local) const {
  for (const StateEntry &s : states)
    if (s.localName == local)
      return &s;
  return nullptr;
}

Instance *Instance::findChild(StringRef local) const {
  for (auto &[name, child] : children)
    if (name == local)
      return child.get();
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Arguments
//===----------------------------------------------------------------------===//

std::optional<std::vector<ArgValue>>
Elaborator::evaluateArgs(const std::vector<ast::Argument> &args, Env &env) {
  std::vector<ArgValue> out;
  bool failed = false;
  for (const ast::Argument &a : args) {
    Value v = evaluate(*a.value, env);
    failed |= v.isPoison();
    out.push_back({a.keyword, a.value->getLoc(), std::move(v)});
  }
  if (failed)
    return std::nullopt;
  return out;
}

static StringRef describeArgType(ArgType t) {
  switch (t) {
  case ArgType::Any: return "a value";
  case ArgType::Tensor: return "a tensor";
  case ArgType::OptTensor: return "a tensor or none";
  case ArgType::TensorOrNumber: return "a tensor or a number";
  case ArgType::TensorList: return "a list of tensors";
  case ArgType::Int: return "an int";
  case ArgType::OptInt: return "an int or none";
  case ArgType::Float: return "a float";
  case ArgType::OptFloat: return "a float or none";
  case ArgType::Bool: return "a bool";
  case ArgType::Str: return "a string";
  case ArgType::IntOrInts: return "an int or a list of ints";
  case ArgType::OptIntOrInts: return "none, an int or a list of ints";
  case ArgType::OptInts: return "none or a list of ints";
  case ArgType::Ints: return "a list of ints";
  case ArgType::Shape: return "a shape: ints, at most one of them known only at run time";
  case ArgType::Padding: return "an int, a list of ints, 'same' or 'valid'";
  case ArgType::DType: return "a dtype";
  }
  return "a value";
}

static bool isIntList(const Value &v) {
  return v.kind == Value::Kind::List &&
         llvm::all_of(v.elems, [](const Value &e) { return e.kind == Value::Kind::Int; });
}

/// Checks `v` against `t`, converting where PyTorch would (an int where a float
/// is expected). Returns false when the value does not fit.
static bool conform(Value &v, ArgType t) {
  using K = Value::Kind;
  switch (t) {
  case ArgType::Any: return true;
  case ArgType::Tensor: return v.isTensor();
  case ArgType::OptTensor: return v.isTensor() || v.isNone();
  case ArgType::TensorOrNumber: return v.isTensor() || v.isNumber();
  case ArgType::TensorList:
    return v.kind == K::List && !v.elems.empty() &&
           llvm::all_of(v.elems, [](const Value &e) { return e.isTensor(); });
  case ArgType::Int: return v.kind == K::Int;
  case ArgType::OptInt: return v.kind == K::Int || v.isNone();
  case ArgType::Float:
  case ArgType::OptFloat:
    if (t == ArgType::OptFloat && v.isNone())
      return true;
    if (v.kind == K::Int) {
      v = Value::real(double(v.i));
      return true;
    }
    return v.kind == K::Float;
  case ArgType::Bool: return v.kind == K::Bool;
  case ArgType::Str: return v.kind == K::Str;
  case ArgType::IntOrInts: return v.kind == K::Int || isIntList(v);
  case ArgType::OptIntOrInts: return v.isNone() || v.kind == K::Int || isIntList(v);
  case ArgType::OptInts: return v.isNone() || v.kind == K::Int || isIntList(v);
  case ArgType::Ints: return v.kind == K::Int || isIntList(v);
  case ArgType::Padding:
    return v.kind == K::Int || isIntList(v) ||
           (v.kind == K::Str && (v.s == "same" || v.s == "valid"));
  case ArgType::Shape: {
    // A run-time size becomes kDynamic: reshape infers it (as -1), expand
    // keeps the input's run-time size there.
    if (v.kind == K::Int)
      return true;
    if (v.kind != K::List ||
        llvm::count_if(v.elems, [](const Value &e) { return e.kind == K::Size; }) > 1 ||
        !llvm::all_of(v.elems, [](const Value &e) {
          return e.kind == K::Int || e.kind == K::Size;
        }))
      return false;
    for (Value &e : v.elems)
      if (e.kind == K::Size)
        e = Value::integer(ShapedType::kDynamic);
    return true;
  }
  case ArgType::DType: return v.kind == K::DType || v.kind == K::Str;
  }
  return false;
}

std::optional<llvm::StringMap<Value>> Elaborator::bind(const Signature &sig,
                                                       ArrayRef<ArgValue> args,
                                                       StringRef what, Location loc) {
  llvm::StringMap<Value> bound;
  llvm::StringMap<Location> boundAt;
  bool ok = true;
  size_t positional = 0;
  for (const ArgValue &a : args) {
    const ParamSpec *spec = nullptr;
    if (a.keyword.empty()) {
      if (positional >= sig.size()) {
        error(a.loc) << fmt::format("{} takes {} argument{}, but more were given", what,
                                    sig.size(), sig.size() == 1 ? "" : "s");
        ok = false;
        break;
      }
      spec = &sig[positional++];
    } else {
      for (const ParamSpec &p : sig)
        if (p.name == a.keyword)
          spec = &p;
      // PyTorch's reductions call it `dim` and take one or several.
      if (!spec && a.keyword == "dim")
        for (const ParamSpec &p : sig)
          if (p.name == "dims")
            spec = &p;
      if (!spec) {
        std::vector<StringRef> names;
        for (const ParamSpec &p : sig)
          names.push_back(p.name);
        auto diag = error(a.loc) << fmt::format("{} has no argument named '{}'", what, a.keyword);
        if (auto best = closestMatch(a.keyword, names))
          diag << fmt::format("; did you mean '{}'?", *best);
        ok = false;
        continue;
      }
    }
    if (bound.count(spec->name)) {
      error(a.loc) << fmt::format("argument '{}' of {} is given twice", spec->name.str(), what);
      ok = false;
      continue;
    }
    Value v = a.value;
    if (!conform(v, spec->type)) {
      error(a.loc) << fmt::format("argument '{}' of {} must be {}, but got {}", spec->name.str(),
                                  what, describeArgType(spec->type).str(), a.value.describe());
      ok = false;
      continue;
    }
    bound[spec->name] = std::move(v);
    boundAt.try_emplace(spec->name, a.loc);
  }
  for (const ParamSpec &p : sig) {
    if (bound.count(p.name))
      continue;
    if (!p.def) {
      if (ok)
        error(loc) << fmt::format("{} is missing its argument '{}'", what, p.name.str());
      ok = false;
      continue;
    }
    bound[p.name] = *p.def;
  }
  if (!ok)
    return std::nullopt;
  return bound;
}

std::optional<SmallVector<int64_t>> Elaborator::toInts(const Value &v, size_t arity,
                                                       StringRef what, Location loc) {
  SmallVector<int64_t> out;
  if (v.kind == Value::Kind::Int) {
    out.assign(arity ? arity : 1, v.i);
    return out;
  }
  for (const Value &e : v.elems)
    out.push_back(e.i);
  if (arity && out.size() != arity) {
    error(loc) << fmt::format("{} must have {} values, but has {}", what, arity, out.size());
    return std::nullopt;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

FailureOr<Type> Elaborator::parseDType(StringRef name, Location loc) {
  Type t = llvm::StringSwitch<Type>(name)
               .Case("f32", builder.getF32Type())
               .Case("f64", builder.getF64Type())
               .Case("f16", builder.getF16Type())
               .Case("bf16", builder.getBF16Type())
               .Case("i32", builder.getI32Type())
               .Case("i64", builder.getI64Type())
               .Case("bool", builder.getI1Type())
               .Default(Type());
  if (!t) {
    error(loc) << fmt::format(
        "unknown dtype '{}'; expected one of f32, f64, f16, bf16, i32, i64, bool", name.str());
    return failure();
  }
  return t;
}

FailureOr<RankedTensorType> Elaborator::resolveType(const ast::TensorTypeExpr &type, Env &env,
                                                    bool allowDynamic) {
  FailureOr<Type> elt = parseDType(type.dtype, type.dtypeLoc);
  SmallVector<int64_t> dims;
  bool ok = succeeded(elt);
  for (const ast::ExprPtr &d : type.dims) {
    // A name that is neither a local nor a constructor argument is a size
    // known at run time only (the batch size N).
    if (auto *name = llvm::dyn_cast<ast::NameExpr>(d.get())) {
      bool known = (env.self && env.self->args.count(name->name)) ||
                   (env.locals && env.locals->count(name->name));
      if (!known) {
        if (!allowDynamic) {
          error(d->getLoc()) << fmt::format(
              "state must have a static shape, but '{}' is not a constructor argument",
              name->name);
          ok = false;
        }
        dims.push_back(ShapedType::kDynamic);
        continue;
      }
    }
    Value v = evaluate(*d, env);
    if (v.isPoison()) {
      ok = false;
      continue;
    }
    if (v.kind == Value::Kind::Size && allowDynamic) {
      dims.push_back(ShapedType::kDynamic);
      continue;
    }
    // A whole float is a size (pow(2, 10)) only where int64 holds it: the
    // conversion of any other is undefined behaviour. -2^63 and 2^63 are
    // exact as doubles, so the bounds are too.
    bool whole = v.kind == Value::Kind::Float && v.f == std::floor(v.f);
    if (whole && v.f >= -0x1p63 && v.f < 0x1p63)
      v = Value::integer(int64_t(v.f));
    if (v.kind != Value::Kind::Int || v.i < 0) {
      std::string got = v.kind == Value::Kind::Int ? std::to_string(v.i)
                        : whole ? fmt::format("{}, which does not fit int64", v.f)
                                : v.describe();
      error(d->getLoc()) << fmt::format("a dimension must be a non-negative int, but got {}",
                                        got);
      ok = false;
      continue;
    }
    dims.push_back(v.i);
  }
  if (!ok)
    return failure();
  return RankedTensorType::get(dims, *elt);
}

void Elaborator::bindDimNames(const ast::TensorTypeExpr &type, RankedTensorType actual,
                              Env &env) {
  if (!env.locals || actual.getRank() != int64_t(type.dims.size()))
    return;
  for (auto [d, dim] : llvm::enumerate(type.dims)) {
    auto *name = llvm::dyn_cast<ast::NameExpr>(dim.get());
    if (!name || (env.self && env.self->args.count(name->name)) ||
        env.locals->count(name->name))
      continue;
    (*env.locals)[name->name] = actual.isDynamicDim(d)
                                    ? Value::runtimeSize(name->name)
                                    : Value::integer(actual.getDimSize(d));
  }
}

//===----------------------------------------------------------------------===//
// State declarations and initializers
//===----------------------------------------------------------------------===//

namespace {
/// fan_in and fan_out as torch.nn.init._calculate_fan_in_and_fan_out.
struct Fans {
  double in, out;
};
} // namespace

static std::optional<Fans> computeFans(ArrayRef<int64_t> shape) {
  if (shape.size() < 2)
    return std::nullopt;
  double receptive = 1;
  for (int64_t d : shape.drop_front(2))
    receptive *= double(d);
  return Fans{double(shape[1]) * receptive, double(shape[0]) * receptive};
}

namespace {
/// One initializer of LANGUAGE.md: torch.nn.init's name and arguments, and how
/// it reduces to one of the three distributions the runtime draws.
struct Initializer {
  StringRef name;
  Signature signature;
  /// kaiming_* and xavier_* scale by the state's fans, so they need a state of
  /// at least two dimensions.
  bool needsFans;
  /// Sets the entry's distribution from the bound arguments and the fans.
  void (*reduce)(StateEntry &entry, llvm::StringMap<Value> &a, const Fans &fans);
};
} // namespace

/// A distribution of mean 0 and standard deviation `std`; a uniform one with
/// that deviation spans +-sqrt(3) std.
static void zeroMean(StateEntry &entry, bool uniform, double std) {
  entry.init = uniform ? "uniform" : "normal";
  if (uniform)
    entry.initArgs = {-std::sqrt(3.0) * std, std::sqrt(3.0) * std};
  else
    entry.initArgs = {0.0, std};
}

/// kaiming_*: the gain of leaky_relu with slope a over sqrt(fan_in).
static double kaimingStd(double a, const Fans &fans) {
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  return fans.in > 0 ? gain / std::sqrt(fans.in) : 0.0;
}

/// xavier_*: gain * sqrt(2 / (fan_in + fan_out)).
static double xavierStd(double gain, const Fans &fans) {
  double sum = fans.in + fans.out;
  return sum > 0 ? gain * std::sqrt(2.0 / sum) : 0.0;
}

static const std::vector<Initializer> &initializers() {
  using A = llvm::StringMap<Value>;
  auto F = [](double v) { return std::optional<Value>(Value::real(v)); };
  static const std::vector<Initializer> table = {
      {"zeros", {}, false, [](StateEntry &e, A &, const Fans &) { e.initArgs = {0.0}; }},
      {"ones", {}, false, [](StateEntry &e, A &, const Fans &) { e.initArgs = {1.0}; }},
      {"full", {{"value", ArgType::Float, std::nullopt}}, false,
       [](StateEntry &e, A &a, const Fans &) { e.initArgs = {a["value"].f}; }},
      {"rand", {}, false,
       [](StateEntry &e, A &, const Fans &) {
         e.init = "uniform";
         e.initArgs = {0.0, 1.0};
       }},
      {"randn", {}, false,
       [](StateEntry &e, A &, const Fans &) {
         e.init = "normal";
         e.initArgs = {0.0, 1.0};
       }},
      {"uniform", {{"a", ArgType::Float, F(0)}, {"b", ArgType::Float, F(1)}}, false,
       [](StateEntry &e, A &a, const Fans &) {
         e.init = "uniform";
         e.initArgs = {a["a"].f, a["b"].f};
       }},
      {"normal", {{"mean", ArgType::Float, F(0)}, {"std", ArgType::Float, F(1)}}, false,
       [](StateEntry &e, A &a, const Fans &) {
         e.init = "normal";
         e.initArgs = {a["mean"].f, a["std"].f};
       }},
      {"kaiming_uniform", {{"a", ArgType::Float, F(0)}}, true,
       [](StateEntry &e, A &a, const Fans &f) { zeroMean(e, true, kaimingStd(a["a"].f, f)); }},
      {"kaiming_normal", {{"a", ArgType::Float, F(0)}}, true,
       [](StateEntry &e, A &a, const Fans &f) { zeroMean(e, false, kaimingStd(a["a"].f, f)); }},
      {"xavier_uniform", {{"gain", ArgType::Float, F(1)}}, true,
       [](StateEntry &e, A &a, const Fans &f) { zeroMean(e, true, xavierStd(a["gain"].f, f)); }},
      {"xavier_normal", {{"gain", ArgType::Float, F(1)}}, true,
       [](StateEntry &e, A &a, const Fans &f) { zeroMean(e, false, xavierStd(a["gain"].f, f)); }},
  };
  return table;
}

SmallVector<StringRef> Elaborator::initializerNames() { return builtinNames(initializers()); }

/// "zeros(), ..., uniform(a, b), ...": every initializer with its arguments.
static std::string listInitializers() {
  std::vector<std::string> calls;
  for (const Initializer &i : initializers()) {
    auto names = llvm::map_range(i.signature, [](const ParamSpec &p) { return p.name; });
    calls.push_back(fmt::format("{}({})", i.name.str(), llvm::join(names, ", ")));
  }
  return llvm::join(calls, ", ");
}

LogicalResult Elaborator::declareState(Instance &inst, const ast::StateDecl &decl, Env &env) {
  StateRole role = decl.kind == ast::StateKind::Param   ? StateRole::Parameter
                   : decl.kind == ast::StateKind::Const ? StateRole::Constant
                                                        : StateRole::PersistentBuffer;
  bool ok = true, frozen = false;
  if (!decl.options.empty()) {
    bool isParam = decl.kind == ast::StateKind::Param;
    auto args = evaluateArgs(decl.options, env);
    Signature sig = {isParam ? ParamSpec{"requires_grad", ArgType::Bool, Value::boolean(true)}
                             : ParamSpec{"persistent", ArgType::Bool, Value::boolean(true)}};
    auto bound = args ? bind(sig, *args, isParam ? "param" : "buffer", decl.loc) : std::nullopt;
    if (!bound)
      ok = false;
    else if (isParam)
      frozen = !(*bound)["requires_grad"].b;
    else if (!(*bound)["persistent"].b)
      role = StateRole::NonPersistentBuffer;
  }

  FailureOr<RankedTensorType> type = resolveType(decl.type, env, /*allowDynamic=*/false);
  if (failed(type) || !ok)
    return failure();

  StateEntry entry{inst.qualify(decl.name), decl.name, role, *type, "full", {0.0}, decl.nameLoc,
                   frozen};
  if (failed(countState(entry.fullName, decl.nameLoc)) ||
      (role == StateRole::Constant && failed(countConstant(entry, decl.nameLoc))))
    return failure();
  const ast::Expr &init = *decl.init;
  auto *call = llvm::dyn_cast<ast::CallExpr>(&init);
  const Initializer *initializer = call ? findBuiltin(initializers(), call->callee) : nullptr;
  if (initializer) {
    auto args = evaluateArgs(call->args, env);
    if (!args)
      return failure();
    auto bound = bind(initializer->signature, *args, call->callee, call->getLoc());
    if (!bound)
      return failure();
    std::optional<Fans> fans = computeFans(type->getShape());
    if (initializer->needsFans && !fans) {
      error(call->getLoc()) << fmt::format(
          "{} needs a state of at least 2 dimensions to compute fan_in and fan_out, but "
          "'{}' has shape {}",
          call->callee, decl.name, formatShape(type->getShape()));
      return failure();
    }
    initializer->reduce(entry, *bound, fans.value_or(Fans{0, 0}));
  } else {
    Value v = evaluate(init, env);
    if (v.isPoison())
      return failure();
    if (!v.isNumber()) {
      auto diag = error(init.getLoc())
                  << fmt::format("the initializer of '{}' must be a number or one of {}; got {}",
                                 decl.name, listInitializers(), v.describe());
      if (call)
        if (auto best = closestMatch(call->callee, initializerNames()))
          diag << fmt::format(" (did you mean '{}'?)", *best);
      return failure();
    }
    entry.initArgs = {v.number()};
  }
  inst.states.push_back(std::move(entry));
  return success();
}

//===----------------------------------------------------------------------===//
// Instantiation
//===----------------------------------------------------------------------===//

/// Checks that member `name` repeats neither another member nor an argument.
/// The one exception is nn.Linear's pattern `param bias: ... if bias`: a member
/// may take the name of a bool argument that says whether it exists; the
/// declarations see the argument, forward sees the member (or none).
static bool checkMemberName(Elaborator &e, const ast::ModuleDecl &decl, StringRef name,
                            Location loc, llvm::StringMap<Location> &seen) {
  for (const ast::ParamDecl &p : decl.params) {
    if (p.name == name && p.type != "bool") {
      auto diag = e.error(loc);
      diag << fmt::format("member '{}' shadows the constructor argument of the same name "
                          "(only a bool argument, such as 'bias', may name the member it "
                          "enables)",
                          name.str());
      diag.attachNote(p.loc) << "the constructor argument is declared here";
      return false;
    }
  }
  auto [it, inserted] = seen.try_emplace(name, loc);
  if (!inserted) {
    e.error(loc) << fmt::format("'{}' is already declared in module '{}'", name.str(),
                                decl.name);
    return false;
  }
  return true;
}

std::unique_ptr<Instance> Elaborator::instantiateUser(const ast::ModuleDecl &decl,
                                                      const ast::CallExpr *call,
                                                      std::string path, Env &callerEnv,
                                                      int depth) {
  Location loc = call ? call->getLoc() : decl.loc;
  if (depth > kMaxDepth) {
    error(loc) << fmt::format("modules nest more than {} deep; is '{}' recursive?", kMaxDepth,
                              decl.name);
    return nullptr;
  }
  auto inst = std::make_unique<Instance>(decl.name, std::move(path), loc);
  inst->decl = &decl;
  Env env{inst.get(), nullptr};

  // Constructor arguments: those given, then defaults evaluated in order so
  // that a default may use an earlier argument.
  if (call) {
    auto args = evaluateArgs(call->args, callerEnv);
    if (!args)
      return nullptr;
    Signature sig;
    for (const ast::ParamDecl &p : decl.params) {
      ArgType t = llvm::StringSwitch<ArgType>(p.type)
                      .Case("int", ArgType::Int)
                      .Case("float", ArgType::Float)
                      .Case("bool", ArgType::Bool)
                      .Case("str", ArgType::Str)
                      .Case("ints", ArgType::Ints)
                      .Default(ArgType::Any);
      // Defaults are filled below; mark each optional with a placeholder.
      sig.push_back({p.name, t, p.defaultValue ? std::optional<Value>(Value::poison())
                                               : std::nullopt});
    }
    auto bound = bind(sig, *args, fmt::format("module '{}'", decl.name), loc);
    if (!bound)
      return nullptr;
    for (const ast::ParamDecl &p : decl.params) {
      Value v = (*bound)[p.name];
      if (v.isPoison()) {
        v = evaluate(*p.defaultValue, env);
        if (v.isPoison())
          return nullptr;
      }
      if (p.type == "ints" && v.kind == Value::Kind::Int)
        v = Value::list({v});
      inst->args[p.name] = std::move(v);
    }
  } else if (!decl.params.empty()) {
    error(decl.loc) << "a model takes no constructor arguments";
    return nullptr;
  }

  llvm::StringMap<Location> seen;
  auto conditionHolds = [&](const ast::Expr *cond, std::optional<bool> &holds) {
    holds = true;
    if (!cond)
      return true;
    Value c = evaluate(*cond, env);
    if (c.isPoison())
      return false;
    if (c.kind != Value::Kind::Bool) {
      error(cond->getLoc()) << fmt::format(
          "the condition after 'if' must be a bool known at compile time, but got {}",
          c.describe());
      return false;
    }
    holds = c.b;
    return true;
  };

  // Whether member `name` is to be created: its name is valid and its
  // trailing `if` holds. A false condition makes it absent (none in
  // forward); an error makes it broken (silent in forward).
  auto admit = [&](const std::string &name, Location nameLoc, const ast::Expr *condition,
                   Location declLoc) {
    if (!checkMemberName(*this, decl, name, nameLoc, seen))
      return false;
    std::optional<bool> holds;
    if (!conditionHolds(condition, holds)) {
      inst->broken.insert(name);
      return false;
    }
    if (!*holds) {
      inst->absent.try_emplace(name, declLoc);
      return false;
    }
    return true;
  };

  for (const ast::StateDecl &s : decl.states)
    if (admit(s.name, s.nameLoc, s.condition.get(), s.loc) &&
        failed(declareState(*inst, s, env)))
      inst->broken.insert(s.name);
  // PyTorch's order: parameters, then buffers; constants are not in the
  // state dict and go last.
  std::stable_sort(inst->states.begin(), inst->states.end(),
                   [](const StateEntry &a, const StateEntry &b) {
                     auto rank = [](StateRole r) {
                       return r == StateRole::Parameter ? 0 : r == StateRole::Constant ? 2 : 1;
                     };
                     return rank(a.role) < rank(b.role);
                   });

  for (const ast::SubmoduleDecl &m : decl.submodules) {
    if (!admit(m.name, m.loc, m.condition.get(), m.loc))
      continue;
    auto *call = llvm::dyn_cast<ast::CallExpr>(m.value.get());
    if (!call) {
      error(m.value->getLoc()) << fmt::format(
          "member '{}' must be a module such as Linear(10, 20); use 'const' for a tensor",
          m.name);
      inst->broken.insert(m.name);
      continue;
    }
    auto child = instantiate(*call, inst->qualify(m.name), env, depth + 1);
    if (!child) {
      inst->broken.insert(m.name);
      continue;
    }
    inst->children.emplace_back(m.name, std::move(child));
  }
  // Errors are reported and remembered in `hadError`; the instance is still
  // returned so that forward can report the errors independent of them.
  return inst;
}

std::unique_ptr<Instance> Elaborator::instantiate(const ast::CallExpr &call, std::string path,
                                                  Env &env, int depth) {
  // Every instance but the model itself comes through here.
  ++instances.count;
  nameBytes.count += path.size();
  if (failed(checkLimit(instances, call.getLoc())) ||
      failed(checkLimit(nameBytes, call.getLoc())))
    return nullptr;
  StringRef callee = call.callee;
  if (callee == kSequential) {
    auto inst = std::make_unique<Instance>(kSequential.str(), path, call.getLoc());
    bool ok = true;
    for (auto [i, a] : llvm::enumerate(call.args)) {
      auto *sub = llvm::dyn_cast<ast::CallExpr>(a.value.get());
      if (!a.keyword.empty() || !sub) {
        error(a.value->getLoc()) << "Sequential takes modules, such as Linear(10, 20), as "
                                    "positional arguments";
        ok = false;
        continue;
      }
      std::string name = std::to_string(i);
      auto child = instantiate(*sub, path.empty() ? name : path + "." + name, env, depth + 1);
      if (!child) {
        ok = false;
        continue;
      }
      inst->children.emplace_back(name, std::move(child));
    }
    if (!ok)
      return nullptr;
    return inst;
  }
  if (callee == kModuleList) {
    auto inst = std::make_unique<Instance>(kModuleList.str(), path, call.getLoc());
    if (failed(instantiateModuleList(*inst, call, env, depth)))
      return nullptr;
    return inst;
  }
  if (isBuiltinModule(callee)) {
    auto inst = std::make_unique<Instance>(callee.str(), path, call.getLoc());
    auto args = evaluateArgs(call.args, env);
    if (!args || failed(instantiateBuiltin(*inst, *args, env, depth, call)))
      return nullptr;
    for (const StateEntry &s : inst->states)
      if (failed(countState(s.fullName, call.getLoc())))
        return nullptr;
    return inst;
  }
  if (const ast::ModuleDecl *decl = modules.lookup(callee)) {
    if (decl->isModel) {
      error(call.getLoc()) << fmt::format(
          "'{}' is a model; only modules can be used as submodules", callee.str());
      return nullptr;
    }
    return instantiateUser(*decl, &call, std::move(path), env, depth);
  }

  std::vector<StringRef> names = {kSequential, kModuleList};
  llvm::append_range(names, builtinModuleNames());
  for (auto &kv : modules)
    names.push_back(kv.getKey());
  auto diag = error(call.getLoc()) << fmt::format("unknown module '{}'", callee.str());
  if (auto best = closestMatch(callee, names))
    diag << fmt::format("; did you mean '{}'?", *best);
  return nullptr;
}

void Elaborator::collectStates(const Instance &inst,
                               std::vector<const StateEntry *> &out) const {
  for (const StateEntry &s : inst.states)
    out.push_back(&s);
  for (auto &[name, child] : inst.children)
    collectStates(*child, out);
}

//===----------------------------------------------------------------------===//
// Driver
//===----------------------------------------------------------------------===//

Elaborator::Elaborator(const ast::File &file, MLIRContext *ctx, const ElaborateLimits &limits)
    : file(file), ctx(ctx), builder(ctx, &opCounter) {
  instances.max = limits.instances;
  states.max = limits.states;
  nameBytes.max = limits.nameBytes;
  ops.max = limits.ops;
  moduleCalls.max = limits.moduleCalls;
  iterations.max = limits.moduleCalls;
  static_assert(ElaborateLimits{}.constantElements == mdl::kMaxConstantElements &&
                    ElaborateLimits{}.modelConstantElements == mdl::kMaxModelConstantElements,
                "the frontend's defaults are the dialect's limits");
  maxConstantElements = std::min<int64_t>(limits.constantElements, mdl::kMaxConstantElements);
  constantElements.max =
      std::min<int64_t>(limits.modelConstantElements, mdl::kMaxModelConstantElements);
}

LogicalResult Elaborator::countState(StringRef fullName, Location loc) {
  ++states.count;
  nameBytes.count += fullName.size();
  return success(succeeded(checkLimit(states, loc)) && succeeded(checkLimit(nameBytes, loc)));
}

LogicalResult Elaborator::countConstant(const StateEntry &entry, Location loc) {
  // Before anything draws it: one line of source must not ask for gigabytes.
  std::optional<int64_t> n = mdl::shape::numElements(entry.type.getShape());
  if (!n || *n > maxConstantElements) {
    error(loc) << fmt::format(
        "constant '{}' has {} elements, more than the limit of {} of modelc; declare it a "
        "buffer(persistent=false), which the runtime draws when the model is created",
        entry.localName, n ? std::to_string(*n) : "more than 2^63", maxConstantElements);
    return failure();
  }
  constantElements.count += *n;
  return checkLimit(constantElements, loc);
}

LogicalResult Elaborator::checkLimit(Limit &limit, Location loc) {
  // Past any limit, every check fails: the rest of the work is cut short too.
  if (limitReached())
    return failure();
  if (limit.count <= limit.max)
    return success();
  error(loc) << fmt::format(fmt::runtime(limit.message), limit.max);
  limit.reported = true;
  return failure();
}

OwningOpRef<ModuleOp> Elaborator::run(StringRef modelName) {
  Location fileLoc = FileLineColLoc::get(ctx, file.path, 1, 1);
  std::vector<const ast::ModuleDecl *> models;
  for (const auto &m : file.modules) {
    auto [it, inserted] = modules.try_emplace(m->name, m.get());
    if (!inserted) {
      auto diag = error(m->loc);
      diag << fmt::format("'{}' is already defined", m->name);
      diag.attachNote(it->second->loc) << "the first definition is here";
      continue;
    }
    if (m->isModel)
      models.push_back(m.get());
  }

  const ast::ModuleDecl *model = nullptr;
  if (!modelName.empty()) {
    const ast::ModuleDecl *d = modules.lookup(modelName);
    if (!d || !d->isModel) {
      std::string names;
      for (const ast::ModuleDecl *m : models)
        names += (names.empty() ? "" : ", ") + m->name;
      error(models.empty() ? fileLoc : models.front()->loc)
          << fmt::format("--model={}: no model of that name in this file; it declares {}",
                         modelName.str(), names.empty() ? "none" : names);
      return nullptr;
    }
    model = d;
  } else if (models.size() == 1) {
    model = models.front();
  } else if (models.empty()) {
    error(file.modules.empty() ? fileLoc : file.modules.front()->loc)
        << "this file declares no model; the unit of compilation is a 'model Name { ... }'";
    return nullptr;
  } else {
    std::string names;
    for (const ast::ModuleDecl *m : models)
      names += (names.empty() ? "" : ", ") + m->name;
    error(models[1]->loc) << fmt::format(
        "this file declares several models ({}); choose one with --model=NAME", names);
    return nullptr;
  }
  if (hadError)
    return nullptr;
  if (!model->forward) {
    error(model->loc) << fmt::format("model '{}' has no forward", model->name);
    return nullptr;
  }
  for (const auto &m : file.modules)
    if (m->loss && !m->isModel) {
      error(m->loss->loc) << fmt::format(
          "module '{}' declares loss; only a model may (spec/TRAINING.md)", m->name);
      return nullptr;
    }

  Env env;
  std::unique_ptr<Instance> root = instantiateUser(*model, nullptr, "", env, 0);
  // Past a limit the tree is cut short: its forward would report only
  // follow-on errors, and building its IR is the cost the limit avoids.
  if (!root || limitReached())
    return nullptr;

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  builder.setInsertionPointToEnd(module->getBody());
  auto modelOp = mdl::ModelOp::create(builder, model->loc, model->name);
  builder.setInsertionPointToEnd(modelOp.getBody());

  std::vector<const StateEntry *> states;
  collectStates(*root, states);
  for (const StateEntry *s : states) {
    switch (s->role) {
    case StateRole::Parameter: {
      auto param =
          mdl::ParamOp::create(builder, s->loc, s->fullName, s->type, s->init, s->initArgs);
      if (s->frozen)
        param->setAttr(mdl::kFrozenAttr, builder.getUnitAttr());
      break;
    }
    case StateRole::PersistentBuffer:
    case StateRole::NonPersistentBuffer:
      mdl::BufferOp::create(builder, s->loc, s->fullName, s->type, s->init, s->initArgs,
                            s->role == StateRole::PersistentBuffer);
      break;
    case StateRole::Constant:
      mdl::ConstOp::create(builder, s->loc, s->fullName, s->type, s->init, s->initArgs);
      break;
    }
  }

  // Trace evaluation mode even after errors in the declarations, to report
  // the independent errors of forward too; training mode would repeat them.
  if (failed(traceForward(*root, /*training=*/false, modelOp)) || hadError ||
      failed(traceForward(*root, /*training=*/true, modelOp)) || hadError)
    return nullptr;
  if (model->loss && (failed(traceLoss(*root, /*training=*/false, modelOp)) || hadError ||
                      failed(traceLoss(*root, /*training=*/true, modelOp)) || hadError))
    return nullptr;
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

static InFlightDiagnostic emitDiagnostic(Location loc, DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Warning: return emitWarning(loc);
  case DiagnosticSeverity::Remark:
  case DiagnosticSeverity::Note: return emitRemark(loc);
  case DiagnosticSeverity::Error: break;
  }
  return emitError(loc);
}

namespace {
/// Holds back the diagnostics of elaboration and reports them when it goes:
/// once each (a module's body is traced for every instance and both modes,
/// so the same mistake would otherwise be reported at every one) and in
/// source order, each with its notes.
class SourceOrderDiagnostics {
public:
  explicit SourceOrderDiagnostics(MLIRContext *ctx)
      : handler(std::make_unique<ScopedDiagnosticHandler>(ctx, [this](Diagnostic &d) {
          Held h{d.getLocation(), d.getSeverity(), d.str(), {}};
          for (Diagnostic &note : d.getNotes())
            h.notes.emplace_back(note.getLocation(), note.str());
          held.push_back(std::move(h));
          return success();
        })) {}

  ~SourceOrderDiagnostics() {
    handler.reset(); // what follows goes to the handlers registered before
    auto position = [](Location loc) {
      auto fl = dyn_cast<FileLineColLoc>(loc);
      return fl ? std::make_tuple(fl.getFilename().str(), fl.getLine(), fl.getColumn())
                : std::make_tuple(std::string(), 0u, 0u);
    };
    llvm::stable_sort(held, [&](const Held &a, const Held &b) {
      return position(a.loc) < position(b.loc);
    });
    std::set<std::pair<std::string, std::string>> seen;
    for (const Held &h : held) {
      std::string where;
      llvm::raw_string_ostream os(where);
      h.loc.print(os);
      if (!seen.emplace(where, h.message).second)
        continue;
      InFlightDiagnostic diag = emitDiagnostic(h.loc, h.severity) << h.message;
      for (const auto &[loc, text] : h.notes)
        diag.attachNote(loc) << text;
    }
  }

private:
  struct Held {
    Location loc;
    DiagnosticSeverity severity;
    std::string message;
    std::vector<std::pair<Location, std::string>> notes;
  };
  std::vector<Held> held;
  std::unique_ptr<ScopedDiagnosticHandler> handler;
};
} // namespace

OwningOpRef<ModuleOp> elaborate(const ast::File &file, StringRef modelName, MLIRContext *ctx,
                                const ElaborateLimits &limits, const ElaborateOptions &options) {
  ctx->loadDialect<mdl::MdlDialect, func::FuncDialect, arith::ArithDialect>();
  SourceOrderDiagnostics diagnostics(ctx);
  Elaborator e(file, ctx, limits);
  e.options = options;
  return e.run(modelName);
}

} // namespace modelc
