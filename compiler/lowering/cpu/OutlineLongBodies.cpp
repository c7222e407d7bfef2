//===- OutlineLongBodies.cpp - Long op sequences into private functions ---===//
//
// Implements -mdl-outline-long-bodies (see Passes.td).
//
// Why: a deep model's forward function is one long sequence of loops, fused
// into one tile body. One-shot bufferization's conflict analysis and LLVM's
// loop passes (ScalarEvolution forgets every loop's values that depend on
// the batch size when it unrolls one loop) each cost the square of that
// length: a Sequential of 200 Linear layers spent 40 s in LLVM -O2 alone.
// Cut into functions of a bounded number of loops, both cost as many times
// the cost of one part, which is linear in depth. A call per part per tile
// costs nanoseconds; LLVM cannot keep values in registers across the cut,
// but none of the parts' buffers stay in registers anyway.
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/DerivedValues.h"
#include "lowering/cpu/Passes.h"

#include "mdl/IR/MdlAttrNames.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "llvm/Support/xxhash.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

namespace modelc::lowering {
#define GEN_PASS_DEF_OUTLINELONGBODIES
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// What `op` costs the passes that follow: its loops (linalg ops become
/// loops). Calls cost nothing here: their callees are compiled apart.
int64_t loopWeight(Operation *op) {
  int64_t n = 0;
  op->walk([&](Operation *inner) {
    if (isa<linalg::LinalgOp, LoopLikeOpInterface>(inner))
      ++n;
  });
  return n;
}

/// Values a part recomputes rather than takes as arguments: constants (so
/// that loop bounds stay constant), empty tensors (no data; each part gets
/// its own), and tensors read from a function argument's buffer (the part
/// takes the buffer itself, so that later passes still see which state it
/// is).
bool rematerialized(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return false;
  if (def->hasTrait<OpTrait::ConstantLike>() || isa<tensor::EmptyOp>(def))
    return true;
  if (auto toTensor = dyn_cast<bufferization::ToTensorOp>(def))
    return isa<BlockArgument>(toTensor.getBuffer()) &&
           isa<func::FuncOp>(cast<BlockArgument>(toTensor.getBuffer()).getOwner()->getParentOp());
  return false;
}

/// How a tensor that a part returns relates to the tensors it takes: a new
/// tensor, the same buffer as an argument (one-shot bufferization then
/// writes it in place and drops the result), or a view into some other
/// buffer, which no function may return without a copy.
struct Origin {
  enum Kind { Fresh, Equivalent, View } kind;
  Value root; // Equivalent: the argument's value in the caller.
};

/// One contiguous part of a block being cut.
class Part {
public:
  explicit Part(Block &block) : block(block) {}

  void clear() {
    ops.clear();
    inPart.clear();
    origins.clear();
    total = 0;
  }

  int64_t weight() const { return total; }

  void add(Operation *op) {
    ops.push_back(op);
    inPart.insert(op);
    total += loopWeight(op);
    for (Value r : op->getResults())
      if (isa<TensorType>(r.getType()))
        origins[r] = originOf(op, cast<OpResult>(r));
  }

  /// Whether every value used after the part can be its result.
  bool cleanCut() const {
    for (Value v : escaping()) {
      if (isa<TensorType>(v.getType())) {
        Origin o = origins.lookup(v);
        if (o.kind == Origin::View || (o.kind == Origin::Equivalent && rematerialized(o.root)))
          return false;
        continue;
      }
      if (!v.getType().isIntOrIndexOrFloat() && !isa<VectorType>(v.getType()))
        return false;
    }
    return true;
  }

  func::FuncOp outline(func::FuncOp parent, SymbolTable &symbols, unsigned index) const;

private:
  bool contains(Operation *op) const {
    Operation *ancestor = block.findAncestorOpInBlock(*op);
    return ancestor && inPart.contains(ancestor);
  }
  bool definedInside(Value v) const {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return arg.getOwner()->getParentOp() && contains(arg.getOwner()->getParentOp());
    return contains(v.getDefiningOp());
  }

  Origin originOf(Operation *op, OpResult r) const {
    Value tied;
    // Any other op, an scf.for among them (it may yield any tensor, a view
    // of another buffer too), counts as a view: no cut right after it.
    if (auto dps = dyn_cast<DestinationStyleOpInterface>(op))
      tied = dps.getTiedOpOperand(r)->get();
    else if (auto forall = dyn_cast<scf::ForallOp>(op))
      tied = forall.getOutputs()[r.getResultNumber()];
    else if (isa<tensor::EmptyOp>(op))
      return {Origin::Fresh, {}};
    else
      return {Origin::View, {}};
    if (auto it = origins.find(tied); it != origins.end())
      return it->second;
    // Taken from outside the part.
    if (tied.getDefiningOp<tensor::EmptyOp>())
      return {Origin::Fresh, {}};
    return {Origin::Equivalent, tied};
  }

  /// The part's values that ops after it use, in order.
  SmallVector<Value> escaping() const {
    SmallVector<Value> out;
    for (Operation *op : ops)
      for (Value r : op->getResults())
        if (llvm::any_of(r.getUsers(), [&](Operation *user) { return !contains(user); }))
          out.push_back(r);
    return out;
  }

  Block &block;
  SmallVector<Operation *> ops;
  llvm::SmallPtrSet<Operation *, 16> inPart;
  llvm::DenseMap<Value, Origin> origins;
  int64_t total = 0;
};

func::FuncOp Part::outline(func::FuncOp parent, SymbolTable &symbols, unsigned index) const {
  MLIRContext *ctx = parent.getContext();
  Location loc = ops.front()->getLoc();

  // What the part reads from before it: arguments, or recomputed inside.
  SetVector<Value> captured;
  SetVector<Operation *> remat;
  std::function<void(Value)> use = [&](Value v) {
    if (definedInside(v) || captured.contains(v))
      return;
    if (rematerialized(v)) {
      Operation *def = v.getDefiningOp();
      if (remat.contains(def))
        return;
      for (Value operand : def->getOperands())
        use(operand);
      remat.insert(def);
      return;
    }
    captured.insert(v);
  };
  for (Operation *op : ops)
    op->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        use(v);
    });
  // A buffer argument comes with the values derived from it, which later
  // passes look up by argument (a Linear weight's packed panels): the part
  // says which of its arguments holds which.
  SmallVector<Attribute> derivedMap;
  auto argIndex = [&](Value x) {
    return IntegerAttr::get(IntegerType::get(ctx, 64), llvm::find(captured, x) - captured.begin());
  };
  for (Value v : SmallVector<Value>(captured.begin(), captured.end())) {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != &parent.getBody().front())
      continue;
    for (auto [d, kind] : derivedArguments(parent, arg.getArgNumber())) {
      captured.insert(parent.getArgument(d));
      derivedMap.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, "state"), argIndex(v)),
                NamedAttribute(StringAttr::get(ctx, "kind"), StringAttr::get(ctx, kind)),
                NamedAttribute(StringAttr::get(ctx, "arg"), argIndex(parent.getArgument(d)))}));
    }
  }

  // An empty tensor used after the part is not returned (a function can
  // only return it as a new allocation, per call and tile): the caller makes
  // its own after the call, from the sizes the part returns.
  SetVector<Value> results;
  SmallVector<tensor::EmptyOp> empties;
  for (Value v : escaping()) {
    auto empty = v.getDefiningOp<tensor::EmptyOp>();
    if (!empty) {
      results.insert(v);
      continue;
    }
    empties.push_back(empty);
    for (Value size : empty->getOperands())
      if (definedInside(size))
        results.insert(size);
  }
  auto type = FunctionType::get(ctx, ValueRange(captured.getArrayRef()).getTypes(),
                                ValueRange(results.getArrayRef()).getTypes());
  OpBuilder b(parent);
  b.setInsertionPointAfter(parent);
  auto fn = func::FuncOp::create(b, loc, (parent.getSymName() + "_part" + Twine(index)).str(), type);
  fn.setPrivate();
  symbols.insert(fn);
  // LLVM would inline a function called once back into its caller.
  fn->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
  fn->setAttr(mlir::mdl::kOutlinedDerivedAttr, ArrayAttr::get(ctx, derivedMap));

  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  IRMapping map;
  for (auto [v, arg] : llvm::zip(captured, body->getArguments()))
    map.map(v, arg);
  // remat is in dependence order: operands were visited first.
  for (Operation *def : remat)
    b.clone(*def, map);
  for (Operation *op : ops)
    b.clone(*op, map);
  SmallVector<Value> returned;
  for (Value r : results)
    returned.push_back(map.lookup(r));
  func::ReturnOp::create(b, loc, returned);

  b.setInsertionPointAfter(ops.back());
  auto call = func::CallOp::create(b, loc, fn, captured.getArrayRef());
  IRMapping after;
  for (auto [r, callResult] : llvm::zip(results, call.getResults())) {
    Value inside = r;
    inside.replaceUsesWithIf(callResult, [&](OpOperand &u) { return !contains(u.getOwner()); });
    after.map(inside, callResult);
  }
  for (tensor::EmptyOp empty : empties) {
    Operation *copy = b.clone(*empty, after);
    empty->replaceUsesWithIf(copy->getResults(),
                             [&](OpOperand &u) { return !contains(u.getOwner()); });
  }
  for (Operation *op : llvm::reverse(ops))
    op->erase();
  return fn;
}

/// What an op looks like, without its operands' identities: equal for the
/// same op at the same place of two repetitions of a block. From names and
/// counts only, not from attributes' or types' addresses, so that where a
/// block is cut is the same from one run to the next.
uint64_t shapeHash(Operation *op) {
  std::string key = op->getName().getStringRef().str();
  key += fmt::format("/{}/{}", op->getNumOperands(), op->getNumResults());
  for (Region &region : op->getRegions())
    for (Block &block : region)
      key += fmt::format("/{}", block.getOperations().size());
  return llvm::xxh3_64bits(key);
}

struct OutlineLongBodiesPass : impl::OutlineLongBodiesBase<OutlineLongBodiesPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> forwards = forwardFunctions(module);
    for (func::FuncOp fn : forwards) {
      // Innermost blocks first: a tile loop's body is cut before the
      // function body that holds the loop.
      SmallVector<Block *> blocks;
      fn->walk<WalkOrder::PostOrder>([&](Block *block) { blocks.push_back(block); });
      unsigned index = 0;
      for (Block *block : blocks)
        cut(fn, *block, symbols, index);
    }
    dedupe(forwards, symbols);
  }

  /// Cuts `block` into parts of maxOps / 2 to 2 maxOps loops, each where
  /// nothing that follows needs a view of its buffers. Within that range a
  /// part ends where the last few ops' shapes hash to a multiple of 4: in a
  /// model that repeats a block (ResNet's bottlenecks, a deep Sequential),
  /// the parts then start at the same place of each repetition and come out
  /// the same, which dedupe() exploits; parts of a fixed count would drift
  /// through the repetition.
  void cut(func::FuncOp fn, Block &block, SymbolTable &symbols, unsigned &index) {
    int64_t total = 0;
    for (Operation &op : block.without_terminator())
      total += loopWeight(&op);
    if (total <= maxOps)
      return;
    SmallVector<Operation *> order;
    for (Operation &op : block.without_terminator())
      order.push_back(&op);
    Part part(block);
    // Whether the part being built is the block's first: a first part that
    // reaches the block's end would only move the whole block into a call.
    bool first = true;
    std::array<uint64_t, 3> window{};
    for (Operation *op : order) {
      // Constants stay where they are (the parts recompute their own);
      // stack allocations belong to the caller's frame.
      if (op->hasTrait<OpTrait::ConstantLike>())
        continue;
      if (isa<memref::AllocaOp, memref::AllocaScopeOp>(op)) {
        flush(fn, part, symbols, index);
        first = false;
        continue;
      }
      part.add(op);
      std::rotate(window.begin(), window.begin() + 1, window.end());
      window.back() = shapeHash(op);
      bool boundary = (window[0] ^ (window[1] * 3) ^ (window[2] * 7)) % 4 == 0;
      int64_t weight = part.weight();
      if (op != order.back() &&
          ((weight >= std::max<int64_t>(2, (maxOps + 1) / 2) && boundary) ||
           weight >= 2 * maxOps) &&
          part.cleanCut()) {
        flush(fn, part, symbols, index);
        first = false;
      }
    }
    if (!first)
      flush(fn, part, symbols, index);
    // The caller's constants and empty tensors that only the parts used
    // (they made their own). Reverse order: a constant may size an empty.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
      if ((isa<tensor::EmptyOp>(op) || op.hasTrait<OpTrait::ConstantLike>()) && op.use_empty())
        op.erase();
  }

  /// Outlines `part` if it is worth a call and can be cut where it ends;
  /// leaves its ops where they are otherwise. Starts a new part.
  void flush(func::FuncOp fn, Part &part, SymbolTable &symbols, unsigned &index) {
    if (part.weight() > 1 && part.cleanCut())
      parts.push_back(part.outline(fn, symbols, index++));
    part.clear();
  }

  /// Printing that shows all of an op and nothing of where it came from.
  /// OpPrintingFlags starts from the command line's --mlir-print-* options,
  /// some of which would hide differences (elided constants, skipped
  /// regions) or show irrelevant ones (locations, module-wide SSA ids).
  /// Local scope: attribute aliases of the whole module would make each
  /// print cost the module's size.
  static OpPrintingFlags exactText() {
    OpPrintingFlags flags;
    flags.elideLargeElementsAttrs(std::numeric_limits<int64_t>::max())
        .enableDebugInfo(false)
        .printGenericOpForm(false)
        .skipRegions(false)
        .assumeVerified(true)
        .useLocalScope(true)
        .printValueUsers(false)
        .printUniqueSSAIDs(false)
        .printNameLocAsPrefix(false);
    return flags;
  }

  /// Parts that came out the same, up to their name, become one function,
  /// which LLVM then compiles once: ResNet-152's 35 like bottlenecks of
  /// layer3, a Sequential of like layers. Parts are compared in the order
  /// they were made, so that the parts a part calls are merged before it is
  /// compared.
  void dedupe(ArrayRef<func::FuncOp> forwards, SymbolTable &symbols) {
    llvm::StringMap<func::FuncOp> byText;
    DenseMap<StringAttr, FlatSymbolRefAttr> merged;
    auto redirect = [&](Operation *root) {
      root->walk([&](func::CallOp call) {
        if (auto it = merged.find(call.getCalleeAttr().getAttr()); it != merged.end())
          call.setCalleeAttr(it->second);
      });
    };
    StringAttr anonymous = StringAttr::get(&getContext(), "part");
    for (func::FuncOp part : parts) {
      redirect(part);
      StringAttr name = part.getSymNameAttr();
      part.setSymNameAttr(anonymous);
      std::string text;
      llvm::raw_string_ostream os(text);
      part->print(os, exactText());
      part.setSymNameAttr(name);
      auto [kept, inserted] = byText.try_emplace(text, part);
      if (inserted)
        continue;
      merged[name] = FlatSymbolRefAttr::get(kept->second.getSymNameAttr());
      symbols.erase(part);
    }
    for (func::FuncOp fn : forwards)
      redirect(fn);
    parts.clear();
  }

  SmallVector<func::FuncOp> parts;
};

} // namespace
} // namespace modelc::lowering
