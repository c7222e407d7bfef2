//===- st-compare.cpp - compare two safetensors files ---------------------===//
//
//   st-compare a.safetensors b.safetensors [--rtol R] [--atol A]
//              [--keys-only-in-a-ok]
//
// `b` is the reference. Both files must hold the same keys (keys only in `a`
// are allowed with --keys-only-in-a-ok), with equal dtypes and shapes, and
// every floating value must satisfy |a - b| <= atol + rtol * |b| (numpy's
// allclose; NaN matches NaN, an infinity matches the same infinity). Integer
// and BOOL values must be equal. Prints the worst errors; exits 1 on any
// mismatch or error, naming the key at fault.
//
//===----------------------------------------------------------------------===//
#include "support/DType.h"
#include "support/FileIO.h"
#include "support/Format.h"
#include "support/SafeTensors.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace modelc::rt;

namespace {

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "st-compare: error: %s\n", message.c_str());
  std::exit(1);
}

double parseTolerance(const char *option, const char *text) {
  errno = 0;
  char *end = nullptr;
  double v = std::strtod(text, &end);
  if (!*text || *end || errno || !(v >= 0) || std::isinf(v))
    die(format("%s expects a non-negative number, got '%s'", option, text));
  return v;
}

struct File {
  std::string path;
  std::string bytes;
  std::vector<SafeTensor> tensors;
  std::map<std::string, const SafeTensor *> byName;
};

void load(File &file) {
  std::string error;
  if (!readSafeTensorsFile(file.path, file.bytes, error) ||
      !parseSafeTensors(reinterpret_cast<const unsigned char *>(file.bytes.data()),
                        file.bytes.size(), file.tensors, error))
    die(format("'%s': %s", file.path.c_str(), error.c_str()));
  for (const SafeTensor &t : file.tensors)
    file.byName[t.name] = &t;
}

std::string indexText(const std::vector<int64_t> &shape, uint64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = static_cast<int64_t>(flat % static_cast<uint64_t>(shape[d]));
    flat /= static_cast<uint64_t>(shape[d]);
  }
  std::string out = "[";
  for (size_t d = 0; d < index.size(); ++d)
    out += format(d ? ", %lld" : "%lld", static_cast<long long>(index[d]));
  return out + "]";
}

} // namespace

int main(int argc, char **argv) {
  File a, b;
  double rtol = 1e-4, atol = 1e-5;
  bool onlyInAOk = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        die(format("option %s needs a value", arg.c_str()));
      return argv[++i];
    };
    if (arg == "--rtol") rtol = parseTolerance("--rtol", value());
    else if (arg == "--atol") atol = parseTolerance("--atol", value());
    else if (arg == "--keys-only-in-a-ok") onlyInAOk = true;
    else if (arg == "--help" || arg == "-h") {
      std::puts("usage: st-compare a.safetensors b.safetensors [--rtol R] "
                "[--atol A] [--keys-only-in-a-ok]");
      return 0;
    } else if (arg.size() > 1 && arg[0] == '-')
      die(format("unknown option '%s'", arg.c_str()));
    else if (a.path.empty()) a.path = arg;
    else if (b.path.empty()) b.path = arg;
    else die(format("unexpected argument '%s': give exactly two files", arg.c_str()));
  }
  if (b.path.empty())
    die("usage: st-compare a.safetensors b.safetensors [--rtol R] [--atol A] "
        "[--keys-only-in-a-ok]");
  load(a);
  load(b);

  std::vector<std::string> problems;
  for (const SafeTensor &t : b.tensors)
    if (!a.byName.count(t.name))
      problems.push_back(format("key '%s' is only in '%s'", t.name.c_str(),
                                b.path.c_str()));
  if (!onlyInAOk)
    for (const SafeTensor &t : a.tensors)
      if (!b.byName.count(t.name))
        problems.push_back(format("key '%s' is only in '%s'", t.name.c_str(),
                                  a.path.c_str()));

  double worstAbs = 0, worstRel = 0;
  std::string worstKey;
  size_t compared = 0;
  for (const SafeTensor &tb : b.tensors) {
    auto it = a.byName.find(tb.name);
    if (it == a.byName.end())
      continue;
    const SafeTensor &ta = *it->second;
    const char *key = tb.name.c_str();
    if (ta.dtype != tb.dtype || ta.shape != tb.shape) {
      problems.push_back(format("key '%s': %s %s vs %s %s", key,
                                dtypeName(ta.dtype), formatShape(ta.shape).c_str(),
                                dtypeName(tb.dtype), formatShape(tb.shape).c_str()));
      continue;
    }
    ++compared;
    uint64_t numel = 0;
    computeNumel(tb.shape, numel);
    uint64_t bad = 0, firstBad = 0;
    bool floating = isFloatingDType(tb.dtype);
    for (uint64_t i = 0; i < numel; ++i) {
      double x = loadAsDouble(ta.dtype, ta.data, i);
      double y = loadAsDouble(tb.dtype, tb.data, i);
      bool ok;
      if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) {
        ok = (std::isnan(x) && std::isnan(y)) || x == y;
      } else {
        double diff = std::fabs(x - y);
        double rel = diff / std::max(std::fabs(y), 1e-30);
        if (diff > worstAbs)
          worstAbs = diff;
        if (diff > 0 && rel > worstRel) {
          worstRel = rel;
          worstKey = tb.name;
        }
        ok = floating ? diff <= atol + rtol * std::fabs(y) : x == y;
      }
      if (!ok && bad++ == 0)
        firstBad = i;
    }
    if (bad) {
      double x = loadAsDouble(ta.dtype, ta.data, firstBad);
      double y = loadAsDouble(tb.dtype, tb.data, firstBad);
      problems.push_back(format(
          "key '%s': %llu of %llu values differ; first at %s: %.9g vs %.9g "
          "(rtol %g, atol %g)", key, static_cast<unsigned long long>(bad),
          static_cast<unsigned long long>(numel),
          indexText(tb.shape, firstBad).c_str(), x, y, rtol, atol));
    }
  }

  std::printf("compared %zu tensors: max abs error %.3g, max rel error %.3g%s%s\n",
              compared, worstAbs, worstRel, worstKey.empty() ? "" : " in ",
              worstKey.c_str());
  for (const std::string &p : problems)
    std::fprintf(stderr, "st-compare: mismatch: %s\n", p.c_str());
  if (!problems.empty()) {
    std::fprintf(stderr, "st-compare: '%s' and '%s' differ\n", a.path.c_str(),
                 b.path.c_str());
    return 1;
  }
  return 0;
}
