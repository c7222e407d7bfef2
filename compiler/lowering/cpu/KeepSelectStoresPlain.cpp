//===- KeepSelectStoresPlain.cpp - No masked stores from select + store ---===//
//
// LLVM 22's DAG combiner folds `store (select M, X, load P), P` into a
// masked store of X under M (llvm-project #145176), selects that x86
// makes of minimum and maximum (their NaN checks) included. On AVX2 that is
// vmaskmovps, which AMD's cores execute about ten times slower than a
// plain store: an in-place ReLU (maximum(x, 0) stored back over x) ran at
// 1.5 cycles an element and took 13 % of TinyModel's batch of 256. (LLVM
// later stopped the fold on Zen, #214187; the packaged LLVM 22 predates
// that.) A freeze between the select and the store hides the pattern and
// costs no instruction.
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/KeepSelectStoresPlain.h"

#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Module.h"

namespace modelc::lowering {

void keepSelectStoresPlain(llvm::Module &m) {
  for (llvm::Function &f : m)
    for (llvm::BasicBlock &block : f)
      for (llvm::Instruction &inst : block) {
        auto *store = llvm::dyn_cast<llvm::StoreInst>(&inst);
        if (!store || !store->getValueOperand()->getType()->isVectorTy())
          continue;
        // A select, or a minimum/maximum, which x86 lowers to a select
        // (its NaN check) only inside code generation.
        auto *value = llvm::dyn_cast<llvm::Instruction>(store->getValueOperand());
        auto *intrinsic = llvm::dyn_cast_or_null<llvm::IntrinsicInst>(value);
        bool selects = llvm::isa_and_nonnull<llvm::SelectInst>(value) ||
                       (intrinsic && llvm::is_contained({llvm::Intrinsic::maximum,
                                                         llvm::Intrinsic::minimum,
                                                         llvm::Intrinsic::maxnum,
                                                         llvm::Intrinsic::minnum},
                                                        intrinsic->getIntrinsicID()));
        if (!selects || llvm::none_of(value->operands(), [&](llvm::Value *v) {
              auto *load = llvm::dyn_cast<llvm::LoadInst>(v);
              return load && load->getPointerOperand() == store->getPointerOperand();
            }))
          continue;
        auto *frozen =
            new llvm::FreezeInst(value, value->getName() + ".plain", store->getIterator());
        store->setOperand(0, frozen);
      }
}

} // namespace modelc::lowering
