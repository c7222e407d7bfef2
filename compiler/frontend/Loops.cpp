//===- Loops.cpp - Compile-time iteration and Python's built-ins ----------===//
//
// `for` loops and list comprehensions run while forward is traced, as
// torch.fx traces a Python loop: each turn emits its own ops, so the loop
// leaves no trace in the IR. What they iterate over is known at compile time:
// a list, `range(...)`, `enumerate`/`zip` of those, or a ModuleList (or a
// Sequential), whose items are modules that the loop body calls. Python's
// float(), int(), min() and max() of compile-time numbers live here too.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborator.h"

#include <fmt/format.h>

#include <limits>

using namespace mlir;
using llvm::StringRef;

namespace modelc {

bool Elaborator::isPythonBuiltin(StringRef name) {
  return llvm::is_contained({"range", "len", "enumerate", "zip", "float", "int", "min", "max"},
                            name);
}

FailureOr<std::vector<Value>> Elaborator::iterate(const Value &iterable, Location loc) {
  if (iterable.isPoison())
    return failure();
  if (iterable.kind == Value::Kind::List)
    return iterable.elems;
  if (iterable.kind == Value::Kind::Module &&
      (iterable.module->typeName == kModuleList || iterable.module->typeName == kSequential)) {
    std::vector<Value> items;
    for (auto &[name, child] : iterable.module->children)
      items.push_back(Value::ofModule(child.get()));
    return items;
  }
  error(loc) << fmt::format("cannot iterate over {}; 'for' takes a list, range(...), "
                            "enumerate(...), zip(...) or a ModuleList",
                            iterable.describe());
  return failure();
}

LogicalResult Elaborator::bindTargets(llvm::ArrayRef<std::string> targets, const Value &item,
                                      llvm::StringMap<Value> &into, Location loc) {
  if (targets.size() == 1) {
    into[targets.front()] = item;
    return success();
  }
  if (item.kind != Value::Kind::List || item.elems.size() != targets.size()) {
    error(loc) << fmt::format(
        "cannot unpack {} into {} names",
        item.kind == Value::Kind::List ? fmt::format("{} values", item.elems.size())
                                       : item.describe(),
        targets.size());
    return failure();
  }
  for (auto [t, v] : llvm::zip(targets, item.elems))
    into[t] = v;
  return success();
}

LogicalResult Elaborator::forEachItem(const ast::ComprehensionExpr &c, Env &env,
                                      llvm::function_ref<LogicalResult(Env &)> body) {
  FailureOr<std::vector<Value>> items = iterate(evaluate(*c.iterable, env), c.iterable->getLoc());
  if (failed(items))
    return failure();
  // The names shadow the enclosing ones for the element only, as in Python 3.
  llvm::StringMap<Value> bound;
  if (env.bound)
    bound = *env.bound;
  Env inner = env;
  inner.bound = &bound;
  for (const Value &item : *items) {
    ++iterations.count;
    if (failed(checkLimit(iterations, c.getLoc())) ||
        failed(bindTargets(c.targets, item, bound, c.getLoc())) || failed(body(inner)))
      return failure();
  }
  return success();
}

Value Elaborator::evaluateComprehension(const ast::ComprehensionExpr &c, Env &env) {
  std::vector<Value> out;
  LogicalResult ok = forEachItem(c, env, [&](Env &inner) {
    out.push_back(evaluate(*c.element, inner));
    return success(!out.back().isPoison());
  });
  return succeeded(ok) ? Value::list(std::move(out)) : Value::poison();
}

/// The ints of range's arguments, or none after reporting.
static Value rangeOf(Elaborator &e, llvm::ArrayRef<ArgValue> args, Location loc) {
  if (args.empty() || args.size() > 3) {
    e.error(loc) << fmt::format("range takes 1 to 3 ints, but {} were given", args.size());
    return Value::poison();
  }
  int64_t bounds[3] = {0, 0, 1};
  for (auto [i, a] : llvm::enumerate(args)) {
    if (!a.keyword.empty() || a.value.kind != Value::Kind::Int) {
      if (!a.value.isPoison())
        e.error(a.loc) << fmt::format("range takes ints known at compile time, but got {}",
                                      a.keyword.empty() ? a.value.describe()
                                                        : "'" + a.keyword + "='");
      return Value::poison();
    }
    bounds[args.size() == 1 ? 1 : i] = a.value.i;
  }
  auto [start, stop, step] = bounds;
  if (step == 0) {
    e.error(args.back().loc) << "range's step must not be zero";
    return Value::poison();
  }
  // The count first, so that range(10**12) is refused before it is built.
  uint64_t count = 0;
  if ((step > 0 && start < stop) || (step < 0 && start > stop)) {
    uint64_t span = step > 0 ? uint64_t(stop) - uint64_t(start) : uint64_t(start) - uint64_t(stop);
    uint64_t mag = step > 0 ? uint64_t(step) : 0 - uint64_t(step);
    count = span / mag + (span % mag != 0);
  }
  uint64_t room = uint64_t(std::max<int64_t>(e.iterations.max - e.iterations.count, 0));
  e.iterations.count += int64_t(std::min(count, room + 1));
  if (failed(e.checkLimit(e.iterations, loc)))
    return Value::poison();
  std::vector<Value> items;
  items.reserve(count);
  for (uint64_t k = 0; k < count; ++k)
    items.push_back(Value::integer(int64_t(uint64_t(start) + k * uint64_t(step))));
  return Value::list(std::move(items));
}

/// Python's float(x) (float('-inf') too), int(x), min(...) and max(...) of
/// compile-time numbers.
static Value pythonNumber(Elaborator &e, StringRef name, llvm::ArrayRef<ArgValue> args,
                          Location loc) {
  std::vector<Value> values;
  for (const ArgValue &a : args)
    values.push_back(a.value);
  if (values.size() == 1 && values.front().kind == Value::Kind::List && name.size() == 3)
    values = values.front().elems; // min([a, b])
  bool conversion = name == "float" || name == "int";
  if (values.empty() || (conversion && values.size() != 1) ||
      llvm::any_of(args, [](const ArgValue &a) { return !a.keyword.empty(); })) {
    e.error(loc) << fmt::format("'{}' takes {} by position", name.str(),
                                conversion ? "one number" : "numbers");
    return Value::poison();
  }
  if (name == "float" && values.front().kind == Value::Kind::Str) {
    std::string text = StringRef(values.front().s).trim().lower();
    double inf = std::numeric_limits<double>::infinity();
    if (text == "inf" || text == "+inf" || text == "infinity")
      return Value::real(inf);
    if (text == "-inf" || text == "-infinity")
      return Value::real(-inf);
    if (text == "nan")
      return Value::real(std::numeric_limits<double>::quiet_NaN());
    double v;
    if (!StringRef(text).getAsDouble(v))
      return Value::real(v);
    e.error(args.front().loc) << fmt::format("could not convert string to float: '{}'",
                                             values.front().s);
    return Value::poison();
  }
  for (auto [v, a] : llvm::zip_first(values, args))
    if (!v.isNumber()) {
      if (!v.isPoison())
        e.error(a.loc) << fmt::format("'{}' takes numbers known at compile time, but got {}",
                                      name.str(), v.describe());
      return Value::poison();
    }
  if (name == "float")
    return Value::real(values.front().number());
  if (name == "int") {
    double v = values.front().number();
    if (!(v > -0x1p63 && v < 0x1p63)) {
      e.error(loc) << fmt::format("int({}) does not fit int64", v);
      return Value::poison();
    }
    return Value::integer(int64_t(v));
  }
  Value best = values.front();
  for (const Value &v : llvm::drop_begin(values))
    if (name == "min" ? v.number() < best.number() : v.number() > best.number())
      best = v;
  return best;
}

std::optional<Value> Elaborator::callPythonBuiltin(const ast::CallExpr &call, Env &env) {
  StringRef name = call.callee;
  if (!isPythonBuiltin(name))
    return std::nullopt;
  auto args = evaluateArgs(call.args, env);
  if (!args)
    return Value::poison();
  Location loc = call.getLoc();
  if (name == "range")
    return rangeOf(*this, *args, loc);
  if (name == "float" || name == "int" || name == "min" || name == "max")
    return pythonNumber(*this, name, *args, loc);

  // len, enumerate and zip take iterables by position.
  std::vector<std::vector<Value>> lists;
  for (const ArgValue &a : *args) {
    if (!a.keyword.empty()) {
      error(a.loc) << fmt::format("'{}' takes its arguments by position", name.str());
      return Value::poison();
    }
    // len of a tensor is its first size, as Python's.
    if (name == "len" && a.value.isTensor() && a.value.type().getRank() > 0 &&
        !a.value.type().isDynamicDim(0))
      return Value::integer(a.value.type().getDimSize(0));
    FailureOr<std::vector<Value>> items = iterate(a.value, a.loc);
    if (failed(items))
      return Value::poison();
    lists.push_back(std::move(*items));
  }
  size_t want = name == "zip" ? std::max<size_t>(lists.size(), 1) : 1;
  if (lists.size() != want) {
    error(loc) << fmt::format("'{}' takes {} argument{}, but {} were given", name.str(),
                              name == "zip" ? "one or more" : "1", name == "zip" ? "s" : "",
                              lists.size());
    return Value::poison();
  }
  if (name == "len")
    return Value::integer(int64_t(lists.front().size()));
  std::vector<Value> out;
  if (name == "enumerate") {
    for (auto [i, v] : llvm::enumerate(lists.front()))
      out.push_back(Value::list({Value::integer(int64_t(i)), v}));
    return Value::list(std::move(out));
  }
  size_t n = lists.front().size();
  for (const auto &l : lists)
    n = std::min(n, l.size());
  for (size_t i = 0; i < n; ++i) {
    std::vector<Value> tuple;
    for (const auto &l : lists)
      tuple.push_back(l[i]);
    out.push_back(Value::list(std::move(tuple)));
  }
  return Value::list(std::move(out));
}

Value Elaborator::indexList(const Value &list, const ast::IndexExpr &index, Env &env) {
  if (index.items.size() != 1 || index.items.front().kind == ast::IndexItem::Kind::Ellipsis) {
    error(index.getLoc()) << "a list takes one index or slice, as x.shape[0] or x.shape[1:]";
    return Value::poison();
  }
  const ast::IndexItem &item = index.items.front();
  auto n = int64_t(list.elems.size());
  // Each bound: an int, or none (absent); Python's clamping of slices.
  auto bound = [&](const ast::ExprPtr &e, StringRef what,
                   int64_t dflt) -> std::optional<int64_t> {
    std::optional<Value> v = indexValue(e, what, /*sliceBound=*/true, env);
    if (!v)
      return std::nullopt;
    return v->isNone() ? dflt : v->i;
  };
  if (item.kind == ast::IndexItem::Kind::Index) {
    std::optional<Value> i = indexValue(item.index, "an index", /*sliceBound=*/false, env);
    if (!i)
      return Value::poison();
    if (i->i < -n || i->i >= n) {
      error(item.loc) << fmt::format("list index {} is out of range for a list of {}", i->i, n);
      return Value::poison();
    }
    return list.elems[size_t(i->i < 0 ? i->i + n : i->i)];
  }
  std::optional<int64_t> step = bound(item.step, "a slice's step", 1);
  if (!step)
    return Value::poison();
  if (*step == 0) {
    error(item.loc) << "slice step cannot be zero";
    return Value::poison();
  }
  std::optional<int64_t> start = bound(item.start, "a slice's start", *step > 0 ? 0 : n - 1);
  std::optional<int64_t> stop = bound(item.stop, "a slice's stop", *step > 0 ? n : -n - 1);
  if (!start || !stop)
    return Value::poison();
  auto clampIndex = [&](int64_t v) {
    if (v < 0)
      v += n;
    return *step > 0 ? std::clamp<int64_t>(v, 0, n) : std::clamp<int64_t>(v, -1, n - 1);
  };
  std::vector<Value> out;
  // Steps past the list's ends stop the walk before `i` can overflow.
  for (int64_t i = clampIndex(*start), e = clampIndex(*stop); *step > 0 ? i < e : i > e;) {
    out.push_back(list.elems[size_t(i)]);
    if (*step > 0 ? *step >= e - i : *step <= e - i)
      break;
    i += *step;
  }
  return Value::list(std::move(out));
}

LogicalResult Elaborator::instantiateModuleList(Instance &list, const ast::CallExpr &call,
                                                Env &env, int depth) {
  if (call.args.size() != 1 || !call.args.front().keyword.empty()) {
    error(call.getLoc()) << "ModuleList takes one list of modules, such as "
                            "ModuleList([Block(64) for i in range(4)])";
    return failure();
  }
  const ast::Expr &arg = *call.args.front().value;
  auto addChild = [&](const ast::Expr &e, Env &in) -> LogicalResult {
    auto *sub = llvm::dyn_cast<ast::CallExpr>(&e);
    if (!sub) {
      error(e.getLoc()) << "ModuleList takes modules, such as Linear(10, 20)";
      return failure();
    }
    std::string name = std::to_string(list.children.size());
    auto child = instantiate(*sub, list.path.empty() ? name : list.path + "." + name, in,
                             depth + 1);
    if (!child)
      return failure();
    list.children.emplace_back(name, std::move(child));
    return success();
  };
  if (const auto *l = llvm::dyn_cast<ast::ListExpr>(&arg)) {
    bool ok = true;
    for (const ast::ExprPtr &e : l->elements)
      ok &= succeeded(addChild(*e, env));
    return success(ok);
  }
  if (const auto *c = llvm::dyn_cast<ast::ComprehensionExpr>(&arg))
    return forEachItem(*c, env, [&](Env &inner) { return addChild(*c->element, inner); });
  error(arg.getLoc()) << "ModuleList takes a list of modules, such as "
                         "[Block(64) for i in range(4)]";
  return failure();
}

} // namespace modelc
