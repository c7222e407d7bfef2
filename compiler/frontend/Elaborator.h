//===- Elaborator.h - Internal state of elaboration --------------*- C++ -*-===//
//
// Shared by Elaborate.cpp (the module tree and its state), MLIRGen.cpp (the
// tracing of forward), Builtins.cpp (built-in modules) and Functions.cpp
// (built-in functions). Not part of the frontend's public interface.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_FRONTEND_ELABORATOR_H
#define MODELC_FRONTEND_ELABORATOR_H

#include "frontend/AST.h"
#include "frontend/Elaborate.h"
#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVectorExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <functional>
#include <map>

namespace mlir::mdl {
class ModelOp;
} // namespace mlir::mdl

namespace modelc {

struct Instance;

//===----------------------------------------------------------------------===//
// Values of the interpreter
//===----------------------------------------------------------------------===//

/// What an expression evaluates to. Compile-time values (numbers, strings,
/// lists) are computed by the compiler; tensors are SSA values of the function
/// being traced. `Poison` stands for the result of an expression that already
/// reported an error: every use of it stays silent, so one mistake gives one
/// diagnostic.
struct Value {
  /// `Size` is a size known only at run time (the batch size N of
  /// `x: f32[N, 8]`), named by `s` in messages: reshape and expand take one,
  /// and + - * // of it with ints give another.
  enum class Kind { Poison, None, Bool, Int, Float, Str, List, Tensor, DType, Module, Size };
  Kind kind = Kind::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<Value> elems; // List elements, or several results of a call
  mlir::Value tensor;
  mlir::Type dtype;
  /// A submodule, as a `for` over a ModuleList binds it: it can be called.
  Instance *module = nullptr;

  static Value poison() { return make(Kind::Poison); }
  static Value none() { return make(Kind::None); }
  static Value boolean(bool v) { Value r = make(Kind::Bool); r.b = v; return r; }
  static Value integer(int64_t v) { Value r = make(Kind::Int); r.i = v; return r; }
  static Value real(double v) { Value r = make(Kind::Float); r.f = v; return r; }
  static Value str(std::string v) { Value r = make(Kind::Str); r.s = std::move(v); return r; }
  static Value list(std::vector<Value> v) { Value r = make(Kind::List); r.elems = std::move(v); return r; }
  /// A list of ints (shapes, dims), as the built-ins take them.
  static Value ints(llvm::ArrayRef<int64_t> v) {
    std::vector<Value> items;
    for (int64_t i : v)
      items.push_back(integer(i));
    return list(std::move(items));
  }
  static Value ofTensor(mlir::Value v) { Value r = make(Kind::Tensor); r.tensor = v; return r; }
  static Value ofDType(mlir::Type t) { Value r = make(Kind::DType); r.dtype = t; return r; }
  static Value ofModule(Instance *m) { Value r = make(Kind::Module); r.module = m; return r; }
  static Value runtimeSize(std::string what) { Value r = make(Kind::Size); r.s = std::move(what); return r; }

  bool isPoison() const { return kind == Kind::Poison; }
  bool isNone() const { return kind == Kind::None; }
  bool isTensor() const { return kind == Kind::Tensor; }
  bool isNumber() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  double number() const { return kind == Kind::Float ? f : kind == Kind::Int ? double(i) : double(b); }
  mlir::RankedTensorType type() const {
    return llvm::cast<mlir::RankedTensorType>(tensor.getType());
  }

  /// A short description for diagnostics: "int", "a tensor of shape [2, 3]".
  std::string describe() const;

private:
  static Value make(Kind k) { Value v; v.kind = k; return v; }
};

/// PyTorch's way of printing a shape: `[2, ?]`, with `?` for a dynamic size.
inline std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  return mlir::mdl::shape::format(shape);
}
/// `f32`, `i64`, ... as the language spells dtypes.
std::string formatDType(mlir::Type type);

//===----------------------------------------------------------------------===//
// The module tree
//===----------------------------------------------------------------------===//

enum class StateRole { Parameter, PersistentBuffer, NonPersistentBuffer, Constant };

/// One state entry with its state-dict name and initializer, reduced to one
/// of the dialect's three distributions: full(v), uniform(lo, hi), normal(m, s).
struct StateEntry {
  std::string fullName;
  std::string localName;
  StateRole role;
  mlir::RankedTensorType type;
  std::string init;
  llvm::SmallVector<double, 2> initArgs;
  mlir::Location loc;
  /// param(requires_grad=false): trained by nothing until the runtime
  /// unfreezes it.
  bool frozen = false;
};

/// The container module: it takes modules, not values, as its arguments, so it
/// is part of the language rather than a row of the built-in modules' table.
inline constexpr llvm::StringLiteral kSequential = "Sequential";
/// torch.nn.ModuleList: children named 0, 1, ... as Sequential's, but not
/// callable; forward iterates over it with `for`.
inline constexpr llvm::StringLiteral kModuleList = "ModuleList";

/// One instantiated module: a user module, a built-in one or a Sequential.
struct Instance {
  std::string typeName; // BasicBlock, Linear, Sequential
  std::string path;     // layer1.0 (empty for the model)
  mlir::Location loc;
  const ast::ModuleDecl *decl = nullptr; // user modules only
  llvm::StringMap<Value> args;           // bound constructor arguments
  std::vector<StateEntry> states;        // params, then buffers, then consts
  std::vector<std::pair<std::string, std::unique_ptr<Instance>>> children;
  /// Members whose trailing `if` was false: they do not exist, as PyTorch's
  /// `None` entries, and using one in forward is an error.
  llvm::StringMap<mlir::Location> absent;
  /// Members whose declaration had an error: already reported, so forward
  /// treats their uses as poison and reports the independent errors only.
  llvm::StringSet<> broken;

  Instance(std::string typeName, std::string path, mlir::Location loc)
      : typeName(std::move(typeName)), path(std::move(path)), loc(loc) {}

  std::string qualify(llvm::StringRef local) const {
    return path.empty() ? local.str() : path + "." + local.str();
  }
  const StateEntry *findState(llvm::StringRef local) const;
  Instance *findChild(llvm::StringRef local) const;
};

//===----------------------------------------------------------------------===//
// Signatures of built-ins
//===----------------------------------------------------------------------===//

enum class ArgType {
  Any,
  Tensor,         // a tensor
  OptTensor,      // a tensor or none
  TensorOrNumber, // a tensor or a number (pow's exponent)
  TensorList,     // [t1, t2]
  Int,
  OptInt,
  Float,
  OptFloat,
  Bool,
  Str,
  IntOrInts,      // 3 or [3, 3]
  OptIntOrInts,   // none, 3 or [3, 3]
  OptInts,        // none or [0, 2] (or a single int)
  Ints,           // [2, -1] (or a single int)
  Shape,          // [N, 4, -1]: Ints where one size may be known at run time only
  Padding,        // a convolution's: IntOrInts, "same" or "valid"
  DType,          // f64 or "f64"
};

struct ParamSpec {
  llvm::StringRef name;
  ArgType type;
  std::optional<Value> def; // nullopt: required
};

using Signature = std::vector<ParamSpec>;

/// The row named `name` of a table of built-ins (functions, modules,
/// initializers: each a vector of rows with a `name`), or null.
template <typename Row>
const Row *findBuiltin(const std::vector<Row> &table, llvm::StringRef name) {
  auto it = llvm::find_if(table, [&](const Row &r) { return r.name == name; });
  return it == table.end() ? nullptr : &*it;
}

/// The names in a table of built-ins, in its order, for "did you mean".
template <typename Row>
llvm::SmallVector<llvm::StringRef> builtinNames(const std::vector<Row> &table) {
  return llvm::map_to_vector(table, [](const Row &r) { return r.name; });
}

/// An evaluated call argument.
struct ArgValue {
  std::string keyword;
  mlir::Location loc;
  Value value;
};

//===----------------------------------------------------------------------===//
// The elaborator
//===----------------------------------------------------------------------===//

/// Where names are looked up: the instance whose members and constructor
/// arguments are visible, and, inside forward, its local variables.
struct Env {
  Instance *self = nullptr;
  llvm::StringMap<Value> *locals = nullptr; // null outside forward
  /// The names a comprehension binds, looked up first; they shadow the rest
  /// for the comprehension's element only.
  const llvm::StringMap<Value> *bound = nullptr;
  bool inForward() const { return locals != nullptr; }
};

class Elaborator {
public:
  Elaborator(const ast::File &file, mlir::MLIRContext *ctx, const ElaborateLimits &limits);

  mlir::OwningOpRef<mlir::ModuleOp> run(llvm::StringRef modelName);

  // ---- Elaborate.cpp: the module tree ------------------------------------
  std::unique_ptr<Instance> instantiate(const ast::CallExpr &call, std::string path,
                                        Env &env, int depth);
  std::unique_ptr<Instance> instantiateUser(const ast::ModuleDecl &decl,
                                            const ast::CallExpr *call, std::string path,
                                            Env &env, int depth);
  mlir::LogicalResult declareState(Instance &inst, const ast::StateDecl &decl, Env &env);
  void collectStates(const Instance &inst, std::vector<const StateEntry *> &out) const;
  /// The names of the initializers (zeros, kaiming_uniform, ...), in their
  /// table's order.
  static llvm::SmallVector<llvm::StringRef> initializerNames();

  /// Binds evaluated arguments to a signature, checking kinds and converting
  /// ints to floats where a float is expected. `what` names the callee.
  std::optional<llvm::StringMap<Value>> bind(const Signature &sig,
                                             llvm::ArrayRef<ArgValue> args,
                                             llvm::StringRef what, mlir::Location loc);
  std::optional<std::vector<ArgValue>> evaluateArgs(const std::vector<ast::Argument> &args,
                                                    Env &env);

  mlir::FailureOr<mlir::RankedTensorType> resolveType(const ast::TensorTypeExpr &type,
                                                      Env &env, bool allowDynamic);
  /// Binds the dimension names of a forward argument's declared `type` that
  /// are not constructor arguments (`B, T, C` of `x: f32[B, T, C]`) to the
  /// sizes of `actual`: ints, or run-time sizes.
  void bindDimNames(const ast::TensorTypeExpr &type, mlir::RankedTensorType actual, Env &env);
  mlir::FailureOr<mlir::Type> parseDType(llvm::StringRef name, mlir::Location loc);
  /// Converts a list or a single int to `arity` ints (`3` -> `[3, 3]`).
  std::optional<llvm::SmallVector<int64_t>> toInts(const Value &v, size_t arity,
                                                   llvm::StringRef what, mlir::Location loc);

  // ---- Builtins.cpp: built-in modules -------------------------------------
  static bool isBuiltinModule(llvm::StringRef name);
  /// The named inputs of a built-in module's forward that takes several,
  /// with their defaults; null for the others.
  static const Signature *builtinModuleInputs(llvm::StringRef name);
  /// The names of the built-in modules, in the table's order.
  static llvm::SmallVector<llvm::StringRef> builtinModuleNames();
  mlir::LogicalResult instantiateBuiltin(Instance &inst, llvm::ArrayRef<ArgValue> args,
                                         Env &env, int depth, const ast::CallExpr &call);
  Value callBuiltinModule(Instance &inst, llvm::ArrayRef<Value> inputs, mlir::Location loc);

  // ---- Functions.cpp: built-in functions ----------------------------------
  static bool isBuiltinFunction(llvm::StringRef name);
  /// The names of the built-in functions, in the table's order.
  static llvm::SmallVector<llvm::StringRef> builtinFunctionNames();
  Value callFunction(const ast::CallExpr &call, Env &env);
  /// The built-in function `name` with evaluated arguments.
  Value callFunctionWith(llvm::StringRef name, llvm::ArrayRef<ArgValue> args, Env &env,
                         mlir::Location loc);
  /// `x.name(args)` and `x.name`: the function of that name with x first,
  /// and PyTorch's methods and attributes that have none (float(), shape).
  Value callMethod(const ast::CallExpr &call, Env &env);
  /// Calls built-in function `fn` with `argument(p)` for each parameter `p` of
  /// its signature; how a built-in module's forward calls its function.
  /// `what` names the callee in diagnostics ("Softmax").
  Value applyFunction(llvm::StringRef fn, llvm::StringRef what,
                      llvm::function_ref<Value(const ParamSpec &)> argument,
                      mlir::Location loc);
  /// applyFunction with the arguments `args` by name, the rest at their
  /// defaults.
  Value applyFunction(llvm::StringRef fn, llvm::StringRef what,
                      llvm::ArrayRef<std::pair<llvm::StringRef, Value>> args,
                      mlir::Location loc);
  /// Compile-time arithmetic on numbers and the elementwise ops on tensors.
  Value binary(ast::BinaryOp op, const Value &lhs, const Value &rhs, mlir::Location loc);
  // Emitters of the functions whose diagnostics name the callee: `what` is
  // "linear" for the function and "Linear" for the module that calls it.
  Value emitLinear(const Value &x, mlir::Value w, mlir::Value b, llvm::StringRef what,
                   mlir::Location loc);
  Value emitConv2d(const Value &x, mlir::Value w, mlir::Value b, llvm::ArrayRef<int64_t> stride,
                   llvm::ArrayRef<int64_t> padding, llvm::ArrayRef<int64_t> dilation,
                   int64_t groups, llvm::StringRef what, mlir::Location loc);
  Value emitPool(bool isMax, const Value &x, llvm::ArrayRef<int64_t> kernel,
                 llvm::ArrayRef<int64_t> stride, llvm::ArrayRef<int64_t> padding,
                 bool countIncludePad, llvm::StringRef what, mlir::Location loc);
  Value emitAdaptiveAvgPool(const Value &x, llvm::ArrayRef<int64_t> out, llvm::StringRef what,
                            mlir::Location loc);
  Value emitSoftmax(const Value &x, std::optional<int64_t> dim, bool isLog,
                    llvm::StringRef what, mlir::Location loc);
  Value emitFlatten(const Value &x, int64_t start, int64_t end, llvm::StringRef what,
                    mlir::Location loc);
  Value emitLayerNorm(const Value &x, llvm::ArrayRef<int64_t> normalizedShape, mlir::Value w,
                      mlir::Value b, double eps, llvm::StringRef what, mlir::Location loc);
  /// `paddingIdx`: the row that gets no gradient (negative counts from the
  /// end), as torch.nn.Embedding's.
  Value emitEmbedding(const Value &indices, mlir::Value w, std::optional<int64_t> paddingIdx,
                      llvm::StringRef what, mlir::Location loc);
  Value emitDropout(const Value &x, double p, bool active, mlir::Location loc);
  /// `x[items]`: Python's indexing of a tensor by compile-time indices and
  /// slices (select and narrow along each dimension).
  Value emitIndex(const Value &x, const ast::IndexExpr &index, Env &env);
  /// The compile-time int of an index or slice bound `e` (`what` names it in
  /// the error), none where it is absent, or a `sliceBound` given as none
  /// (Python's x[None:3]); nullopt after an error.
  std::optional<Value> indexValue(const ast::ExprPtr &e, llvm::StringRef what, bool sliceBound,
                                  Env &env);
  /// The loss function `name` (cross_entropy, mse_loss, ...; Losses.cpp)
  /// with its arguments bound.
  Value emitLoss(llvm::StringRef name, llvm::StringMap<Value> &args, llvm::StringRef what,
                 mlir::Location loc);

  // ---- MLIRGen.cpp: tracing forward ---------------------------------------
  Value evaluate(const ast::Expr &expr, Env &env);
  Value callModule(Instance &inst, llvm::ArrayRef<Value> inputs, mlir::Location loc);

  // ---- Loops.cpp: compile-time iteration and Python's built-ins ----------
  /// Python's range, len, enumerate, zip, float, int, min and max, computed
  /// at compile time; null when `call` is none of them.
  std::optional<Value> callPythonBuiltin(const ast::CallExpr &call, Env &env);
  static bool isPythonBuiltin(llvm::StringRef name);
  /// The items a `for` or a comprehension iterates over: a list's elements,
  /// or a ModuleList's or Sequential's modules. Reports and fails otherwise.
  mlir::FailureOr<std::vector<Value>> iterate(const Value &iterable, mlir::Location loc);
  /// Binds one item to the names of a `for` (one name, or a list unpacked).
  mlir::LogicalResult bindTargets(llvm::ArrayRef<std::string> targets, const Value &item,
                                  llvm::StringMap<Value> &into, mlir::Location loc);
  /// Runs `body` once per item of a comprehension, with its names bound in
  /// the Env it is given; stops at the first failure.
  mlir::LogicalResult forEachItem(const ast::ComprehensionExpr &c, Env &env,
                                  llvm::function_ref<mlir::LogicalResult(Env &)> body);
  Value evaluateComprehension(const ast::ComprehensionExpr &c, Env &env);
  /// `l[i]` and `l[a:b:s]` of a compile-time list, as Python's (x.shape[1:]).
  Value indexList(const Value &list, const ast::IndexExpr &index, Env &env);
  /// The modules of a ModuleList's argument: a list of module calls or a
  /// comprehension of one, instantiated as children 0, 1, ...
  mlir::LogicalResult instantiateModuleList(Instance &list, const ast::CallExpr &call, Env &env,
                                            int depth);
  /// Evaluates `call`'s arguments (by position only; `what` names the
  /// callee in the message otherwise) and calls `inst`'s forward with them.
  Value callWithInputs(Instance &inst, const ast::CallExpr &call, Env &env,
                       const std::string &what);
  mlir::LogicalResult traceForward(Instance &model, bool training, mlir::mdl::ModelOp modelOp);
  /// Traces the model's `loss` into @loss_eval / @loss_train: its one
  /// result must be a 0-d f32; `forward(...)` in its body calls the model.
  mlir::LogicalResult traceLoss(Instance &model, bool training, mlir::mdl::ModelOp modelOp);
  /// The shared part of traceForward and traceLoss.
  mlir::FailureOr<mlir::func::FuncOp> traceMethod(Instance &model, const ast::ForwardDecl &method,
                                                  llvm::StringRef what, llvm::StringRef fnName,
                                                  bool training, mlir::mdl::ModelOp modelOp);
  Value readState(Instance &inst, const StateEntry &entry, mlir::Location loc);
  mlir::LogicalResult writeState(Instance &inst, const ast::WriteStmt &stmt, Env &env);

  // ---- Tensor helpers (MLIRGen.cpp) ---------------------------------------
  mlir::Value scalar(double v, mlir::Type elementType, mlir::Location loc);
  /// A constant of `type` with every element `v`.
  mlir::Value splat(double v, mlir::RankedTensorType type, mlir::Location loc);
  /// An f32 tensor constant of `shape` holding `values` (row-major).
  mlir::Value denseF32(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<float> values,
                       mlir::Location loc);
  /// The causal attention bias [l, s] of the queries from `firstRow` on: 0
  /// where the key's column is at most the query's row, -inf after it, as
  /// PyTorch's tril mask.
  mlir::Value causalBias(int64_t l, int64_t s, int64_t firstRow, mlir::Location loc);
  mlir::Value castTo(mlir::Value v, mlir::Type elementType, mlir::Location loc);
  /// The tensor form of a value: numbers become rank-0 tensors of `like`'s
  /// element type (or f32/i64 when there is none).
  mlir::Value asTensor(const Value &v, mlir::Type like, mlir::Location loc);
  mlir::RankedTensorType tensorOf(llvm::ArrayRef<int64_t> shape, mlir::Type elt) {
    return mlir::RankedTensorType::get(shape, elt);
  }

  // ---- Diagnostics -------------------------------------------------------
  mlir::InFlightDiagnostic error(mlir::Location loc) {
    hadError = true;
    return mlir::emitError(loc);
  }

  // ---- Limits ------------------------------------------------------------
  /// A bound on what elaboration builds (ElaborateLimits says why), so that
  /// input past it ends in an error rather than in exhausting memory or time.
  struct Limit {
    const char *message; // "...more than {} module instances...", {} the bound
    int64_t max;
    int64_t count = 0;
    bool reported = false;
  };
  /// Fails once `limit.count` is past its bound, or any limit was, reporting
  /// at `loc` only the first limit passed: the same cause then stops every
  /// other branch quietly.
  mlir::LogicalResult checkLimit(Limit &limit, mlir::Location loc);
  /// Counts one more state entry, named `fullName`, against its limits.
  mlir::LogicalResult countState(llvm::StringRef fullName, mlir::Location loc);
  // The bounds come from the constructor's ElaborateLimits.
  Limit instances{"the model has more than {} module instances, a limit of modelc; does a "
                  "module create several of its own kind at each level?",
                  0};
  Limit states{"the model has more than {} state entries, a limit of modelc", 0};
  /// The instances' paths and the state entries' full names, which grow with
  /// the depth: 4,000-character member names, 16 deep, are 64 KB a name.
  Limit nameBytes{"the model's module paths and state names take more than {} bytes, a "
                  "limit of modelc",
                  0};
  /// The elements of every constant, which are drawn at compile time and
  /// compiled in (mdl::kMaxModelConstantElements; one constant alone is
  /// checked against mdl::kMaxConstantElements where it is declared).
  Limit constantElements{"the model's constants have more than {} elements in all, a limit "
                         "of modelc",
                         0};
  /// One constant's elements (mdl::kMaxConstantElements, or lower).
  int64_t maxConstantElements = 0;
  /// Counts the elements of constant `entry`, declared at `loc`, against
  /// their limits.
  mlir::LogicalResult countConstant(const StateEntry &entry, mlir::Location loc);
  /// Per traced function, counted by `opCounter` as `builder` inserts them.
  Limit ops{"forward traces into more than {} ops, a limit of modelc", 0};
  /// Per traced function: a module called twice by each caller, zero ops
  /// apiece, is as much work as a large tree.
  Limit moduleCalls{"forward makes more than {} module calls, a limit of modelc", 0};
  /// Loops and comprehensions: an empty body adds no op, so count the turns.
  Limit iterations{"loops and comprehensions run more than {} times in all, a limit of modelc",
                   0};
  bool limitReached() const {
    return instances.reported || states.reported || nameBytes.reported ||
           constantElements.reported || ops.reported || moduleCalls.reported ||
           iterations.reported;
  }

  struct OpCounter : mlir::OpBuilder::Listener {
    int64_t *count;
    explicit OpCounter(int64_t *count) : count(count) {}
    void notifyOperationInserted(mlir::Operation *, mlir::OpBuilder::InsertPoint) override {
      ++*count;
    }
  };
  /// Checks a tensor argument and reports "`what` expects a tensor" otherwise.
  bool expectTensor(const Value &v, llvm::StringRef what, mlir::Location loc);

  const ast::File &file;
  mlir::MLIRContext *ctx;
  OpCounter opCounter{&ops.count};
  mlir::OpBuilder builder;
  bool hadError = false;
  bool training = false;
  ElaborateOptions options;
  /// While tracing `loss`: the model, whose forward `forward(...)` calls.
  Instance *lossModel = nullptr;

  llvm::StringMap<const ast::ModuleDecl *> modules;
  /// While tracing: the current value of every state entry already read or
  /// written in this function, so that a read after `<-` sees the new value.
  llvm::StringMap<mlir::Value> stateValues;
  /// The user modules being instantiated, to stop unbounded recursion.
  static constexpr int kMaxDepth = 64;
};

/// Suggests the closest of `candidates` to `name`, for "did you mean" notes.
std::optional<std::string> closestMatch(llvm::StringRef name,
                                        llvm::ArrayRef<llvm::StringRef> candidates);

} // namespace modelc

#endif // MODELC_FRONTEND_ELABORATOR_H
