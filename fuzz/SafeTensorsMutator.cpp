//===- SafeTensorsMutator.cpp - structure-aware mutations of safetensors ---===//
//
// libFuzzer's custom mutator for modelc-fuzz-safetensors and
// modelc-fuzz-inputs. Byte-level mutations rarely get past the length prefix
// and the JSON, and never make a header amplify (a shape of 65 dimensions,
// thousands of entries, sizes whose byte count overflows). This one parses
// the header, changes its structure (ranks, sizes, entry counts, offsets,
// dtypes, names) and writes it back with a correct 8-byte length, so that
// most of its outputs reach the checks behind the JSON. Anything it cannot
// parse, and one input in four, gets libFuzzer's own mutations instead.
//
//===----------------------------------------------------------------------===//
#include "support/Json.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

using modelc::rt::JsonValue;

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {

using Rng = std::minstd_rand;

size_t pick(Rng &rng, size_t n) { return n ? rng() % n : 0; }

/// Numbers that sit on the readers' boundaries: int64 and uint64 limits,
/// products that overflow, issue 17's [46116860184273879, 100].
/// A Number JsonValue with `string` set is written as that text, which can
/// be any number, even one no JsonValue holds.
const char *const kNumbers[] = {
    "0", "1", "2", "3", "4", "-1", "64", "65", "255", "256", "65536",
    "2147483647", "2147483648", "4294967295", "4294967296",
    "46116860184273879", "4611686018427387904", "9223372036854775807",
    "9223372036854775808", "18446744073709551615", "18446744073709551616",
    "-9223372036854775808", "1.5", "1e18", "1e400", "-0", "0.0"};

/// The fake model's state entries and input (test/Runtime/Inputs/fake_model.c)
/// and some names that are not.
const char *const kNames[] = {"x", "lin.weight", "lin.bias", "scale", "count",
                              "lin.half", "__metadata__", "", "y", "lin"};
const char *const kDTypes[] = {"F32", "F64", "F16", "BF16", "I32", "I64", "BOOL",
                               "U8", "I8", "F8_E4M3", "f32", ""};

JsonValue number(const std::string &text) {
  JsonValue v;
  v.kind = JsonValue::Kind::Number;
  v.string = text;
  return v;
}

JsonValue randomNumber(Rng &rng) {
  if (rng() % 2)
    return number(kNumbers[pick(rng, std::size(kNumbers))]);
  return number(std::to_string(rng() % 8));
}

void writeString(const std::string &s, std::string &out) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

void write(const JsonValue &v, std::string &out) {
  switch (v.kind) {
  case JsonValue::Kind::Null:
    out += "null";
    break;
  case JsonValue::Kind::Bool:
    out += v.boolean ? "true" : "false";
    break;
  case JsonValue::Kind::Number:
    if (!v.string.empty()) {
      out += v.string;
    } else if (v.isInteger) {
      out += std::to_string(v.integer);
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.number);
      out += buf;
    }
    break;
  case JsonValue::Kind::String:
    writeString(v.string, out);
    break;
  case JsonValue::Kind::Array:
    out += '[';
    for (size_t i = 0; i < v.array.size(); ++i) {
      if (i)
        out += ',';
      write(v.array[i], out);
    }
    out += ']';
    break;
  case JsonValue::Kind::Object:
    out += '{';
    for (size_t i = 0; i < v.object.size(); ++i) {
      if (i)
        out += ',';
      writeString(v.object[i].first, out);
      out += ':';
      write(v.object[i].second, out);
    }
    out += '}';
    break;
  }
}

/// The member `key` of object `v`, added (as null) when missing.
JsonValue &member(JsonValue &v, const char *key) {
  for (auto &[k, value] : v.object)
    if (k == key)
      return value;
  v.object.emplace_back(key, JsonValue());
  return v.object.back().second;
}

/// An integer's value, or -1 for anything else (negative, too large, text).
int64_t integerOf(const JsonValue &v) {
  if (v.kind != JsonValue::Kind::Number)
    return -1;
  if (v.string.empty())
    return v.isInteger ? v.integer : -1;
  char *end = nullptr;
  long long n = std::strtoll(v.string.c_str(), &end, 10);
  return *end || n < 0 ? -1 : n;
}

int64_t elementSize(const JsonValue *dtype) {
  if (!dtype || !dtype->isString())
    return 4;
  const std::string &d = dtype->string;
  if (d == "F64" || d == "I64")
    return 8;
  if (d == "F16" || d == "BF16")
    return 2;
  if (d == "BOOL" || d == "U8" || d == "I8")
    return 1;
  return 4;
}

/// Rewrites every entry's data_offsets so that the entries tile a data
/// section in order, and resizes `data` to match: what a valid file has.
/// Gives up (false) on sizes too large for `maxData` bytes.
bool retile(JsonValue &header, std::string &data, size_t maxData) {
  uint64_t offset = 0;
  for (auto &[name, entry] : header.object) {
    if (!entry.isObject())
      continue;
    // get, not member: adding a member would move the others.
    const JsonValue *shape = entry.get("shape");
    uint64_t bytes = static_cast<uint64_t>(elementSize(entry.get("dtype")));
    if (shape && shape->isArray())
      for (const JsonValue &d : shape->array) {
        int64_t n = integerOf(d);
        if (n < 0 || (n && bytes > maxData / static_cast<uint64_t>(n)))
          return false;
        bytes *= static_cast<uint64_t>(n);
      }
    if (bytes > maxData - offset)
      return false;
    JsonValue &offsets = member(entry, "data_offsets");
    offsets = JsonValue();
    offsets.kind = JsonValue::Kind::Array;
    offsets.array = {number(std::to_string(offset)),
                     number(std::to_string(offset + bytes))};
    offset += bytes;
  }
  data.resize(offset, '\0');
  return true;
}

/// One structural change to `header` (a parsed object) or `data`.
void mutate(JsonValue &header, std::string &data, size_t maxData, Rng &rng) {
  std::vector<std::pair<std::string, JsonValue>> &entries = header.object;
  if (entries.empty()) {
    JsonValue entry;
    entry.kind = JsonValue::Kind::Object;
    member(entry, "dtype").kind = JsonValue::Kind::String;
    member(entry, "dtype").string = "F32";
    member(entry, "shape").kind = JsonValue::Kind::Array;
    member(entry, "data_offsets").kind = JsonValue::Kind::Array;
    entries.emplace_back(kNames[pick(rng, std::size(kNames))], entry);
    retile(header, data, maxData);
    return;
  }
  auto &picked = entries[pick(rng, entries.size())];
  std::string &name = picked.first;
  JsonValue &entry = picked.second;
  JsonValue scratch;
  // The entry's shape, made an array if it is not one (for the cases that
  // change shapes only: the others keep a broken one broken).
  auto shapeOf = [&]() -> JsonValue & {
    JsonValue &shape = entry.isObject() ? member(entry, "shape") : scratch;
    if (!shape.isArray()) {
      shape = JsonValue();
      shape.kind = JsonValue::Kind::Array;
    }
    return shape;
  };
  switch (rng() % 12) {
  case 0: // Rank amplification: to PyTorch's limit, just past it, or far past.
  case 1: {
    static const size_t kRanks[] = {63, 64, 65, 66, 128, 1000};
    JsonValue &shape = shapeOf();
    size_t rank = rng() % 3 ? shape.array.size() + 1 + pick(rng, 8)
                            : kRanks[pick(rng, std::size(kRanks))];
    shape.array.resize(rank, number(rng() % 4 ? "1" : "0"));
    break;
  }
  case 2: { // Drop dimensions.
    JsonValue &shape = shapeOf();
    shape.array.resize(pick(rng, shape.array.size() + 1));
    break;
  }
  case 3: { // A size on a boundary, or a small one.
    JsonValue &shape = shapeOf();
    if (shape.array.empty())
      shape.array.push_back(randomNumber(rng));
    else
      shape.array[pick(rng, shape.array.size())] = randomNumber(rng);
    break;
  }
  case 4: { // Entry-count amplification: copies under new names, or the same.
    static const size_t kCopies[] = {1, 2, 16, 255, 1000};
    size_t copies = kCopies[pick(rng, std::size(kCopies))];
    bool sameName = rng() % 8 == 0;
    std::pair<std::string, JsonValue> copy = entries[pick(rng, entries.size())];
    // No more copies than the output can hold: a thousand copies of a shape
    // of a thousand sizes would be a million values to build and throw away.
    std::string text;
    write(copy.second, text);
    copies = std::min(copies, maxData / (text.size() + copy.first.size() + 8) + 1);
    std::string base = copy.first;
    for (size_t i = 0; i < copies; ++i) {
      if (!sameName)
        copy.first = base + "." + std::to_string(i);
      entries.push_back(copy);
    }
    if (rng() % 2)
      retile(header, data, maxData);
    return;
  }
  case 5: // Remove an entry.
    entries.erase(entries.begin() + static_cast<ptrdiff_t>(pick(rng, entries.size())));
    return;
  case 6: { // Offsets: a boundary number, swapped, or one more or fewer.
    JsonValue &offsets = entry.isObject() ? member(entry, "data_offsets") : scratch;
    if (!offsets.isArray() || offsets.array.empty()) {
      offsets = JsonValue();
      offsets.kind = JsonValue::Kind::Array;
      offsets.array = {number("0"), number("0")};
    }
    size_t which = rng() % 4;
    if (which == 0)
      std::swap(offsets.array.front(), offsets.array.back());
    else if (which == 1)
      offsets.array.push_back(randomNumber(rng));
    else
      offsets.array[pick(rng, offsets.array.size())] = randomNumber(rng);
    return;
  }
  case 7: // Valid offsets for the shapes as they are.
    retile(header, data, maxData);
    return;
  case 8: // Another dtype.
    if (entry.isObject()) {
      JsonValue &dtype = member(entry, "dtype");
      dtype = JsonValue();
      dtype.kind = JsonValue::Kind::String;
      dtype.string = kDTypes[pick(rng, std::size(kDTypes))];
    }
    break;
  case 9: // Another name: one the fake model has, or a prefix of this one.
    name = rng() % 2 ? std::string(kNames[pick(rng, std::size(kNames))])
                     : name.substr(0, pick(rng, name.size() + 1));
    return;
  case 10: { // __metadata__, valid or not.
    JsonValue meta;
    meta.kind = rng() % 4 ? JsonValue::Kind::Object : JsonValue::Kind::Array;
    if (meta.isObject()) {
      JsonValue format;
      format.kind = JsonValue::Kind::String;
      format.string = "pt";
      meta.object.emplace_back("format", format);
    }
    entries.emplace(entries.begin(), "__metadata__", meta);
    return;
  }
  default: // A member the entry should not have, or without one it needs.
    if (entry.isObject() && !entry.object.empty() && rng() % 2)
      entry.object.erase(entry.object.begin() +
                         static_cast<ptrdiff_t>(pick(rng, entry.object.size())));
    else if (entry.isObject())
      member(entry, "extra") = randomNumber(rng);
    return;
  }
  // A changed shape keeps the file valid half of the time.
  if (rng() % 2)
    retile(header, data, maxData);
}

/// The header of a safetensors file, parsed, and the data after it; false
/// when the input is no such file.
bool split(const uint8_t *bytes, size_t size, JsonValue &header, std::string &data) {
  if (size < 8)
    return false;
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i)
    length = length << 8 | bytes[i];
  if (length > size - 8)
    return false;
  std::string error;
  if (!modelc::rt::parseJson(reinterpret_cast<const char *>(bytes + 8),
                             static_cast<size_t>(length), header, error) ||
      !header.isObject())
    return false;
  data.assign(reinterpret_cast<const char *>(bytes + 8 + length),
              size - 8 - static_cast<size_t>(length));
  return true;
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *bytes, size_t size, size_t maxSize,
                                          unsigned int seed) {
  Rng rng(seed);
  JsonValue header;
  std::string data;
  if (rng() % 4 == 0 || !split(bytes, size, header, data))
    return LLVMFuzzerMutate(bytes, size, maxSize);

  // Outputs grow by at most twice a step past 64 KB: libFuzzer's inputs
  // otherwise soon all approach its 1 MB, and its executions per second
  // drop a hundredfold (parsing, and the copies of the data, in every run).
  size_t budget = std::min(maxSize, std::max<size_t>(2 * size, 64 << 10));
  for (size_t n = 1 + pick(rng, 3); n > 0; --n)
    mutate(header, data, budget, rng);

  std::string text;
  write(header, text);
  // Padded to 8 bytes as writers do, most of the time.
  if (rng() % 8)
    text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  if (8 + text.size() + data.size() > budget)
    return LLVMFuzzerMutate(bytes, size, maxSize);
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i)
    bytes[i] = static_cast<uint8_t>(length >> (8 * i));
  std::memcpy(bytes + 8, text.data(), text.size());
  std::memcpy(bytes + 8 + text.size(), data.data(), data.size());
  return 8 + text.size() + data.size();
}
