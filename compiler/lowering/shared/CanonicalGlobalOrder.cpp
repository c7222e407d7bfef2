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
#include <tuple>

namespace modelc::lowering {
#define GEN_PASS_DEF_CANONICALGLOBALORDER
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// What orders two globals: their type's spelling, then their data's bytes
/// (dense data only; other globals keep their names' order).
struct ContentKey {
  std::string type;
  bool dense = false;
  StringRef bytes;
  StringRef name;

  explicit ContentKey(memref::GlobalOp global) : name(global.getSymName()) {
    llvm::raw_string_ostream os(type);
    global.getType().print(os);
    if (auto values = dyn_cast_or_null<DenseElementsAttr>(global.getInitialValue().value_or(
            Attribute()))) {
      dense = true;
      ArrayRef<char> raw = values.getRawData();
      bytes = StringRef(raw.data(), raw.size());
    }
  }

  bool operator<(const ContentKey &other) const {
    return std::tie(type, dense, bytes, name) <
           std::tie(other.type, other.dense, other.bytes, other.name);
  }
};

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
      SmallVector<memref::GlobalOp> byContent(members);
      llvm::stable_sort(byContent, [](memref::GlobalOp a, memref::GlobalOp b) {
        return ContentKey(a) < ContentKey(b);
      });
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
