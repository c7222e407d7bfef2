//===- CanonicalGlobalOrder.cpp - Globals named and ordered by contents ---===//
//
// Implements -mdl-canonical-global-order (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

#include <algorithm>
#include <map>
#include <string>

namespace modelc::lowering {
#define GEN_PASS_DEF_CANONICALGLOBALORDER
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// A global's data as bytes (empty without dense data): what orders the
/// members of a group, whose names, and so types, are all one.
StringRef contentOf(memref::GlobalOp global) {
  std::optional<Attribute> value = global.getInitialValue();
  auto dense = value ? dyn_cast<DenseElementsAttr>(*value) : DenseElementsAttr();
  if (!dense)
    return {};
  ArrayRef<char> raw = dense.getRawData();
  return StringRef(raw.data(), raw.size());
}

/// The name bufferization derives from a type: `__constant_4xf32` for
/// `__constant_4xf32_0` too (SymbolTable's uniquing suffix removed).
std::string baseName(memref::GlobalOp global) {
  StringRef name = global.getSymName();
  size_t cut = name.rfind('_');
  if (cut != StringRef::npos && cut + 1 < name.size() &&
      llvm::all_of(name.drop_front(cut + 1), llvm::isDigit))
    return name.take_front(cut).str();
  return name.str();
}

struct CanonicalGlobalOrderPass : impl::CanonicalGlobalOrderBase<CanonicalGlobalOrderPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<memref::GlobalOp> globals(module.getOps<memref::GlobalOp>());
    if (globals.empty())
      return;

    // Each group of private constants whose names come from one type takes
    // those names again, sorted, in the order of its members' contents.
    std::map<std::string, SmallVector<memref::GlobalOp>> groups;
    for (memref::GlobalOp global : globals)
      if (global.isPrivate() && global.getSymName().starts_with("__constant_"))
        groups[baseName(global)].push_back(global);
    for (auto &[base, members] : groups) {
      if (members.size() < 2)
        continue;
      SmallVector<std::string> names;
      for (memref::GlobalOp g : members)
        names.push_back(g.getSymName().str());
      llvm::sort(names);
      // Equal contents are interchangeable: any order of them is the same.
      SmallVector<std::pair<StringRef, memref::GlobalOp>> keyed;
      for (memref::GlobalOp g : members)
        keyed.push_back({contentOf(g), g});
      llvm::stable_sort(keyed, llvm::less_first());
      SmallVector<memref::GlobalOp> byContent = llvm::to_vector(llvm::make_second_range(keyed));
      // Two steps, through names no symbol has, so that no rename lands on
      // a name still taken.
      for (auto [i, g] : llvm::enumerate(byContent))
        rename(g, names[i] + ".canonical", module);
      for (auto [i, g] : llvm::enumerate(byContent))
        rename(g, names[i], module);
    }

    // Every global at the start, in the order of its name.
    llvm::sort(globals, [](memref::GlobalOp a, memref::GlobalOp b) {
      return a.getSymName() < b.getSymName();
    });
    Block *body = module.getBody();
    for (memref::GlobalOp global : llvm::reverse(globals))
      global->moveBefore(body, body->begin());
  }

  void rename(memref::GlobalOp global, const std::string &name, ModuleOp module) {
    if (global.getSymName() == name)
      return;
    auto attr = StringAttr::get(&getContext(), name);
    if (failed(SymbolTable::replaceAllSymbolUses(global, attr, module)))
      return signalPassFailure();
    global.setSymName(name);
  }
};

} // namespace
} // namespace modelc::lowering
