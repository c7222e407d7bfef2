//===- CpuCheck.cpp - can this CPU run the library's code? ----------------===//
//
// A model library is compiled for one CPU (modelc --cpu): run elsewhere, an
// instruction the CPU lacks would kill the process with SIGILL at the first
// forward. `create` checks the instruction sets the compiler recorded
// against CPUID (x86-64) or the kernel's hardware capabilities (ARM64)
// first and fails with their names instead.
//
//===----------------------------------------------------------------------===//
#include "CpuCheck.h"

#include "support/Format.h"

#include <cstdlib>
#include <cstring>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace modelc::rt {
namespace {

struct Feature {
  const char *name;
  int level; // the x86-64 level that includes it; 0: none
  bool present;
};

/// CPUID's answers (the kernel's on ARM64), asked once per process.
const std::vector<Feature> &hostFeatures() {
  static const std::vector<Feature> features = [] {
    std::vector<Feature> list;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
#define MODELC_CPU_FEATURE(name, level)                                        \
  list.push_back({name, level, __builtin_cpu_supports(name) != 0});
#include "support/CpuFeatures.def"
#elif defined(__aarch64__) && defined(__linux__)
    unsigned long hwcap[3] = {0, getauxval(AT_HWCAP), getauxval(AT_HWCAP2)};
#define MODELC_AARCH64_FEATURE(name, word, bit)                                \
  list.push_back({name, 0, (hwcap[word] >> (bit) & 1) != 0});
#include "support/CpuFeatures.def"
#endif
    return list;
  }();
  return features;
}

} // namespace

bool cpuCanRun(const std::string &compiledFor, const std::vector<std::string> &required,
               std::string &error) {
  int level = 99; // no limit
  const char *forced = std::getenv("MODELC_CPU");
  if (forced && *forced) {
    if (!std::strcmp(forced, "x86-64-v2"))
      level = 2;
    else if (!std::strcmp(forced, "x86-64-v3"))
      level = 3;
    else if (!std::strcmp(forced, "x86-64-v4"))
      level = 4;
    else {
      error = format("MODELC_CPU='%s': expected x86-64-v2, x86-64-v3 or x86-64-v4", forced);
      return false;
    }
  }
  const std::vector<Feature> &host = hostFeatures();
  std::string missing;
  for (const std::string &name : required) {
    bool present = false;
    for (const Feature &f : host)
      if (name == f.name) // forced to a level: only that level's sets count
        present = f.present && (level == 99 || (f.level != 0 && f.level <= level));
    if (!present)
      missing += (missing.empty() ? "" : ", ") + name;
  }
  if (missing.empty())
    return true;
#if defined(__aarch64__)
  const char *portable = "--cpu=generic";
#else
  const char *portable = "a portable --cpu (x86-64-v3, x86-64-v2)";
#endif
  error = format("this library was compiled for %s and needs %s, which this CPU%s lacks; "
                 "compile the model with --cpu=native on this machine, or with %s",
                 compiledFor.c_str(), missing.c_str(),
                 forced && *forced ? format(" (MODELC_CPU=%s)", forced).c_str() : "", portable);
  return false;
}

} // namespace modelc::rt
