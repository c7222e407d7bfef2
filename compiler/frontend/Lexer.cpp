//===- Lexer.cpp - Tokenizer of the .mdl language -------------------------===//

#include "Lexer.h"

#include "llvm/ADT/StringSwitch.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace modelc;

llvm::StringRef modelc::spell(Tok kind) {
  switch (kind) {
  case Tok::Eof: return "end of file";
  case Tok::Error: return "invalid character";
  case Tok::Ident: return "identifier";
  case Tok::Int: return "integer";
  case Tok::Float: return "number";
  case Tok::String: return "string";
  case Tok::KwModel: return "model";
  case Tok::KwModule: return "module";
  case Tok::KwParam: return "param";
  case Tok::KwBuffer: return "buffer";
  case Tok::KwConst: return "const";
  case Tok::KwForward: return "forward";
  case Tok::KwReturn: return "return";
  case Tok::KwIf: return "if";
  case Tok::KwElse: return "else";
  case Tok::KwFor: return "for";
  case Tok::KwIn: return "in";
  case Tok::KwAnd: return "and";
  case Tok::KwOr: return "or";
  case Tok::KwNot: return "not";
  case Tok::KwTrue: return "true";
  case Tok::KwFalse: return "false";
  case Tok::KwNone: return "none";
  case Tok::LParen: return "(";
  case Tok::RParen: return ")";
  case Tok::LBracket: return "[";
  case Tok::RBracket: return "]";
  case Tok::LBrace: return "{";
  case Tok::RBrace: return "}";
  case Tok::Comma: return ",";
  case Tok::Colon: return ":";
  case Tok::Assign: return "=";
  case Tok::Dot: return ".";
  case Tok::Ellipsis: return "...";
  case Tok::SlashSlash: return "//";
  case Tok::Percent: return "%";
  case Tok::StarStar: return "**";
  case Tok::Arrow: return "->";
  case Tok::LArrow: return "<-";
  case Tok::Plus: return "+";
  case Tok::Minus: return "-";
  case Tok::Star: return "*";
  case Tok::Slash: return "/";
  case Tok::At: return "@";
  case Tok::EqEq: return "==";
  case Tok::NotEq: return "!=";
  case Tok::Less: return "<";
  case Tok::LessEq: return "<=";
  case Tok::Greater: return ">";
  case Tok::GreaterEq: return ">=";
  }
  return "token";
}

static bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool isDigit(char c) { return c >= '0' && c <= '9'; }
static bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

/// `'x'` for a printable character, `'\xNN'` otherwise.
static std::string quoteChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) {
    if (c == '\'' || c == '\\')
      return std::string("'\\") + c + "'";
    return std::string("'") + c + "'";
  }
  char buf[16];
  std::snprintf(buf, sizeof(buf), "'\\x%02X'", u);
  return buf;
}

void Lexer::advance() {
  if (atEnd())
    return;
  if (buffer[pos] == '\n') {
    ++line;
    lineStart = pos + 1;
  }
  ++pos;
}

void Lexer::skipSpaceAndComments() {
  while (!atEnd()) {
    char c = buffer[pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
        c == '\v') {
      advance();
    } else if (c == '#') {
      while (!atEnd() && buffer[pos] != '\n')
        advance();
    } else {
      return;
    }
  }
}

Token Lexer::next() {
  {
    skipSpaceAndComments();
    Token tok;
    tok.line = line;
    tok.col = static_cast<unsigned>(pos - lineStart + 1);
    tok.atLineStart = tok.line != lastTokLine;
    size_t start = pos;
    if (atEnd()) {
      tok.kind = Tok::Eof;
      tok.text = buffer.substr(buffer.size(), 0);
      return tok;
    }
    char c = buffer[pos];
    auto finish = [&](Tok kind, size_t len) {
      for (size_t i = 0; i < len; ++i)
        advance();
      tok.kind = kind;
      tok.text = buffer.substr(start, pos - start);
      lastTokLine = tok.line;
      return tok;
    };

    if (isIdentStart(c)) {
      size_t len = 0;
      while (isIdentChar(peekChar(len)))
        ++len;
      llvm::StringRef word = buffer.substr(pos, len);
      Tok kind = llvm::StringSwitch<Tok>(word)
                     .Case("model", Tok::KwModel)
                     .Case("module", Tok::KwModule)
                     .Case("param", Tok::KwParam)
                     .Case("buffer", Tok::KwBuffer)
                     .Case("const", Tok::KwConst)
                     .Case("forward", Tok::KwForward)
                     .Case("return", Tok::KwReturn)
                     .Case("if", Tok::KwIf)
                     .Case("else", Tok::KwElse)
                     .Case("for", Tok::KwFor)
                     .Case("in", Tok::KwIn)
                     .Case("and", Tok::KwAnd)
                     .Case("or", Tok::KwOr)
                     .Case("not", Tok::KwNot)
                     .Case("true", Tok::KwTrue)
                     .Case("false", Tok::KwFalse)
                     .Case("none", Tok::KwNone)
                     // Python's spellings of the same three.
                     .Case("True", Tok::KwTrue)
                     .Case("False", Tok::KwFalse)
                     .Case("None", Tok::KwNone)
                     .Default(Tok::Ident);
      return finish(kind, len);
    }
    if (isDigit(c) || (c == '.' && isDigit(peekChar(1)))) {
      lexNumber(tok);
      lastTokLine = tok.line;
      return tok;
    }
    if (c == '"' || c == '\'') {
      lexString(tok);
      lastTokLine = tok.line;
      return tok;
    }

    char n = peekChar(1);
    switch (c) {
    case '(': return finish(Tok::LParen, 1);
    case ')': return finish(Tok::RParen, 1);
    case '[': return finish(Tok::LBracket, 1);
    case ']': return finish(Tok::RBracket, 1);
    case '{': return finish(Tok::LBrace, 1);
    case '}': return finish(Tok::RBrace, 1);
    case ',': return finish(Tok::Comma, 1);
    case ':': return finish(Tok::Colon, 1);
    case '.':
      if (n == '.' && peekChar(2) == '.')
        return finish(Tok::Ellipsis, 3);
      return finish(Tok::Dot, 1);
    case '+': return finish(Tok::Plus, 1);
    case '*':
      if (n == '*')
        return finish(Tok::StarStar, 2);
      return finish(Tok::Star, 1);
    case '/':
      if (n == '/')
        return finish(Tok::SlashSlash, 2);
      return finish(Tok::Slash, 1);
    case '%': return finish(Tok::Percent, 1);
    case '@': return finish(Tok::At, 1);
    case '-':
      if (n == '>')
        return finish(Tok::Arrow, 2);
      return finish(Tok::Minus, 1);
    case '=':
      if (n == '=')
        return finish(Tok::EqEq, 2);
      return finish(Tok::Assign, 1);
    case '!':
      if (n == '=')
        return finish(Tok::NotEq, 2);
      break;
    case '<':
      if (n == '=')
        return finish(Tok::LessEq, 2);
      if (n == '-')
        return finish(Tok::LArrow, 2);
      return finish(Tok::Less, 1);
    case '>':
      if (n == '=')
        return finish(Tok::GreaterEq, 2);
      return finish(Tok::Greater, 1);
    default:
      break;
    }

    // Anything else is an error token, reported here; the parser then stays
    // silent about it. A run of non-ASCII bytes (one UTF-8 character, or
    // binary data) is one error.
    error(tok.line, tok.col, "unexpected character " + quoteChar(c));
    size_t len = 1;
    if (static_cast<unsigned char>(c) >= 0x80)
      while (static_cast<unsigned char>(peekChar(len)) >= 0x80)
        ++len;
    return finish(Tok::Error, len);
  }
}

void Lexer::lexNumber(Token &tok) {
  size_t start = pos;
  bool isFloat = false;
  while (isDigit(peekChar()))
    advance();
  if (peekChar() == '.' && !isIdentStart(peekChar(1)) && peekChar(1) != '.') {
    // `1.5`, `.5`, and `1.` (as in Python).
    isFloat = true;
    advance();
    while (isDigit(peekChar()))
      advance();
  }
  if ((peekChar() == 'e' || peekChar() == 'E') &&
      (isDigit(peekChar(1)) ||
       ((peekChar(1) == '+' || peekChar(1) == '-') && isDigit(peekChar(2))))) {
    isFloat = true;
    advance();
    if (peekChar() == '+' || peekChar() == '-')
      advance();
    while (isDigit(peekChar()))
      advance();
  }
  tok.text = buffer.substr(start, pos - start);
  if (isFloat) {
    tok.kind = Tok::Float;
    std::string s = tok.text.str();
    errno = 0;
    double v = std::strtod(s.c_str(), nullptr);
    if (errno == ERANGE && std::isinf(v)) {
      error(tok.line, tok.col,
            "floating-point literal '" + s + "' is out of range");
      v = 0;
    }
    tok.floatValue = v;
    return;
  }
  tok.kind = Tok::Int;
  uint64_t v = 0;
  const uint64_t max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  bool overflow = false;
  for (char d : tok.text) {
    uint64_t digit = static_cast<uint64_t>(d - '0');
    if (v > (max - digit) / 10) {
      overflow = true;
      break;
    }
    v = v * 10 + digit;
  }
  if (overflow) {
    error(tok.line, tok.col,
          "integer literal '" + tok.text.str() +
              "' is too large; the largest is 9223372036854775807");
    v = 0;
  }
  tok.intValue = static_cast<int64_t>(v);
}

void Lexer::lexString(Token &tok) {
  size_t start = pos;
  // "..." or, as in Python, '...': the same string.
  char quote = peekChar();
  advance(); // opening quote
  tok.kind = Tok::String;
  std::string value;
  for (;;) {
    if (atEnd() || peekChar() == '\n') {
      error(tok.line, tok.col,
            std::string("unterminated string literal; expected '") + quote + "'");
      break;
    }
    char c = peekChar();
    if (c == quote) {
      advance();
      break;
    }
    if (c == '\\') {
      unsigned escLine = line;
      unsigned escCol = static_cast<unsigned>(pos - lineStart + 1);
      char e = peekChar(1);
      if (e == '"' || e == '\'' || e == '\\') {
        value.push_back(e);
        advance();
        advance();
        continue;
      }
      if (e == 'n') {
        value.push_back('\n');
        advance();
        advance();
        continue;
      }
      if (e == 't') {
        value.push_back('\t');
        advance();
        advance();
        continue;
      }
      if (pos + 1 >= buffer.size() || e == '\n') {
        advance(); // the backslash; the loop then reports the unterminated string
        continue;
      }
      std::string shown = quoteChar(e); // 'q' or '\xNN'
      error(escLine, escCol,
            "unknown escape sequence '\\" + shown.substr(1, shown.size() - 2) +
                "' in string; expected \\\", \\', \\\\, \\n or \\t");
      advance();
      advance();
      continue;
    }
    value.push_back(c);
    advance();
  }
  tok.text = buffer.substr(start, pos - start);
  tok.stringValue = std::move(value);
}
