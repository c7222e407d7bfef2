//===- SafeTensors.cpp ----------------------------------------------------===//
#include "support/SafeTensors.h"

#include "support/Format.h"
#include "support/Json.h"

#include <algorithm>
#include <cstring>

namespace modelc::rt {

bool checkSafeTensorsHeaderLength(uint64_t headerLength, uint64_t fileSize,
                                  std::string &error) {
  if (headerLength > kMaxSafeTensorsHeader) {
    error = format("header length %llu is absurd (the limit is %llu bytes); "
                   "not a safetensors file?",
                   static_cast<unsigned long long>(headerLength),
                   static_cast<unsigned long long>(kMaxSafeTensorsHeader));
    return false;
  }
  if (headerLength > fileSize - 8) {
    error = format("header length %llu runs past the end of the file "
                   "(%llu bytes after the 8-byte length)",
                   static_cast<unsigned long long>(headerLength),
                   static_cast<unsigned long long>(fileSize - 8));
    return false;
  }
  if (headerLength < 2) {
    error = format("header length %llu is too small for a JSON object",
                   static_cast<unsigned long long>(headerLength));
    return false;
  }
  return true;
}

namespace {

/// A JSON number that is an integer >= 0 (and, for offsets, fits).
bool asNonNegativeInteger(const JsonValue &v, int64_t &out) {
  if (!v.isNumber() || !v.isInteger || v.integer < 0)
    return false;
  out = v.integer;
  return true;
}

struct Extent {
  uint64_t begin, end;
  size_t index;
};

bool parseEntry(const std::string &name, const JsonValue &entry,
                SafeTensor &tensor, Extent &extent, std::string &error) {
  std::string where = format("tensor '%s'", name.c_str());
  if (!entry.isObject()) {
    error = format("%s: expected an object with dtype, shape and "
                   "data_offsets, got %s", where.c_str(), entry.kindName());
    return false;
  }
  for (const auto &member : entry.object)
    if (member.first != "dtype" && member.first != "shape" &&
        member.first != "data_offsets") {
      error = format("%s: unexpected field '%s' (expected dtype, shape, "
                     "data_offsets)", where.c_str(), member.first.c_str());
      return false;
    }
  const JsonValue *dtype = entry.get("dtype");
  const JsonValue *shape = entry.get("shape");
  const JsonValue *offsets = entry.get("data_offsets");
  const char *missing = !dtype ? "dtype" : !shape ? "shape"
                        : !offsets ? "data_offsets" : nullptr;
  if (missing) {
    error = format("%s: missing field '%s'", where.c_str(), missing);
    return false;
  }
  if (!dtype->isString()) {
    error = format("%s: dtype must be a string, got %s", where.c_str(),
                   dtype->kindName());
    return false;
  }
  if (!parseDType(dtype->string, tensor.dtype)) {
    error = format("%s: unsupported dtype '%s' (supported: %s)", where.c_str(),
                   dtype->string.c_str(), supportedDTypeList());
    return false;
  }
  if (!shape->isArray()) {
    error = format("%s: shape must be an array of sizes, got %s",
                   where.c_str(), shape->kindName());
    return false;
  }
  for (const JsonValue &dim : shape->array) {
    int64_t d;
    if (!asNonNegativeInteger(dim, d)) {
      error = format("%s: shape must hold non-negative integers",
                     where.c_str());
      return false;
    }
    tensor.shape.push_back(d);
  }
  int64_t begin, end;
  if (!offsets->isArray() || offsets->array.size() != 2 ||
      !asNonNegativeInteger(offsets->array[0], begin) ||
      !asNonNegativeInteger(offsets->array[1], end)) {
    error = format("%s: data_offsets must be [begin, end] with non-negative "
                   "integers", where.c_str());
    return false;
  }
  if (end < begin) {
    error = format("%s: data_offsets [%lld, %lld] end before they begin",
                   where.c_str(), static_cast<long long>(begin),
                   static_cast<long long>(end));
    return false;
  }
  uint64_t expected;
  if (!computeNumBytes(tensor.shape, tensor.dtype, expected)) {
    error = format("%s: shape %s is too large", where.c_str(),
                   formatShape(tensor.shape).c_str());
    return false;
  }
  uint64_t actual = static_cast<uint64_t>(end - begin);
  if (actual != expected) {
    error = format("%s: data_offsets [%lld, %lld] hold %llu bytes, but %s %s "
                   "needs %llu", where.c_str(), static_cast<long long>(begin),
                   static_cast<long long>(end),
                   static_cast<unsigned long long>(actual),
                   dtypeName(tensor.dtype), formatShape(tensor.shape).c_str(),
                   static_cast<unsigned long long>(expected));
    return false;
  }
  tensor.name = name;
  tensor.nbytes = actual;
  extent.begin = static_cast<uint64_t>(begin);
  extent.end = static_cast<uint64_t>(end);
  return true;
}

} // namespace

bool parseSafeTensors(const unsigned char *bytes, size_t size,
                      std::vector<SafeTensor> &tensors, std::string &error) {
  return parseSafeTensors(bytes, size, tensors, nullptr, error);
}

bool parseSafeTensors(const unsigned char *bytes, size_t size,
                      std::vector<SafeTensor> &tensors, SafeTensorsMetadata *metadata,
                      std::string &error) {
  tensors.clear();
  if (metadata)
    metadata->clear();
  if (!bytes || size < 8) {
    error = format("file is too short (%zu bytes) to be a safetensors file: "
                   "it needs at least the 8-byte header length", size);
    return false;
  }
  uint64_t headerLength;
  std::memcpy(&headerLength, bytes, 8);
  if (!checkSafeTensorsHeaderLength(headerLength, size, error))
    return false;
  const char *header = reinterpret_cast<const char *>(bytes + 8);
  if (header[0] != '{') {
    error = "the header does not start with '{'";
    return false;
  }
  JsonValue root;
  std::string jsonError;
  JsonLimits limits;
  limits.maxArrayLength = kMaxSafeTensorsRank;
  limits.maxBytes = kMaxParsedSafeTensorsHeader;
  bool limitExceeded = false;
  if (!parseJson(header, headerLength, root, jsonError, limits,
                 limitExceeded)) {
    if (limitExceeded)
      error = format("header refused: %s (a tensor has at most %zu "
                     "dimensions, and the parsed header may take at most "
                     "%zu MB)", jsonError.c_str(), kMaxSafeTensorsRank,
                     kMaxParsedSafeTensorsHeader >> 20);
    else
      error = "invalid JSON in the header: " + jsonError;
    return false;
  }
  if (!root.isObject()) {
    error = "the header is not a JSON object";
    return false;
  }

  const unsigned char *data = bytes + 8 + headerLength;
  uint64_t dataSize = size - 8 - headerLength;
  std::vector<Extent> extents;
  for (const auto &member : root.object) {
    if (member.first == "__metadata__") {
      // Allowed and ignored, but it must have the documented form.
      bool ok = member.second.isObject();
      for (const auto &kv : member.second.object)
        ok = ok && kv.second.isString();
      if (!ok) {
        error = "__metadata__ must be an object of strings";
        return false;
      }
      if (metadata)
        for (const auto &kv : member.second.object)
          metadata->emplace_back(kv.first, kv.second.string);
      continue;
    }
    SafeTensor tensor;
    Extent extent;
    if (!parseEntry(member.first, member.second, tensor, extent, error))
      return false;
    extent.index = tensors.size();
    tensors.push_back(std::move(tensor));
    extents.push_back(extent);
  }

  // The tensors must tile [0, dataSize) exactly. Sorting by (begin, end)
  // puts empty tensors before a non-empty one at the same offset.
  std::vector<Extent> sorted = extents;
  std::sort(sorted.begin(), sorted.end(), [](const Extent &a, const Extent &b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Extent *previous = nullptr;
  for (const Extent &e : sorted) {
    const std::string &name = tensors[e.index].name;
    if (e.end > dataSize) {
      error = format("tensor '%s': data_offsets [%llu, %llu] run past the end "
                     "of the data section (%llu bytes)", name.c_str(),
                     static_cast<unsigned long long>(e.begin),
                     static_cast<unsigned long long>(e.end),
                     static_cast<unsigned long long>(dataSize));
      return false;
    }
    if (e.begin < covered) {
      error = format("tensor '%s': data_offsets [%llu, %llu] overlap those of "
                     "tensor '%s'", name.c_str(),
                     static_cast<unsigned long long>(e.begin),
                     static_cast<unsigned long long>(e.end),
                     previous ? tensors[previous->index].name.c_str() : "?");
      return false;
    }
    if (e.begin > covered) {
      error = format("gap in the data section: bytes [%llu, %llu) belong to no "
                     "tensor (the next one is '%s')",
                     static_cast<unsigned long long>(covered),
                     static_cast<unsigned long long>(e.begin), name.c_str());
      return false;
    }
    if (e.end > e.begin) {
      covered = e.end;
      previous = &e;
    }
  }
  if (covered != dataSize) {
    error = format("%llu trailing bytes after the last tensor's data "
                   "(the data section has %llu bytes, the tensors cover %llu)",
                   static_cast<unsigned long long>(dataSize - covered),
                   static_cast<unsigned long long>(dataSize),
                   static_cast<unsigned long long>(covered));
    return false;
  }
  for (size_t i = 0; i < tensors.size(); ++i)
    tensors[i].data = data + extents[i].begin;
  return true;
}

std::string buildSafeTensorsHeader(const std::vector<SafeTensor> &tensors) {
  return buildSafeTensorsHeader(tensors, {{"format", "pt"}});
}

std::string buildSafeTensorsHeader(const std::vector<SafeTensor> &tensors,
                                   const SafeTensorsMetadata &metadata) {
  std::string json = "{\"__metadata__\":{";
  for (size_t i = 0; i < metadata.size(); ++i)
    json += (i ? "," : "") + quoteJson(metadata[i].first) + ":" +
            quoteJson(metadata[i].second);
  json += "}";
  uint64_t offset = 0;
  for (const SafeTensor &t : tensors) {
    json += ",";
    json += quoteJson(t.name);
    json += ":{\"dtype\":\"";
    json += dtypeName(t.dtype);
    json += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      json += format(i ? ",%lld" : "%lld", static_cast<long long>(t.shape[i]));
    json += format("],\"data_offsets\":[%llu,%llu]}",
                   static_cast<unsigned long long>(offset),
                   static_cast<unsigned long long>(offset + t.nbytes));
    offset += t.nbytes;
  }
  json += "}";
  while (json.size() % 8 != 0)
    json += ' ';
  uint64_t length = json.size();
  std::string out(8, '\0');
  std::memcpy(&out[0], &length, 8);
  return out + json;
}

std::string serializeSafeTensors(const std::vector<SafeTensor> &tensors) {
  return serializeSafeTensors(tensors, {{"format", "pt"}});
}

std::string serializeSafeTensors(const std::vector<SafeTensor> &tensors,
                                 const SafeTensorsMetadata &metadata) {
  std::string out = buildSafeTensorsHeader(tensors, metadata);
  for (const SafeTensor &t : tensors)
    out.append(reinterpret_cast<const char *>(t.data), t.nbytes);
  return out;
}

bool stateMayBeMissing(const std::string &name) {
  static const std::string leaf = "num_batches_tracked";
  return name == leaf ||
         (name.size() > leaf.size() &&
          name.compare(name.size() - leaf.size() - 1, std::string::npos, "." + leaf) == 0);
}

bool savedShapeLoads(const std::vector<int64_t> &saved, const std::vector<int64_t> &entry) {
  return saved == entry || (entry.empty() && saved == std::vector<int64_t>{1});
}

bool savedDTypeLoads(DType saved, DType entry) {
  return saved == entry || (isFloatingDType(saved) && isFloatingDType(entry)) ||
         (isIntegerDType(saved) && isIntegerDType(entry));
}

} // namespace modelc::rt
