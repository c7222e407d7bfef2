//===- AST.h - Abstract syntax tree of the .mdl language ---------*- C++ -*-===//
//
// The parser builds this tree; elaboration interprets it. Every node carries
// the location of the token that starts it, so that each later stage reports
// errors at the right line and column of the user's file.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_FRONTEND_AST_H
#define MODELC_FRONTEND_AST_H

#include "mlir/IR/Location.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace modelc {
namespace ast {

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class Expr;
using ExprPtr = std::unique_ptr<Expr>;

class Expr {
public:
  enum class Kind {
    Int,    // 42
    Float,  // 0.5, 1e-5
    String, // "none"
    Bool,   // true, false
    None,   // none
    Name,   // x, training
    List,   // [a, b]
    Unary,  // -x, not x
    Binary, // a + b, a == b, a and b, a @ b
    Call,   // f(a, key=b)
    Index,  // x[:, 0], x[..., a:b]
    Comprehension, // [Block(d) for i in range(n)]
  };

  Expr(Kind kind, mlir::Location loc) : kind(kind), loc(loc) {}
  virtual ~Expr() = default;

  Kind getKind() const { return kind; }
  mlir::Location getLoc() const { return loc; }

private:
  const Kind kind;
  mlir::Location loc;
};

class IntExpr : public Expr {
public:
  IntExpr(mlir::Location loc, int64_t value) : Expr(Kind::Int, loc), value(value) {}
  int64_t value;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Int; }
};

class FloatExpr : public Expr {
public:
  FloatExpr(mlir::Location loc, double value) : Expr(Kind::Float, loc), value(value) {}
  double value;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Float; }
};

class StringExpr : public Expr {
public:
  StringExpr(mlir::Location loc, std::string value)
      : Expr(Kind::String, loc), value(std::move(value)) {}
  std::string value;
  static bool classof(const Expr *e) { return e->getKind() == Kind::String; }
};

class BoolExpr : public Expr {
public:
  BoolExpr(mlir::Location loc, bool value) : Expr(Kind::Bool, loc), value(value) {}
  bool value;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Bool; }
};

class NoneExpr : public Expr {
public:
  explicit NoneExpr(mlir::Location loc) : Expr(Kind::None, loc) {}
  static bool classof(const Expr *e) { return e->getKind() == Kind::None; }
};

class NameExpr : public Expr {
public:
  NameExpr(mlir::Location loc, std::string name)
      : Expr(Kind::Name, loc), name(std::move(name)) {}
  std::string name;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Name; }
};

class ListExpr : public Expr {
public:
  ListExpr(mlir::Location loc, std::vector<ExprPtr> elements)
      : Expr(Kind::List, loc), elements(std::move(elements)) {}
  std::vector<ExprPtr> elements;
  static bool classof(const Expr *e) { return e->getKind() == Kind::List; }
};

enum class UnaryOp { Neg, Not };

class UnaryExpr : public Expr {
public:
  UnaryExpr(mlir::Location loc, UnaryOp op, ExprPtr operand)
      : Expr(Kind::Unary, loc), op(op), operand(std::move(operand)) {}
  UnaryOp op;
  ExprPtr operand;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Unary; }
};

enum class BinaryOp {
  Add, Sub, Mul, Div, MatMul,
  FloorDiv, Mod, Pow, // //, %, ** (Python's)
  Eq, Ne, Lt, Le, Gt, Ge,
  And, Or,
};

/// The operator's spelling, for diagnostics.
llvm::StringRef spell(BinaryOp op);

class BinaryExpr : public Expr {
public:
  BinaryExpr(mlir::Location loc, BinaryOp op, ExprPtr lhs, ExprPtr rhs)
      : Expr(Kind::Binary, loc), op(op), lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  BinaryOp op;
  ExprPtr lhs, rhs;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Binary; }
};

/// One argument of a call: positional when `keyword` is empty.
struct Argument {
  std::string keyword;
  mlir::Location keywordLoc; // location of the keyword, or of the value
  ExprPtr value;
};

class CallExpr : public Expr {
public:
  CallExpr(mlir::Location loc, std::string callee, std::vector<Argument> args)
      : Expr(Kind::Call, loc), callee(std::move(callee)), args(std::move(args)) {}
  std::string callee; // a submodule, a built-in module or a built-in function
  std::vector<Argument> args;
  /// `x.view(2, -1)`: a method of the tensor in args[0]; `x.shape` (an
  /// attribute) has no parentheses.
  enum class Form { Call, Method, Attribute } form = Form::Call;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Call; }
};

/// One item of `x[...]`: an index (`0`, `-1`), a slice (`a:b`, `:`, `::s`)
/// or `...`.
struct IndexItem {
  enum class Kind { Index, Slice, Ellipsis };
  Kind kind;
  mlir::Location loc;
  ExprPtr index;             // Index
  ExprPtr start, stop, step; // Slice: each may be null
};

class IndexExpr : public Expr {
public:
  IndexExpr(mlir::Location loc, ExprPtr base, std::vector<IndexItem> items)
      : Expr(Kind::Index, loc), base(std::move(base)), items(std::move(items)) {}
  ExprPtr base;
  std::vector<IndexItem> items;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Index; }
};

/// `[element for a, b in iterable]`: a list built at compile time, as
/// Python's; the names are bound for `element` only.
class ComprehensionExpr : public Expr {
public:
  ComprehensionExpr(mlir::Location loc, ExprPtr element, std::vector<std::string> targets,
                    ExprPtr iterable)
      : Expr(Kind::Comprehension, loc), element(std::move(element)),
        targets(std::move(targets)), iterable(std::move(iterable)) {}
  ExprPtr element;
  std::vector<std::string> targets;
  ExprPtr iterable;
  static bool classof(const Expr *e) { return e->getKind() == Kind::Comprehension; }
};

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

/// `f32[N, features]`: a dtype name and one expression per dimension. A
/// dimension that names no constructor argument is a dynamic size.
struct TensorTypeExpr {
  mlir::Location loc;
  std::string dtype;
  mlir::Location dtypeLoc;
  std::vector<ExprPtr> dims;
};

//===----------------------------------------------------------------------===//
// Statements of forward
//===----------------------------------------------------------------------===//

class Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Block = std::vector<StmtPtr>;

class Stmt {
public:
  enum class Kind { Assign, Write, Return, If, For };
  Stmt(Kind kind, mlir::Location loc) : kind(kind), loc(loc) {}
  virtual ~Stmt() = default;
  Kind getKind() const { return kind; }
  mlir::Location getLoc() const { return loc; }

private:
  const Kind kind;
  mlir::Location loc;
};

/// `x = e` or `a, b = e`.
class AssignStmt : public Stmt {
public:
  AssignStmt(mlir::Location loc, std::vector<std::string> targets,
             std::vector<mlir::Location> targetLocs, ExprPtr value)
      : Stmt(Kind::Assign, loc), targets(std::move(targets)),
        targetLocs(std::move(targetLocs)), value(std::move(value)) {}
  std::vector<std::string> targets;
  std::vector<mlir::Location> targetLocs;
  ExprPtr value;
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Assign; }
};

/// `buf <- e`.
class WriteStmt : public Stmt {
public:
  WriteStmt(mlir::Location loc, std::string target, ExprPtr value)
      : Stmt(Kind::Write, loc), target(std::move(target)), value(std::move(value)) {}
  std::string target;
  ExprPtr value;
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Write; }
};

/// `return e1, e2`.
class ReturnStmt : public Stmt {
public:
  ReturnStmt(mlir::Location loc, std::vector<ExprPtr> values)
      : Stmt(Kind::Return, loc), values(std::move(values)) {}
  std::vector<ExprPtr> values;
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Return; }
};

/// `if c { ... } else { ... }`; `else if` nests an IfStmt in `elseBlock`.
class IfStmt : public Stmt {
public:
  IfStmt(mlir::Location loc, ExprPtr cond, Block thenBlock, Block elseBlock)
      : Stmt(Kind::If, loc), cond(std::move(cond)), thenBlock(std::move(thenBlock)),
        elseBlock(std::move(elseBlock)) {}
  ExprPtr cond;
  Block thenBlock, elseBlock;
  static bool classof(const Stmt *s) { return s->getKind() == Kind::If; }
};

/// `for a, b in iterable { ... }`: unrolled at compile time over a list, a
/// `range(...)` or a ModuleList; the names stay bound after the loop, as in
/// Python.
class ForStmt : public Stmt {
public:
  ForStmt(mlir::Location loc, std::vector<std::string> targets,
          std::vector<mlir::Location> targetLocs, ExprPtr iterable, Block body)
      : Stmt(Kind::For, loc), targets(std::move(targets)), targetLocs(std::move(targetLocs)),
        iterable(std::move(iterable)), body(std::move(body)) {}
  std::vector<std::string> targets;
  std::vector<mlir::Location> targetLocs;
  ExprPtr iterable;
  Block body;
  static bool classof(const Stmt *s) { return s->getKind() == Kind::For; }
};

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

/// A constructor argument: `stride: int = 1`.
struct ParamDecl {
  mlir::Location loc;
  std::string name;
  std::string type; // int, float, bool, str, ints
  mlir::Location typeLoc;
  ExprPtr defaultValue; // may be null
};

enum class StateKind { Param, Buffer, Const };

/// `param w: f32[out, in] = kaiming_uniform() if cond`.
/// `buffer(persistent=false) n: f32[] = 0`.
struct StateDecl {
  mlir::Location loc;
  StateKind kind;
  std::vector<Argument> options; // buffer(persistent=false), param(requires_grad=false)
  std::string name;
  mlir::Location nameLoc;
  TensorTypeExpr type;
  ExprPtr init;
  ExprPtr condition; // trailing `if`, may be null
};

/// `conv1 = Conv2d(3, 64, 7) if cond`.
struct SubmoduleDecl {
  mlir::Location loc;
  std::string name;
  ExprPtr value; // a CallExpr of a module
  ExprPtr condition; // may be null
};

/// An argument of forward: `x: f32[N, 100]` or plain `x`.
struct ForwardArg {
  mlir::Location loc;
  std::string name;
  std::optional<TensorTypeExpr> type;
};

struct ForwardDecl {
  mlir::Location loc;
  std::vector<ForwardArg> args;
  std::vector<TensorTypeExpr> results; // the optional `-> t1, t2`
  Block body;
};

/// `module Name(args) { ... }` or `model Name { ... }`.
struct ModuleDecl {
  mlir::Location loc;
  bool isModel = false;
  std::string name;
  std::vector<ParamDecl> params;
  std::vector<StateDecl> states;
  std::vector<SubmoduleDecl> submodules;
  std::optional<ForwardDecl> forward;
  /// A model's `loss(...) -> f32[] { ... }`: what training differentiates
  /// (spec/TRAINING.md). Same form as forward.
  std::optional<ForwardDecl> loss;
};

struct File {
  std::string path;
  std::vector<std::unique_ptr<ModuleDecl>> modules;
};

} // namespace ast
} // namespace modelc

#endif // MODELC_FRONTEND_AST_H
