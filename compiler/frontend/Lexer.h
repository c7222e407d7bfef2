//===- Lexer.h - Tokenizer of the .mdl language -------------------*- C++ -*-===//
//
// Splits a .mdl buffer into tokens on demand. Newlines are not significant to
// the grammar; each token only remembers whether it is the first of its line,
// which the parser uses to resynchronize after an error. Lines and columns are
// 1-based and counted in bytes.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_FRONTEND_LEXER_H
#define MODELC_FRONTEND_LEXER_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <functional>
#include <string>

namespace modelc {

enum class Tok {
  Eof,
  Error, // a character the lexer rejected (and already reported)
  Ident,
  Int,
  Float,
  String,
  // Keywords.
  KwModel,
  KwModule,
  KwParam,
  KwBuffer,
  KwConst,
  KwForward,
  KwReturn,
  KwIf,
  KwElse,
  KwFor,
  KwIn,
  KwAnd,
  KwOr,
  KwNot,
  KwTrue,
  KwFalse,
  KwNone,
  // Punctuation.
  LParen,   // (
  RParen,   // )
  LBracket, // [
  RBracket, // ]
  LBrace,   // {
  RBrace,   // }
  Comma,    // ,
  Colon,    // :
  Assign,   // =
  Dot,      // .
  Ellipsis, // ...
  SlashSlash, // //
  Percent,  // %
  StarStar, // **
  Arrow,    // ->
  LArrow,   // <-
  Plus,     // +
  Minus,    // -
  Star,     // *
  Slash,    // /
  At,       // @
  EqEq,     // ==
  NotEq,    // !=
  Less,     // <
  LessEq,   // <=
  Greater,  // >
  GreaterEq // >=
};

/// The fixed spelling of a keyword or punctuation token, or a description of
/// the token class ("identifier", "end of file", ...).
llvm::StringRef spell(Tok kind);

struct Token {
  Tok kind = Tok::Eof;
  llvm::StringRef text;     // the bytes of the token in the buffer
  unsigned line = 1, col = 1;
  bool atLineStart = false; // first token of its line
  int64_t intValue = 0;     // Tok::Int
  double floatValue = 0;    // Tok::Float
  std::string stringValue;  // Tok::String, escapes resolved

  bool is(Tok k) const { return kind == k; }
};

class Lexer {
public:
  /// Called for each lexical error with its 1-based line and column.
  using ErrorFn =
      std::function<void(unsigned line, unsigned col, const std::string &msg)>;

  Lexer(llvm::StringRef buffer, ErrorFn onError)
      : buffer(buffer), onError(std::move(onError)) {}

  /// Returns the next token; after the end of the buffer, Tok::Eof forever.
  Token next();

private:
  char peekChar(size_t ahead = 0) const {
    return pos + ahead < buffer.size() ? buffer[pos + ahead] : '\0';
  }
  bool atEnd() const { return pos >= buffer.size(); }
  void advance(); // one byte, tracking the line
  void skipSpaceAndComments();
  void error(unsigned line, unsigned col, const std::string &msg) {
    onError(line, col, msg);
  }
  void lexNumber(Token &tok);
  void lexString(Token &tok);

  llvm::StringRef buffer;
  ErrorFn onError;
  size_t pos = 0;
  unsigned line = 1;
  size_t lineStart = 0;     // offset of the first byte of the current line
  unsigned lastTokLine = 0; // line of the previous token (0: none yet)
};

} // namespace modelc

#endif // MODELC_FRONTEND_LEXER_H
