//===- Json.h - a small strict JSON parser ---------------------------------===//
//
// Parses RFC 8259 JSON: the safetensors header and the model description
// that the compiler embeds. Strict on purpose, because the input may be a
// hostile file: no comments, no trailing commas, no duplicate object keys,
// strings must be valid UTF-8, nesting is bounded. Objects keep their key
// order (the model description relies on it).
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_SUPPORT_JSON_H
#define MODELC_RUNTIME_SUPPORT_JSON_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace modelc::rt {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  /// For numbers written without fraction or exponent that fit in int64.
  bool isInteger = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  bool isObject() const { return kind == Kind::Object; }
  bool isArray() const { return kind == Kind::Array; }
  bool isString() const { return kind == Kind::String; }
  bool isNumber() const { return kind == Kind::Number; }
  /// The member named `key`, or null. Linear: objects here are small, large
  /// ones (safetensors headers) are indexed by the caller.
  const JsonValue *get(const std::string &key) const;
  /// "an object", "a string", ... for error messages.
  const char *kindName() const;
};

/// Parses `text` (exactly `size` bytes; surrounding whitespace allowed).
/// On error returns false and sets `error` to e.g.
/// "expected ',' or '}' at offset 17".
bool parseJson(const char *text, size_t size, JsonValue &value,
               std::string &error);

/// Bounds on what a hostile document can make the parser allocate: its
/// values cost far more parsed than as text (a 2-byte "0," becomes a
/// JsonValue of over 100 bytes).
struct JsonLimits {
  /// Elements of one array.
  size_t maxArrayLength = SIZE_MAX;
  /// An estimate of the parsed value's memory: the values, object keys
  /// (twice: the duplicate check keeps a copy), strings and the arrays'
  /// capacity.
  size_t maxBytes = SIZE_MAX;
};

/// parseJson within `limits`. Exceeding one is an error too, with
/// `limitExceeded` set, e.g. "an array of more than 64 elements at offset 9".
bool parseJson(const char *text, size_t size, JsonValue &value,
               std::string &error, const JsonLimits &limits,
               bool &limitExceeded);

} // namespace modelc::rt

#endif
