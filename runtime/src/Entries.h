//===- Entries.h - the CPU entries of the variant this process runs -*- C++ -*-===//
//
// A portable library holds its CPU code twice (ModelDesc::variants): the
// runtime calls the compilation chosen at load (Desc.cpp, chooseVariant)
// through this table, never a modelc_generated_* symbol directly. Null
// entries are the ones the library lacks (no loss, no forward_backward).
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_ENTRIES_H
#define MODELC_RUNTIME_ENTRIES_H

#include "Desc.h"
#include "Run.h"

namespace modelc::rt {

struct CpuEntries {
  GeneratedFunction forwardEval, forwardTrain, prepare;
  GeneratedFunction lossBackwardTrain, lossBackwardEval;
  GeneratedFunction forwardBackwardTrain, forwardBackwardEval;
};

/// The entries of `desc.variant`.
const CpuEntries &cpuEntries(const ModelDesc &desc);

} // namespace modelc::rt

#endif
