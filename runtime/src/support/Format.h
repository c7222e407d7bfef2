//===- Format.h - printf-style formatting into std::string ----------------===//
//
// The runtime is linked into every model.so and must need nothing beyond
// libc at run time, so it formats with vsnprintf rather than iostreams or a
// formatting library's compiled part.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_SUPPORT_FORMAT_H
#define MODELC_RUNTIME_SUPPORT_FORMAT_H

#include <cstdint>
#include <string>
#include <vector>

namespace modelc::rt {

/// Returns the printf-formatted string.
std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/// "[3, 2]"; a negative size (dynamic) prints as "?".
std::string formatShape(const std::vector<int64_t> &shape);

/// `s` with quotes, as a JSON string literal.
std::string quoteJson(const std::string &s);

} // namespace modelc::rt

#endif
