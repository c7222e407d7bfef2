//===- CpuCheck.h - can this CPU run the library's code? --------*- C++ -*-===//
#ifndef MODELC_RUNTIME_CPUCHECK_H
#define MODELC_RUNTIME_CPUCHECK_H

#include <string>
#include <vector>

namespace modelc::rt {

/// Whether this CPU has every instruction set in `required` (the
/// description's "cpu_features"); if not, `error` names the missing ones.
/// $MODELC_CPU=x86-64-v2|x86-64-v3|x86-64-v4 makes the CPU count as having
/// only that level's (tests; what a library would meet on an older
/// machine), and an unknown value is itself an error.
bool cpuCanRun(const std::string &compiledFor, const std::vector<std::string> &required,
               std::string &error);

} // namespace modelc::rt

#endif
