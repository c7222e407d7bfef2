//===- Parser.cpp - Recursive-descent parser of the .mdl language ---------===//
//
// One method per grammar rule, with the rule in the comment above it.
//
// Conventions:
//  * A parse method that fails has already reported its error; its callers
//    only propagate the failure, so one mistake gives one error.
//  * Only the loops over members (parseModuleBody), statements (parseBlock)
//    and declarations (parseFile) recover: they skip tokens, tracking bracket
//    depth, to the next plausible start of a member / statement / module and
//    go on, so independent errors are all reported.
//  * Every loop consumes a token or exits; nesting deeper than kMaxNesting
//    (recursion of the parser) or an expression tree deeper than
//    kMaxExprDepth (long operator chains) is a fatal error.
//
//===----------------------------------------------------------------------===//

#include "Parser.h"
#include "Lexer.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <deque>

using namespace modelc;
using namespace modelc::ast;

llvm::StringRef modelc::ast::spell(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add: return "+";
  case BinaryOp::Sub: return "-";
  case BinaryOp::Mul: return "*";
  case BinaryOp::Div: return "/";
  case BinaryOp::MatMul: return "@";
  case BinaryOp::FloorDiv: return "//";
  case BinaryOp::Mod: return "%";
  case BinaryOp::Pow: return "**";
  case BinaryOp::Eq: return "==";
  case BinaryOp::Ne: return "!=";
  case BinaryOp::Lt: return "<";
  case BinaryOp::Le: return "<=";
  case BinaryOp::Gt: return ">";
  case BinaryOp::Ge: return ">=";
  case BinaryOp::And: return "and";
  case BinaryOp::Or: return "or";
  }
  return "?";
}

namespace {

constexpr unsigned kMaxNesting = 200;
constexpr unsigned kMaxExprDepth = 1000;

/// An expression being built, with the depth of its tree.
struct Parsed {
  ExprPtr expr;
  unsigned depth = 0;
  explicit operator bool() const { return expr != nullptr; }
};

class Parser {
public:
  Parser(llvm::StringRef path, llvm::StringRef buffer, mlir::MLIRContext *ctx,
         unsigned maxErrors)
      : path(path), fileAttr(mlir::StringAttr::get(ctx, path)), maxErrors(maxErrors),
        lexer(buffer, [this](unsigned line, unsigned col, const std::string &msg) {
          report(locAt(line, col), msg);
        }) {}

  std::unique_ptr<File> parse();

private:
  //===--------------------------------------------------------------------===//
  // Tokens
  //===--------------------------------------------------------------------===//

  /// The token `ahead` tokens after the current one (Eof past the end, and
  /// everywhere once parsing has stopped).
  const Token &tok(size_t ahead = 0) {
    if (stopped)
      return eofTok;
    while (toks.size() <= pos + ahead) {
      if (!toks.empty() && toks.back().is(Tok::Eof))
        return toks.back();
      toks.push_back(lexer.next());
      if (stopped) // the lexer reported the error that stopped us
        return eofTok;
    }
    return toks[pos + ahead];
  }
  const Token &cur() { return tok(0); }
  bool at(Tok k) { return cur().is(k); }
  /// Consumes the current token and returns it (Eof is never consumed).
  Token take() {
    Token t = cur();
    if (!t.is(Tok::Eof) && !stopped)
      ++pos;
    return t;
  }

  mlir::Location locAt(unsigned line, unsigned col) {
    return mlir::FileLineColLoc::get(fileAttr, line, col);
  }
  mlir::Location loc(const Token &t) { return locAt(t.line, t.col); }

  static bool isOpener(Tok k) {
    return k == Tok::LParen || k == Tok::LBracket || k == Tok::LBrace;
  }
  static bool isCloser(Tok k) {
    return k == Tok::RParen || k == Tok::RBracket || k == Tok::RBrace;
  }
  /// Keywords that start a member or a module: they never appear inside an
  /// expression or a statement, so recovery always stops at them.
  static bool isDeclKeyword(Tok k) {
    return k == Tok::KwParam || k == Tok::KwBuffer || k == Tok::KwConst ||
           k == Tok::KwForward || k == Tok::KwModule || k == Tok::KwModel;
  }

  //===--------------------------------------------------------------------===//
  // Diagnostics
  //===--------------------------------------------------------------------===//

  /// Reports an error, with an optional note; stops parsing after maxErrors
  /// (never when it is 0).
  void report(mlir::Location at, const llvm::Twine &msg,
              std::optional<mlir::Location> noteLoc = std::nullopt,
              const llvm::Twine &note = "") {
    if (stopped)
      return;
    ++numErrors;
    mlir::InFlightDiagnostic diag = mlir::emitError(at);
    diag << msg.str();
    if (noteLoc)
      diag.attachNote(*noteLoc) << note.str();
    if (maxErrors && numErrors >= maxErrors) {
      diag.attachNote(at) << "too many errors; stopping";
      stopped = true;
    }
  }

  /// A fatal error: report it and stop parsing.
  void fatal(mlir::Location at, const llvm::Twine &msg) {
    report(at, msg);
    stopped = true;
  }

  /// How a token is shown in "found ..." messages.
  static std::string describe(const Token &t) {
    switch (t.kind) {
    case Tok::Eof:
      return "end of file";
    case Tok::String: {
      std::string s = t.text.str();
      if (s.size() > 24)
        s = s.substr(0, 20) + "...";
      return "string " + s;
    }
    case Tok::Ident:
    case Tok::Int:
    case Tok::Float:
      return "'" + t.text.str() + "'";
    default:
      return "'" + spell(t.kind).str() + "'";
    }
  }

  /// "expected WHAT, found TOKEN", or "unexpected end of file; expected WHAT"
  /// (once: an unfinished file gives one error, not one per open construct).
  void expected(const llvm::Twine &what, const llvm::Twine &suffix = "") {
    const Token &t = cur();
    if (t.is(Tok::Error)) // the lexer has reported it
      return;
    if (t.is(Tok::Eof)) {
      if (eofReported)
        return;
      eofReported = true;
      report(loc(t), "unexpected end of file; expected " + what + suffix);
      return;
    }
    report(loc(t), "expected " + what + ", found " + describe(t) + suffix);
  }

  /// Consumes the closing bracket `close` of `open`, or reports
  /// "expected ')' to close '(' but found '}'" with a note at the opener.
  bool expectClose(Tok close, const Token &open,
                   llvm::StringRef what = llvm::StringRef()) {
    if (at(close)) {
      take();
      return true;
    }
    reportUnclosed(close, open, what);
    return false;
  }

  void reportUnclosed(Tok close, const Token &open, llvm::StringRef what) {
    std::string expect = "'" + spell(close).str() + "' to close " +
                         (what.empty() ? "'" + spell(open.kind).str() + "'"
                                       : what.str());
    std::string note = "to match this '" + spell(open.kind).str() + "'";
    const Token &t = cur();
    if (t.is(Tok::Error)) // the lexer has reported it
      return;
    if (t.is(Tok::Eof)) {
      if (eofReported)
        return;
      eofReported = true;
      report(loc(t), "unexpected end of file; expected " + expect, loc(open),
             note);
      return;
    }
    report(loc(t), "expected " + expect + " but found " + describe(t), loc(open),
           note);
  }

  //===--------------------------------------------------------------------===//
  // Nesting limits
  //===--------------------------------------------------------------------===//

  /// Counts one level of recursion of the parser, for expressions (and
  /// types) or for blocks.
  struct NestGuard {
    unsigned &level;
    explicit NestGuard(unsigned &level) : level(level) { ++level; }
    ~NestGuard() { --level; }
  };
  /// Call after creating a NestGuard: false (after a fatal error) when too deep.
  bool checkNesting(unsigned level, const char *what) {
    if (level <= kMaxNesting)
      return true;
    fatal(loc(cur()), llvm::Twine(what) + " nested too deeply");
    return false;
  }

  Parsed make(ExprPtr e, unsigned depth) {
    if (depth > kMaxExprDepth) {
      fatal(e->getLoc(), "expression nested too deeply");
      return {};
    }
    return {std::move(e), depth};
  }

  //===--------------------------------------------------------------------===//
  // Recovery
  //===--------------------------------------------------------------------===//

  /// Skips tokens to the next plausible start of a member: a declaration
  /// keyword, or at bracket depth 0 a '}' or `name =` beginning a line.
  void recoverMember() { recover(/*inBlock=*/false); }
  /// Skips tokens to the next plausible start of a statement: a declaration
  /// keyword, or at bracket depth 0 '}', 'return', 'if' or `name =`,
  /// `name,` or `name <-` beginning a line.
  void recoverStmt() { recover(/*inBlock=*/true); }

  void recover(bool inBlock) {
    unsigned depth = 0;
    for (;;) {
      const Token &t = cur();
      if (t.is(Tok::Eof)) {
        // The brackets skipped are unbalanced; saying so again would only
        // repeat the error already reported.
        if (depth > 0)
          eofReported = true;
        return;
      }
      if (isDeclKeyword(t.kind))
        return;
      if (depth == 0) {
        if (t.is(Tok::RBrace))
          return;
        if (t.is(Tok::Ident) && t.atLineStart &&
            (tok(1).is(Tok::Assign) ||
             (inBlock && (tok(1).is(Tok::Comma) || tok(1).is(Tok::LArrow)))))
          return;
        if (inBlock && (t.is(Tok::KwReturn) || t.is(Tok::KwIf) || t.is(Tok::KwFor)))
          return;
      }
      if (isOpener(t.kind))
        ++depth;
      else if (isCloser(t.kind) && depth > 0)
        --depth;
      take();
    }
  }

  //===--------------------------------------------------------------------===//
  // Grammar
  //===--------------------------------------------------------------------===//

  std::unique_ptr<ModuleDecl> parseModule();
  bool parseCtorArgs(std::vector<ParamDecl> &params, const Token &open);
  bool parseModuleBody(ModuleDecl &m, const Token &lbrace);
  bool parseStateDecl(ModuleDecl &m);
  bool parseSubmoduleDecl(ModuleDecl &m);
  bool parseForwardDecl(ModuleDecl &m);
  bool parseMethodDecl(ModuleDecl &m, const Token &kw, llvm::StringRef method,
                       std::optional<ForwardDecl> &slot);
  bool parseTensorType(TensorTypeExpr &type);
  bool parseBlock(Block &block, const Token &lbrace, bool implicit = false);
  bool parseBraceBlock(Block &block, const llvm::Twine &what);
  StmtPtr parseStmt();
  StmtPtr parseIfStmt();
  StmtPtr parseForStmt();
  /// `a, b in`: the names a `for` binds, up to and including `in`.
  bool parseForTargets(std::vector<std::string> &names, std::vector<mlir::Location> &locs);

  Parsed parseExpr();
  Parsed parseOrExpr();
  Parsed parseAndExpr();
  Parsed parseNotExpr();
  Parsed parseCmpExpr();
  Parsed parseAddExpr();
  Parsed parseMulExpr();
  Parsed parseUnaryExpr();
  Parsed parsePowExpr();
  Parsed parsePostfix();
  Parsed parsePrimary();
  bool parseCallArgs(std::vector<Argument> &args, const Token &open,
                     unsigned &depth);
  Parsed makeBinary(const Token &op, BinaryOp kind, Parsed lhs, Parsed rhs);

  std::string path;
  mlir::StringAttr fileAttr;
  unsigned maxErrors;
  Lexer lexer;
  std::deque<Token> toks; // references stay valid as tokens are added
  size_t pos = 0;
  Token eofTok;
  unsigned numErrors = 0;
  bool stopped = false;     // too many errors, or a fatal one
  bool eofReported = false; // the end of file was already blamed
  unsigned exprNesting = 0;  // expressions and tensor types
  unsigned blockNesting = 0; // if statements (blocks and else-if chains)
};

} // namespace

//===----------------------------------------------------------------------===//
// Declarations
//===----------------------------------------------------------------------===//

// file := (moduleDecl | modelDecl)* EOF
std::unique_ptr<File> Parser::parse() {
  auto file = std::make_unique<File>();
  file->path = path;
  while (!at(Tok::Eof)) {
    if (at(Tok::KwModule) || at(Tok::KwModel)) {
      if (auto m = parseModule()) {
        file->modules.push_back(std::move(m));
        continue;
      }
    } else {
      expected("'module' or 'model'");
      take();
    }
    // Resynchronize at the next module.
    while (!at(Tok::Eof) && !at(Tok::KwModule) && !at(Tok::KwModel))
      take();
  }
  if (numErrors > 0)
    return nullptr;
  return file;
}

// moduleDecl := 'module' IDENT '(' [ctorArg (',' ctorArg)* [',']] ')'
//               '{' member* '}'
// modelDecl  := 'model' IDENT '{' member* '}'
std::unique_ptr<ModuleDecl> Parser::parseModule() {
  Token kw = take();
  bool isModel = kw.is(Tok::KwModel);
  auto m = std::make_unique<ModuleDecl>(ModuleDecl{loc(kw), false, "", {}, {}, {}, std::nullopt});
  m->isModel = isModel;
  llvm::StringRef kind = isModel ? "model" : "module";
  if (!at(Tok::Ident)) {
    expected(kind + " name after '" + kind + "'");
    return nullptr;
  }
  m->name = take().text.str();

  bool headerOk = true;
  if (at(Tok::LParen)) {
    Token open = take();
    if (isModel) {
      report(loc(open), "model '" + m->name +
                            "' cannot take constructor arguments; declare a "
                            "'module' and instantiate it in a model");
      std::vector<ParamDecl> ignored;
      parseCtorArgs(ignored, open);
      headerOk = false;
    } else {
      headerOk = parseCtorArgs(m->params, open);
    }
  }
  // `module R {` without parentheses: a module without constructor
  // arguments, as `model` is written.
  if (!headerOk) {
    // Go on with the body if there is one, to report its errors too.
    while (!at(Tok::Eof) && !at(Tok::LBrace) && !at(Tok::KwModule) &&
           !at(Tok::KwModel) && !isDeclKeyword(cur().kind))
      take();
    if (!at(Tok::LBrace))
      return nullptr;
  }
  if (!at(Tok::LBrace)) {
    expected("'{' to begin the body of " + kind + " '" + m->name + "'");
    return nullptr;
  }
  Token lbrace = take();
  parseModuleBody(*m, lbrace);
  return m;
}

// ctorArg := IDENT ':' IDENT ['=' expr]
// (the list, after the '(': [ctorArg (',' ctorArg)* [',']] ')')
bool Parser::parseCtorArgs(std::vector<ParamDecl> &params, const Token &open) {
  while (!at(Tok::RParen)) {
    if (!at(Tok::Ident)) {
      if (params.empty() || !at(Tok::Comma))
        expected("constructor argument name");
      else
        expected("constructor argument name after ','");
      return false;
    }
    Token name = take();
    if (!at(Tok::Colon)) {
      expected("':' and a type after argument '" + name.text + "'");
      return false;
    }
    take();
    if (!at(Tok::Ident)) {
      expected("type of argument '" + name.text +
               "' (int, float, bool, str or ints)");
      return false;
    }
    Token type = take();
    bool known = llvm::StringSwitch<bool>(type.text)
                     .Cases({"int", "float", "bool", "str", "ints"}, true)
                     .Default(false);
    if (!known)
      report(loc(type), "unknown argument type '" + type.text +
                            "'; expected int, float, bool, str or ints");
    ParamDecl p{loc(name), name.text.str(), type.text.str(), loc(type), nullptr};
    if (at(Tok::Assign)) {
      take();
      Parsed def = parseExpr();
      if (!def)
        return false;
      p.defaultValue = std::move(def.expr);
    }
    params.push_back(std::move(p));
    if (!at(Tok::Comma))
      break;
    take();
  }
  return expectClose(Tok::RParen, open);
}

// (the body, after the '{': member* '}')
// member := stateDecl | submoduleDecl | forwardDecl
bool Parser::parseModuleBody(ModuleDecl &m, const Token &lbrace) {
  std::string what = (m.isModel ? "model '" : "module '") + m.name + "'";
  bool lastFailed = false;
  for (;;) {
    const Token &t = cur();
    if (t.is(Tok::RBrace)) {
      take();
      return true;
    }
    if (t.is(Tok::Eof) || t.is(Tok::KwModule) || t.is(Tok::KwModel)) {
      // After a failed member that ran into the next module, the missing '}'
      // is part of the error already reported.
      if (!lastFailed || t.is(Tok::Eof))
        reportUnclosed(Tok::RBrace, lbrace, what);
      return false;
    }
    size_t before = pos;
    bool ok;
    switch (t.kind) {
    case Tok::KwParam:
    case Tok::KwBuffer:
    case Tok::KwConst:
      ok = parseStateDecl(m);
      break;
    case Tok::KwForward:
      ok = parseForwardDecl(m);
      break;
    case Tok::Ident:
      // `loss(` begins the loss method; `loss = ...` is a submodule.
      if (t.text == "loss" && tok(1).is(Tok::LParen)) {
        Token kw = take();
        ok = parseMethodDecl(m, kw, "loss", m.loss);
      } else {
        ok = parseSubmoduleDecl(m);
      }
      break;
    default:
      expected("a member of " + what +
               " (param, buffer, const, forward or 'name = Module(...)')");
      ok = false;
      break;
    }
    lastFailed = !ok;
    if (ok)
      continue;
    recoverMember();
    if (pos == before && !at(Tok::Eof) && !at(Tok::RBrace) &&
        !isDeclKeyword(cur().kind))
      take();
  }
}

// stateDecl := ('param' ['(' callArgs ')'] | 'buffer' ['(' callArgs ')'] | 'const')
//              IDENT ':' tensorType '=' expr ['if' expr]
bool Parser::parseStateDecl(ModuleDecl &m) {
  Token kw = take();
  mlir::Location l = loc(kw);
  StateDecl d{l, StateKind::Param, {}, "", l, TensorTypeExpr{l, "", l, {}},
              nullptr, nullptr};
  d.kind = kw.is(Tok::KwParam)    ? StateKind::Param
           : kw.is(Tok::KwBuffer) ? StateKind::Buffer
                                  : StateKind::Const;
  if ((kw.is(Tok::KwBuffer) || kw.is(Tok::KwParam)) && at(Tok::LParen)) {
    Token open = take();
    unsigned depth = 0;
    if (!parseCallArgs(d.options, open, depth))
      return false;
  }
  if (!at(Tok::Ident)) {
    expected("a name after '" + spell(kw.kind) + "'");
    return false;
  }
  Token name = take();
  d.name = name.text.str();
  d.nameLoc = loc(name);
  if (!at(Tok::Colon)) {
    expected("':' after state name '" + name.text + "'");
    return false;
  }
  take();
  if (!parseTensorType(d.type))
    return false;
  if (!at(Tok::Assign)) {
    expected("'=' and an initializer after the type of '" + name.text + "'");
    return false;
  }
  take();
  Parsed init = parseExpr();
  if (!init)
    return false;
  d.init = std::move(init.expr);
  if (at(Tok::KwIf)) {
    take();
    Parsed cond = parseExpr();
    if (!cond)
      return false;
    d.condition = std::move(cond.expr);
  }
  m.states.push_back(std::move(d));
  return true;
}

// submoduleDecl := IDENT '=' expr ['if' expr]
bool Parser::parseSubmoduleDecl(ModuleDecl &m) {
  Token name = take();
  if (!at(Tok::Assign)) {
    if (at(Tok::Colon))
      expected("'=' after member name '" + name.text + "'",
               "; to declare state, write 'param', 'buffer' or 'const' "
               "before the name");
    else
      expected("'=' after member name '" + name.text + "'");
    return false;
  }
  take();
  Parsed value = parseExpr();
  if (!value)
    return false;
  SubmoduleDecl d{loc(name), name.text.str(), std::move(value.expr), nullptr};
  if (at(Tok::KwIf)) {
    take();
    Parsed cond = parseExpr();
    if (!cond)
      return false;
    d.condition = std::move(cond.expr);
  }
  m.submodules.push_back(std::move(d));
  return true;
}

// forwardDecl := 'forward' '(' [fwdArg (',' fwdArg)* [',']] ')'
//                ['->' resultTypes] block
// fwdArg      := IDENT [':' tensorType]
// resultTypes := tensorType (',' tensorType)*
//              | '(' tensorType (',' tensorType)* ')'
bool Parser::parseForwardDecl(ModuleDecl &m) {
  Token kw = take();
  return parseMethodDecl(m, kw, "forward", m.forward);
}

// lossDecl := 'loss' '(' [fwdArg (',' fwdArg)* [',']] ')' ['->' resultTypes] block
// (`loss` is not a keyword: a member named loss stays a submodule.)
bool Parser::parseMethodDecl(ModuleDecl &m, const Token &kw, llvm::StringRef method,
                             std::optional<ForwardDecl> &slot) {
  ForwardDecl fd{loc(kw), {}, {}, {}};
  if (!at(Tok::LParen)) {
    expected("'(' after '" + method + "'");
    return false;
  }
  Token open = take();
  while (!at(Tok::RParen)) {
    if (!at(Tok::Ident)) {
      expected("argument name of " + method);
      return false;
    }
    Token name = take();
    ForwardArg arg{loc(name), name.text.str(), std::nullopt};
    if (at(Tok::Colon)) {
      take();
      TensorTypeExpr type{loc(cur()), "", loc(cur()), {}};
      if (!parseTensorType(type))
        return false;
      arg.type = std::move(type);
    }
    fd.args.push_back(std::move(arg));
    if (!at(Tok::Comma))
      break;
    take();
  }
  if (!expectClose(Tok::RParen, open))
    return false;

  if (at(Tok::Arrow)) {
    take();
    auto parseOne = [&]() {
      TensorTypeExpr type{loc(cur()), "", loc(cur()), {}};
      if (!parseTensorType(type))
        return false;
      fd.results.push_back(std::move(type));
      return true;
    };
    if (at(Tok::LParen)) {
      Token lp = take();
      do {
        if (!parseOne())
          return false;
      } while (at(Tok::Comma) && (take(), true));
      if (!expectClose(Tok::RParen, lp))
        return false;
    } else {
      if (!parseOne())
        return false;
      while (at(Tok::Comma)) {
        take();
        if (!parseOne())
          return false;
      }
    }
  }

  if (!parseBraceBlock(fd.body, ("'{' to begin the body of " + method).str()))
    return false;
  if (slot) {
    report(loc(kw),
           llvm::Twine(m.isModel ? "model '" : "module '") + m.name +
               "' already has a " + method,
           slot->loc, "previous " + method + " is here");
    return true; // not a syntax error: no need to resynchronize
  }
  slot = std::move(fd);
  return true;
}

// tensorType := IDENT '[' [expr (',' expr)* [',']] ']'
bool Parser::parseTensorType(TensorTypeExpr &type) {
  if (!at(Tok::Ident)) {
    expected("a tensor type such as 'f32[N, 10]'");
    return false;
  }
  Token dtype = take();
  type.loc = loc(dtype);
  type.dtype = dtype.text.str();
  type.dtypeLoc = loc(dtype);
  bool known = llvm::StringSwitch<bool>(dtype.text)
                   .Cases({"f32", "f64", "f16", "bf16", "i32", "i64", "bool"},
                          true)
                   .Default(false);
  if (!known)
    report(loc(dtype), "unknown dtype '" + dtype.text +
                           "'; expected one of f32, f64, f16, bf16, i32, "
                           "i64, bool");
  if (!at(Tok::LBracket)) {
    // After an unknown dtype, that is the error; do not add another.
    if (known)
      expected("'[' and the dimensions after dtype '" + dtype.text + "'",
               " (use '" + dtype.text + "[]' for a scalar)");
    return false;
  }
  Token open = take();
  NestGuard guard(exprNesting);
  if (!checkNesting(exprNesting, "type"))
    return false;
  while (!at(Tok::RBracket)) {
    Parsed dim = parseExpr();
    if (!dim)
      return false;
    type.dims.push_back(std::move(dim.expr));
    if (!at(Tok::Comma))
      break;
    take();
  }
  return expectClose(Tok::RBracket, open);
}

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

// block := '{' stmt* '}'
// A missing '{' before something that starts a statement is reported and
// taken as present, so that the block's '}' does not close the enclosing one.
bool Parser::parseBraceBlock(Block &block, const llvm::Twine &what) {
  if (at(Tok::LBrace)) {
    Token lbrace = take();
    return parseBlock(block, lbrace);
  }
  expected(what);
  const Token &t = cur();
  bool startsStmt = t.is(Tok::KwReturn) || t.is(Tok::KwIf) || t.is(Tok::KwFor) ||
                    (t.is(Tok::Ident) &&
                     (tok(1).is(Tok::Assign) || tok(1).is(Tok::Comma) ||
                      tok(1).is(Tok::LArrow)));
  if (!startsStmt || stopped)
    return false;
  Token lbrace = t;
  lbrace.kind = Tok::LBrace;
  return parseBlock(block, lbrace, /*implicit=*/true);
}

// (the statements of a block, after its '{': stmt* '}'; `implicit` when the
// '{' was missing, already reported)
bool Parser::parseBlock(Block &block, const Token &lbrace, bool implicit) {
  bool lastFailed = false;
  for (;;) {
    const Token &t = cur();
    if (t.is(Tok::RBrace)) {
      take();
      return true;
    }
    if (t.is(Tok::Eof) || isDeclKeyword(t.kind)) {
      // A member keyword after a failed statement: the missing '}' is part
      // of that error.
      if (!implicit && (!lastFailed || t.is(Tok::Eof)))
        reportUnclosed(Tok::RBrace, lbrace, "");
      return false;
    }
    size_t before = pos;
    if (StmtPtr s = parseStmt()) {
      block.push_back(std::move(s));
      lastFailed = false;
      continue;
    }
    if (stopped)
      return false;
    lastFailed = true;
    recoverStmt();
    if (pos == before && !at(Tok::Eof) && !at(Tok::RBrace) &&
        !isDeclKeyword(cur().kind))
      take();
  }
}

// stmt := 'return' expr (',' expr)*
//       | 'if' expr block ['else' (block | ifStmt)]
//       | 'for' IDENT (',' IDENT)* 'in' expr block
//       | IDENT '<-' expr
//       | IDENT (',' IDENT)* '=' expr
StmtPtr Parser::parseStmt() {
  const Token &t = cur();
  switch (t.kind) {
  case Tok::KwReturn: {
    Token kw = take();
    std::vector<ExprPtr> values;
    do {
      Parsed e = parseExpr();
      if (!e)
        return nullptr;
      values.push_back(std::move(e.expr));
    } while (at(Tok::Comma) && (take(), true));
    return std::make_unique<ReturnStmt>(loc(kw), std::move(values));
  }
  case Tok::KwIf:
    return parseIfStmt();
  case Tok::KwFor:
    return parseForStmt();
  case Tok::Ident: {
    if (tok(1).is(Tok::LArrow)) {
      Token name = take();
      take();
      Parsed e = parseExpr();
      if (!e)
        return nullptr;
      return std::make_unique<WriteStmt>(loc(name), name.text.str(),
                                         std::move(e.expr));
    }
    Token first = take();
    std::vector<std::string> targets{first.text.str()};
    std::vector<mlir::Location> targetLocs{loc(first)};
    while (at(Tok::Comma)) {
      take();
      if (!at(Tok::Ident)) {
        expected("a name after ',' in the targets of an assignment");
        return nullptr;
      }
      Token name = take();
      targets.push_back(name.text.str());
      targetLocs.push_back(loc(name));
    }
    if (!at(Tok::Assign)) {
      if (targets.size() == 1)
        expected("'=' or '<-' after '" + first.text + "'");
      else
        expected("'=' after the targets of an assignment");
      return nullptr;
    }
    take();
    Parsed e = parseExpr();
    if (!e)
      return nullptr;
    return std::make_unique<AssignStmt>(loc(first), std::move(targets),
                                        std::move(targetLocs),
                                        std::move(e.expr));
  }
  default:
    expected("statement");
    return nullptr;
  }
}

// ifStmt := 'if' expr block ['else' (block | ifStmt)]
StmtPtr Parser::parseIfStmt() {
  NestGuard guard(blockNesting);
  if (!checkNesting(blockNesting, "block"))
    return nullptr;
  Token kw = take();
  Parsed cond = parseExpr();
  if (!cond)
    return nullptr;
  Block thenBlock, elseBlock;
  if (!parseBraceBlock(thenBlock, "'{' after the condition of 'if'"))
    return nullptr;
  if (at(Tok::KwElse)) {
    take();
    if (at(Tok::KwIf)) {
      StmtPtr elseIf = parseIfStmt();
      if (!elseIf)
        return nullptr;
      elseBlock.push_back(std::move(elseIf));
    } else if (at(Tok::LBrace)) {
      Token lb = take();
      if (!parseBlock(elseBlock, lb))
        return nullptr;
    } else {
      expected("'{' or 'if' after 'else'");
      return nullptr;
    }
  }
  return std::make_unique<IfStmt>(loc(kw), std::move(cond.expr),
                                  std::move(thenBlock), std::move(elseBlock));
}

bool Parser::parseForTargets(std::vector<std::string> &names,
                             std::vector<mlir::Location> &locs) {
  for (;;) {
    if (!at(Tok::Ident)) {
      expected("a name after 'for'");
      return false;
    }
    Token name = take();
    names.push_back(name.text.str());
    locs.push_back(loc(name));
    if (!at(Tok::Comma))
      break;
    take();
  }
  if (!at(Tok::KwIn)) {
    expected("'in' after the names of 'for'");
    return false;
  }
  take();
  return true;
}

// forStmt := 'for' IDENT (',' IDENT)* 'in' expr block
StmtPtr Parser::parseForStmt() {
  NestGuard guard(blockNesting);
  if (!checkNesting(blockNesting, "block"))
    return nullptr;
  Token kw = take();
  std::vector<std::string> targets;
  std::vector<mlir::Location> targetLocs;
  if (!parseForTargets(targets, targetLocs))
    return nullptr;
  Parsed iterable = parseExpr();
  if (!iterable)
    return nullptr;
  Block body;
  if (!parseBraceBlock(body, "'{' after the iterable of 'for'"))
    return nullptr;
  return std::make_unique<ForStmt>(loc(kw), std::move(targets), std::move(targetLocs),
                                   std::move(iterable.expr), std::move(body));
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

Parsed Parser::makeBinary(const Token &op, BinaryOp kind, Parsed lhs,
                          Parsed rhs) {
  unsigned depth = 1 + std::max(lhs.depth, rhs.depth);
  return make(std::make_unique<BinaryExpr>(loc(op), kind, std::move(lhs.expr),
                                           std::move(rhs.expr)),
              depth);
}

// expr := orExpr
Parsed Parser::parseExpr() {
  NestGuard guard(exprNesting);
  if (!checkNesting(exprNesting, "expression"))
    return {};
  return parseOrExpr();
}

// orExpr := andExpr ('or' andExpr)*
Parsed Parser::parseOrExpr() {
  Parsed lhs = parseAndExpr();
  while (lhs && at(Tok::KwOr)) {
    Token op = take();
    Parsed rhs = parseAndExpr();
    if (!rhs)
      return {};
    lhs = makeBinary(op, BinaryOp::Or, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

// andExpr := notExpr ('and' notExpr)*
Parsed Parser::parseAndExpr() {
  Parsed lhs = parseNotExpr();
  while (lhs && at(Tok::KwAnd)) {
    Token op = take();
    Parsed rhs = parseNotExpr();
    if (!rhs)
      return {};
    lhs = makeBinary(op, BinaryOp::And, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

// notExpr := 'not' notExpr | cmpExpr
Parsed Parser::parseNotExpr() {
  if (!at(Tok::KwNot))
    return parseCmpExpr();
  NestGuard guard(exprNesting);
  if (!checkNesting(exprNesting, "expression"))
    return {};
  Token op = take();
  Parsed operand = parseNotExpr();
  if (!operand)
    return {};
  unsigned depth = operand.depth + 1;
  return make(std::make_unique<UnaryExpr>(loc(op), UnaryOp::Not,
                                          std::move(operand.expr)),
              depth);
}

static std::optional<BinaryOp> comparisonOp(Tok k) {
  switch (k) {
  case Tok::EqEq: return BinaryOp::Eq;
  case Tok::NotEq: return BinaryOp::Ne;
  case Tok::Less: return BinaryOp::Lt;
  case Tok::LessEq: return BinaryOp::Le;
  case Tok::Greater: return BinaryOp::Gt;
  case Tok::GreaterEq: return BinaryOp::Ge;
  default: return std::nullopt;
  }
}

// cmpExpr := addExpr [('=='|'!='|'<'|'<='|'>'|'>=') addExpr]
Parsed Parser::parseCmpExpr() {
  Parsed lhs = parseAddExpr();
  if (!lhs)
    return {};
  std::optional<BinaryOp> kind = comparisonOp(cur().kind);
  if (!kind)
    return lhs;
  Token op = take();
  Parsed rhs = parseAddExpr();
  if (!rhs)
    return {};
  if (comparisonOp(cur().kind)) {
    report(loc(cur()), "comparisons cannot be chained; combine them with "
                       "'and' or use parentheses");
    return {};
  }
  return makeBinary(op, *kind, std::move(lhs), std::move(rhs));
}

// addExpr := mulExpr (('+'|'-') mulExpr)*
Parsed Parser::parseAddExpr() {
  Parsed lhs = parseMulExpr();
  while (lhs && (at(Tok::Plus) || at(Tok::Minus))) {
    Token op = take();
    Parsed rhs = parseMulExpr();
    if (!rhs)
      return {};
    lhs = makeBinary(op, op.is(Tok::Plus) ? BinaryOp::Add : BinaryOp::Sub,
                     std::move(lhs), std::move(rhs));
  }
  return lhs;
}

// mulExpr := unaryExpr (('*'|'/'|'//'|'%'|'@') unaryExpr)*
Parsed Parser::parseMulExpr() {
  Parsed lhs = parseUnaryExpr();
  while (lhs && (at(Tok::Star) || at(Tok::Slash) || at(Tok::SlashSlash) || at(Tok::Percent) ||
                 at(Tok::At))) {
    Token op = take();
    Parsed rhs = parseUnaryExpr();
    if (!rhs)
      return {};
    BinaryOp kind = op.is(Tok::Star)         ? BinaryOp::Mul
                    : op.is(Tok::Slash)      ? BinaryOp::Div
                    : op.is(Tok::SlashSlash) ? BinaryOp::FloorDiv
                    : op.is(Tok::Percent)    ? BinaryOp::Mod
                                             : BinaryOp::MatMul;
    lhs = makeBinary(op, kind, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

// powExpr := postfix ['**' unaryExpr]   (right-associative, tighter than a
// unary minus on its left, as Python's: -2 ** 2 is -4)
Parsed Parser::parsePowExpr() {
  Parsed base = parsePostfix();
  if (!base || !at(Tok::StarStar))
    return base;
  Token op = take();
  Parsed exponent = parseUnaryExpr();
  if (!exponent)
    return {};
  return makeBinary(op, BinaryOp::Pow, std::move(base), std::move(exponent));
}

// unaryExpr := '-' unaryExpr | powExpr
Parsed Parser::parseUnaryExpr() {
  if (!at(Tok::Minus))
    return parsePowExpr();
  NestGuard guard(exprNesting);
  if (!checkNesting(exprNesting, "expression"))
    return {};
  Token op = take();
  Parsed operand = parseUnaryExpr();
  if (!operand)
    return {};
  unsigned depth = operand.depth + 1;
  return make(std::make_unique<UnaryExpr>(loc(op), UnaryOp::Neg,
                                          std::move(operand.expr)),
              depth);
}

// postfix := primary | IDENT '(' callArgs ')' | 'forward' '(' callArgs ')'
// (the model's forward, called from its loss)
Parsed Parser::parsePostfix() {
  Parsed e;
  if (!(at(Tok::Ident) || at(Tok::KwForward)) || !tok(1).is(Tok::LParen)) {
    e = parsePrimary();
  } else {
    Token callee = take();
    Token open = take();
    std::vector<Argument> args;
    unsigned depth = 0;
    if (!parseCallArgs(args, open, depth))
      return {};
    e = make(std::make_unique<CallExpr>(loc(callee), callee.text.str(), std::move(args)),
             depth + 1);
  }
  // Indexing, as Python's: x[0], x[:, -1], x[..., a:b], x[a:b:s]; methods
  // and attributes of tensors: x.view(2, -1), x.shape.
  while (e && (at(Tok::LBracket) || at(Tok::Dot))) {
    if (at(Tok::Dot)) {
      take();
      if (!at(Tok::Ident)) {
        expected("a method or attribute name after '.'");
        return {};
      }
      Token name = take();
      std::vector<Argument> args;
      mlir::Location receiverLoc = e.expr->getLoc();
      args.push_back(Argument{"", receiverLoc, std::move(e.expr)});
      unsigned depth = e.depth;
      auto form = CallExpr::Form::Attribute;
      if (at(Tok::LParen)) {
        Token open = take();
        if (!parseCallArgs(args, open, depth))
          return {};
        form = CallExpr::Form::Method;
      }
      auto call = std::make_unique<CallExpr>(loc(name), name.text.str(), std::move(args));
      call->form = form;
      e = make(std::move(call), std::max(depth, e.depth) + 1);
      continue;
    }
    Token open = take();
    std::vector<IndexItem> items;
    unsigned depth = e.depth;
    auto optionalExpr = [&](ExprPtr &out) {
      if (at(Tok::Colon) || at(Tok::Comma) || at(Tok::RBracket))
        return true;
      Parsed v = parseExpr();
      if (!v)
        return false;
      depth = std::max(depth, v.depth);
      out = std::move(v.expr);
      return true;
    };
    while (!at(Tok::RBracket)) {
      IndexItem item{IndexItem::Kind::Index, loc(cur()), nullptr, nullptr, nullptr, nullptr};
      if (at(Tok::Ellipsis)) {
        take();
        item.kind = IndexItem::Kind::Ellipsis;
      } else {
        if (!optionalExpr(item.start))
          return {};
        if (at(Tok::Colon)) {
          take();
          item.kind = IndexItem::Kind::Slice;
          if (!optionalExpr(item.stop))
            return {};
          if (at(Tok::Colon)) {
            take();
            if (!optionalExpr(item.step))
              return {};
          }
        } else if (item.start) {
          item.index = std::move(item.start);
        } else {
          expected("an index, a slice (a:b) or '...'");
          return {};
        }
      }
      items.push_back(std::move(item));
      if (!at(Tok::Comma))
        break;
      take();
    }
    if (!expectClose(Tok::RBracket, open))
      return {};
    if (items.empty()) {
      report(loc(open), "an index is needed between '[' and ']'");
      return {};
    }
    e = make(std::make_unique<IndexExpr>(loc(open), std::move(e.expr), std::move(items)),
             depth + 1);
  }
  return e;
}

// callArgs := [callArg (',' callArg)* [',']] ')'      (called after the '(')
// callArg  := IDENT '=' expr | expr
bool Parser::parseCallArgs(std::vector<Argument> &args, const Token &open,
                           unsigned &depth) {
  bool seenKeyword = false;
  // Reported only once the call is known to be well formed: with a missing
  // ')', the arguments that follow are not really this call's.
  std::optional<mlir::Location> misplacedPositional;
  while (!at(Tok::RParen)) {
    if (at(Tok::Ident) && tok(1).is(Tok::Assign)) {
      Token kw = take();
      take();
      Parsed value = parseExpr();
      if (!value)
        return false;
      depth = std::max(depth, value.depth);
      args.push_back(Argument{kw.text.str(), loc(kw), std::move(value.expr)});
      seenKeyword = true;
    } else {
      Parsed value = parseExpr();
      if (!value)
        return false;
      if (seenKeyword && !misplacedPositional)
        misplacedPositional = value.expr->getLoc();
      depth = std::max(depth, value.depth);
      mlir::Location l = value.expr->getLoc();
      args.push_back(Argument{"", l, std::move(value.expr)});
    }
    if (!at(Tok::Comma))
      break;
    take();
  }
  if (!expectClose(Tok::RParen, open))
    return false;
  if (misplacedPositional)
    report(*misplacedPositional, "positional argument follows keyword argument");
  return true;
}

// primary := INT | FLOAT | STRING | 'true' | 'false' | 'none' | IDENT
//          | '[' [expr (',' expr)* [',']] ']' | '(' expr ')'
Parsed Parser::parsePrimary() {
  const Token &t = cur();
  switch (t.kind) {
  case Tok::Int: {
    Token lit = take();
    return make(std::make_unique<IntExpr>(loc(lit), lit.intValue), 1);
  }
  case Tok::Float: {
    Token lit = take();
    return make(std::make_unique<FloatExpr>(loc(lit), lit.floatValue), 1);
  }
  case Tok::String: {
    Token lit = take();
    return make(std::make_unique<StringExpr>(loc(lit), lit.stringValue), 1);
  }
  case Tok::KwTrue:
  case Tok::KwFalse: {
    Token lit = take();
    return make(std::make_unique<BoolExpr>(loc(lit), lit.is(Tok::KwTrue)), 1);
  }
  case Tok::KwNone: {
    Token lit = take();
    return make(std::make_unique<NoneExpr>(loc(lit)), 1);
  }
  case Tok::Ident: {
    Token name = take();
    return make(std::make_unique<NameExpr>(loc(name), name.text.str()), 1);
  }
  case Tok::LBracket: {
    Token open = take();
    std::vector<ExprPtr> elements;
    unsigned depth = 0;
    while (!at(Tok::RBracket)) {
      Parsed e = parseExpr();
      if (!e)
        return {};
      depth = std::max(depth, e.depth);
      if (elements.empty() && at(Tok::KwFor)) {
        // [element for names in iterable]
        take();
        std::vector<std::string> targets;
        std::vector<mlir::Location> targetLocs;
        if (!parseForTargets(targets, targetLocs))
          return {};
        Parsed iterable = parseExpr();
        if (!iterable || !expectClose(Tok::RBracket, open))
          return {};
        depth = std::max(depth, iterable.depth);
        return make(std::make_unique<ComprehensionExpr>(loc(open), std::move(e.expr),
                                                        std::move(targets),
                                                        std::move(iterable.expr)),
                    depth + 1);
      }
      elements.push_back(std::move(e.expr));
      if (!at(Tok::Comma))
        break;
      take();
    }
    if (!expectClose(Tok::RBracket, open))
      return {};
    return make(std::make_unique<ListExpr>(loc(open), std::move(elements)),
                depth + 1);
  }
  case Tok::LParen: {
    // (e) is e; Python's tuples, (a, b), (a,) and (), are lists.
    Token open = take();
    if (at(Tok::RParen)) {
      take();
      return make(std::make_unique<ListExpr>(loc(open), std::vector<ExprPtr>{}), 1);
    }
    Parsed e = parseExpr();
    if (!e)
      return {};
    if (!at(Tok::Comma)) {
      if (!expectClose(Tok::RParen, open))
        return {};
      return e;
    }
    std::vector<ExprPtr> elements;
    unsigned depth = e.depth;
    elements.push_back(std::move(e.expr));
    while (at(Tok::Comma)) {
      take();
      if (at(Tok::RParen))
        break;
      Parsed next = parseExpr();
      if (!next)
        return {};
      depth = std::max(depth, next.depth);
      elements.push_back(std::move(next.expr));
    }
    if (!expectClose(Tok::RParen, open))
      return {};
    return make(std::make_unique<ListExpr>(loc(open), std::move(elements)), depth + 1);
  }
  default:
    expected("expression");
    return {};
  }
}

std::unique_ptr<File> modelc::parseFile(llvm::StringRef path,
                                        llvm::StringRef buffer,
                                        mlir::MLIRContext *ctx, unsigned maxErrors) {
  Parser parser(path, buffer, ctx, maxErrors);
  return parser.parse();
}
