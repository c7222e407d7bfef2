//===- KeepSelectStoresPlain.h - No masked stores from select + store -*- C++ -*-===//

#ifndef MODELC_LOWERING_CPU_KEEPSELECTSTORESPLAIN_H
#define MODELC_LOWERING_CPU_KEEPSELECTSTORESPLAIN_H

#include "llvm/IR/Module.h"

namespace modelc::lowering {

/// Puts a freeze between every vector store and a select (or minimum or
/// maximum) of the value loaded from the same address, so that code
/// generation keeps a plain store instead of a masked one (slow on AMD;
/// see the .cpp). Runs on optimized LLVM IR, just before code generation.
void keepSelectStoresPlain(llvm::Module &module);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_CPU_KEEPSELECTSTORESPLAIN_H
