//===- Json.cpp -----------------------------------------------------------===//
#include "support/Json.h"

#include "support/Format.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

namespace modelc::rt {

const JsonValue *JsonValue::get(const std::string &key) const {
  for (const auto &member : object)
    if (member.first == key)
      return &member.second;
  return nullptr;
}

const char *JsonValue::kindName() const {
  switch (kind) {
  case Kind::Null: return "null";
  case Kind::Bool: return "a boolean";
  case Kind::Number: return "a number";
  case Kind::String: return "a string";
  case Kind::Array: return "an array";
  case Kind::Object: return "an object";
  }
  return "?";
}

namespace {

// Deep enough for any real header or description; shallow enough that a
// hostile "[[[[..." cannot overflow the stack.
constexpr int kMaxDepth = 64;

class Parser {
public:
  Parser(const char *text, size_t size, const JsonLimits &limits)
      : p(text), begin(text), end(text + size), limits(limits) {}

  /// Whether the failure was a limit of JsonLimits, not the syntax.
  bool limitExceeded = false;

  bool parseDocument(JsonValue &value, std::string &error) {
    skipSpace();
    if (!parseValue(value, 0))
      return fail(error);
    skipSpace();
    if (p != end) {
      message = "unexpected text after the JSON value";
      return fail(error);
    }
    return true;
  }

private:
  const char *p;
  const char *begin;
  const char *end;
  const JsonLimits &limits;
  size_t charged = 0;
  std::string message;

  bool fail(std::string &error) {
    error = format("%s at offset %zu", message.c_str(),
                   static_cast<size_t>(p - begin));
    return false;
  }
  bool err(const char *what) {
    message = what;
    return false;
  }

  /// Adds `bytes` to the parsed value's estimated memory.
  bool charge(size_t bytes) {
    charged += bytes;
    if (charged <= limits.maxBytes)
      return true;
    limitExceeded = true;
    message = format("parsed, the JSON would take more than %zu bytes",
                     limits.maxBytes);
    return false;
  }
  /// Charges what appending to `elements` allocated: vectors grow by
  /// doubling, so the charges add up to the final capacity.
  template <typename T>
  bool chargeGrowth(const std::vector<T> &elements, size_t capacityBefore) {
    return charge((elements.capacity() - capacityBefore) * sizeof(T));
  }

  void skipSpace() {
    while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
      ++p;
  }

  bool literal(const char *word) {
    size_t n = std::strlen(word);
    if (static_cast<size_t>(end - p) < n || std::memcmp(p, word, n) != 0)
      return err("invalid literal");
    p += n;
    return true;
  }

  bool parseValue(JsonValue &value, int depth) {
    if (p == end)
      return err("unexpected end of JSON");
    switch (*p) {
    case '{': return parseObject(value, depth + 1);
    case '[': return parseArray(value, depth + 1);
    case '"':
      value.kind = JsonValue::Kind::String;
      return parseString(value.string) && charge(value.string.size());
    case 't':
      value.kind = JsonValue::Kind::Bool;
      value.boolean = true;
      return literal("true");
    case 'f':
      value.kind = JsonValue::Kind::Bool;
      return literal("false");
    case 'n':
      value.kind = JsonValue::Kind::Null;
      return literal("null");
    default:
      if (*p == '-' || (*p >= '0' && *p <= '9'))
        return parseNumber(value);
      return err("expected a JSON value");
    }
  }

  bool parseObject(JsonValue &value, int depth) {
    if (depth > kMaxDepth)
      return err("JSON nested too deeply");
    value.kind = JsonValue::Kind::Object;
    ++p; // '{'
    skipSpace();
    if (p != end && *p == '}') {
      ++p;
      return true;
    }
    std::unordered_set<std::string> seen;
    while (true) {
      skipSpace();
      if (p == end || *p != '"')
        return err("expected a string key");
      std::string key;
      const char *keyStart = p;
      if (!parseString(key))
        return false;
      if (!seen.insert(key).second) {
        p = keyStart;
        message = format("duplicate key %s", quoteJson(key).c_str());
        return false;
      }
      skipSpace();
      if (p == end || *p != ':')
        return err("expected ':'");
      ++p;
      skipSpace();
      // The key's characters are held twice, in the member and in `seen`;
      // seen's copy, its node and its bucket cost about two std::strings.
      if (!charge(2 * key.size() + 2 * sizeof(std::string)))
        return false;
      size_t capacity = value.object.capacity();
      value.object.emplace_back(std::move(key), JsonValue());
      if (!chargeGrowth(value.object, capacity))
        return false;
      if (!parseValue(value.object.back().second, depth))
        return false;
      skipSpace();
      if (p != end && *p == ',') {
        ++p;
        continue;
      }
      if (p != end && *p == '}') {
        ++p;
        return true;
      }
      return err("expected ',' or '}'");
    }
  }

  bool parseArray(JsonValue &value, int depth) {
    if (depth > kMaxDepth)
      return err("JSON nested too deeply");
    value.kind = JsonValue::Kind::Array;
    ++p; // '['
    skipSpace();
    if (p != end && *p == ']') {
      ++p;
      return true;
    }
    while (true) {
      skipSpace();
      if (value.array.size() == limits.maxArrayLength) {
        limitExceeded = true;
        return err(format("an array of more than %zu elements",
                          limits.maxArrayLength).c_str());
      }
      size_t capacity = value.array.capacity();
      value.array.emplace_back();
      if (!chargeGrowth(value.array, capacity))
        return false;
      if (!parseValue(value.array.back(), depth))
        return false;
      skipSpace();
      if (p != end && *p == ',') {
        ++p;
        continue;
      }
      if (p != end && *p == ']') {
        ++p;
        return true;
      }
      return err("expected ',' or ']'");
    }
  }

  static void appendUtf8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  bool parseHex4(uint32_t &cp) {
    if (end - p < 4)
      return err("truncated \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i, ++p) {
      char c = *p;
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= static_cast<uint32_t>(c - 'A' + 10);
      else return err("invalid \\u escape");
    }
    return true;
  }

  /// Validates one UTF-8 sequence starting at p (a byte >= 0x80), copies it.
  bool copyUtf8(std::string &out) {
    const auto *u = reinterpret_cast<const unsigned char *>(p);
    size_t avail = static_cast<size_t>(end - p);
    size_t len;
    uint32_t cp;
    if (u[0] >= 0xc2 && u[0] <= 0xdf) { len = 2; cp = u[0] & 0x1f; }
    else if (u[0] >= 0xe0 && u[0] <= 0xef) { len = 3; cp = u[0] & 0x0f; }
    else if (u[0] >= 0xf0 && u[0] <= 0xf4) { len = 4; cp = u[0] & 0x07; }
    else return err("invalid UTF-8 in string");
    if (avail < len)
      return err("invalid UTF-8 in string");
    for (size_t i = 1; i < len; ++i) {
      if ((u[i] & 0xc0) != 0x80)
        return err("invalid UTF-8 in string");
      cp = (cp << 6) | (u[i] & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return err("invalid UTF-8 in string");
    out.append(p, len);
    p += len;
    return true;
  }

  bool parseString(std::string &out) {
    ++p; // opening quote
    while (true) {
      if (p == end)
        return err("unterminated string");
      unsigned char c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c < 0x20)
        return err("control character in string");
      if (c >= 0x80) {
        if (!copyUtf8(out))
          return false;
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++p;
        continue;
      }
      ++p;
      if (p == end)
        return err("unterminated string");
      char e = *p++;
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp;
        if (!parseHex4(cp))
          return false;
        if (cp >= 0xdc00 && cp <= 0xdfff)
          return err("unpaired surrogate in \\u escape");
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t low;
          if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
            return err("unpaired surrogate in \\u escape");
          p += 2;
          if (!parseHex4(low))
            return false;
          if (low < 0xdc00 || low > 0xdfff)
            return err("unpaired surrogate in \\u escape");
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        appendUtf8(out, cp);
        break;
      }
      default:
        --p;
        return err("invalid escape in string");
      }
    }
  }

  bool parseNumber(JsonValue &value) {
    const char *start = p;
    bool integral = true;
    if (*p == '-')
      ++p;
    if (p == end || !(*p >= '0' && *p <= '9'))
      return err("invalid number");
    if (*p == '0') {
      ++p;
    } else {
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
    }
    if (p != end && *p == '.') {
      integral = false;
      ++p;
      if (p == end || !(*p >= '0' && *p <= '9'))
        return err("invalid number");
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
      integral = false;
      ++p;
      if (p != end && (*p == '+' || *p == '-'))
        ++p;
      if (p == end || !(*p >= '0' && *p <= '9'))
        return err("invalid number");
      while (p != end && *p >= '0' && *p <= '9')
        ++p;
    }
    // The grammar is checked above; strtod/strtoll need a NUL-terminated copy.
    std::string lexeme(start, p);
    value.kind = JsonValue::Kind::Number;
    value.number = std::strtod(lexeme.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long v = std::strtoll(lexeme.c_str(), nullptr, 10);
      if (errno == 0) {
        value.isInteger = true;
        value.integer = v;
      }
    }
    return true;
  }
};

} // namespace

bool parseJson(const char *text, size_t size, JsonValue &value,
               std::string &error) {
  bool limitExceeded;
  return parseJson(text, size, value, error, JsonLimits(), limitExceeded);
}

bool parseJson(const char *text, size_t size, JsonValue &value,
               std::string &error, const JsonLimits &limits,
               bool &limitExceeded) {
  value = JsonValue();
  Parser parser(text, size, limits);
  bool ok = parser.parseDocument(value, error);
  limitExceeded = parser.limitExceeded;
  if (!ok)
    value = JsonValue(); // give back what the failed parse allocated now
  return ok;
}

} // namespace modelc::rt
