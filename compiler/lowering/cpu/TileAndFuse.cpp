//===- TileAndFuse.cpp - Tile fusion groups by their last op --------------===//
//
// Implements -mdl-tile-and-fuse (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlAttrNames.h"
#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_TILEANDFUSE
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// True when `root` or a producer of its inputs is a contraction whose
/// second operand (Linear's weight) is static and over `largeWeightBytes`:
/// tiles of rows would stream all of it from memory once per tile, tiles of
/// columns stream it once in all (the rows of x, re-read per tile, stay in
/// L2).
bool streamsLargeWeight(linalg::LinalgOp root, int64_t largeWeightBytes) {
  auto large = [&](linalg::LinalgOp op) {
    if (!op || op.getNumReductionLoops() == 0 || op.getNumDpsInputs() < 2)
      return false;
    auto type = dyn_cast<RankedTensorType>(op.getDpsInputOperand(1)->get().getType());
    return type && type.hasStaticShape() && type.getElementType().isIntOrFloat() &&
           type.getNumElements() * type.getElementTypeBitWidth() / 8 >= largeWeightBytes;
  };
  if (large(root))
    return true;
  return llvm::any_of(root.getDpsInputs(),
                      [&](Value in) { return large(in.getDefiningOp<linalg::LinalgOp>()); });
}

/// The users of `op` other than tensor.dim (sizes are rerouted to the op's
/// init once it dies).
SmallVector<Operation *> valueUsers(Operation *op) {
  SmallVector<Operation *> users;
  for (Operation *user : op->getUsers())
    if (!isa<tensor::DimOp>(user))
      users.push_back(user);
  return users;
}

/// An op ends a fusion group unless its one user is an all-parallel linalg
/// op, which elementwise fusion would have absorbed it into if it could. A
/// result used twice (softmax's logits feed its max and its exponentials)
/// is materialized once: fused into both, it would be computed twice a
/// tile, and everything before it too.
bool isGroupRoot(linalg::LinalgOp op) {
  if (op->getNumResults() == 0 || op->use_empty())
    return false;
  SmallVector<Operation *> users = valueUsers(op);
  if (users.size() > 1)
    return true;
  for (Operation *user : users) {
    auto consumer = dyn_cast<linalg::LinalgOp>(user);
    if (!consumer || consumer.getNumReductionLoops() != 0)
      return true;
  }
  return false;
}

/// Makes `tensor.dim` of `op`'s results read the same size from its inits
/// (destination-style ops have results shaped as their inits), so that the
/// sizes no longer keep `op` alive.
void rerouteSizes(RewriterBase &rewriter, Operation *op) {
  auto dps = dyn_cast<DestinationStyleOpInterface>(op);
  if (!dps)
    return;
  for (OpResult r : op->getResults()) {
    for (Operation *user : llvm::make_early_inc_range(r.getUsers())) {
      if (auto dim = dyn_cast<tensor::DimOp>(user))
        rewriter.modifyOpInPlace(dim, [&] {
          dim.getSourceMutable().assign(dps.getDpsInitOperand(r.getResultNumber())->get());
        });
    }
  }
}

struct TileAndFusePass : impl::TileAndFuseBase<TileAndFusePass> {
  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> roots;
    getOperation().walk([&](linalg::LinalgOp op) {
      // A fill alone is already a single loop nest over its output.
      if (!isa<linalg::FillOp>(op) && isGroupRoot(op) && op.getNumParallelLoops() > 1)
        roots.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    const CpuTarget target = CpuTarget::of(getOperation());
    llvm::SmallPtrSet<Operation *, 16> erased;
    // Consumers first, so that a producer still has its single use when its
    // consumer's group decides whether to fuse it.
    for (linalg::LinalgOp root : llvm::reverse(roots)) {
      if (erased.contains(root))
        continue;
      SmallVector<utils::IteratorType> iterators = root.getIteratorTypesArray();
      // Tiles of one row of the first and the second-to-last parallel
      // dimensions (a batch element and an output row: [1, F, 1, OW] for a
      // convolution), whole along the others, which become the inner loops;
      // reductions are not tiled. Matrices and chosen sizes: below.
      SmallVector<int64_t> parallel;
      for (auto [i, it] : llvm::enumerate(iterators))
        if (it == utils::IteratorType::parallel)
          parallel.push_back(i);
      // Matrices ([M, N]) take blocks of the target's rowBlock rows, so that
      // each weight row loaded serves several rows of the batch; with a
      // large weight, blocks of columnBlock columns.
      SmallVector<OpFoldResult> sizes(iterators.size(), rewriter.getIndexAttr(0));
      auto chosen = root->getAttrOfType<DenseI64ArrayAttr>(mlir::mdl::kTileSizesAttr);
      bool columns = !chosen && parallel.size() == 2 && streamsLargeWeight(root, target.largeWeightBytes);
      if (chosen && chosen.size() == static_cast<int64_t>(iterators.size())) {
        // Chosen by the pass that made the op (-mdl-conv-to-gemm).
        for (auto [i, size] : llvm::enumerate(chosen.asArrayRef()))
          sizes[i] = rewriter.getIndexAttr(size);
      } else if (columns) {
        sizes[parallel[1]] = rewriter.getIndexAttr(target.columnBlock);
      } else {
        sizes[parallel.front()] = rewriter.getIndexAttr(parallel.size() == 2 ? target.rowBlock : 1);
        sizes[parallel[parallel.size() - 2]] =
            rewriter.getIndexAttr(parallel.size() == 2 ? target.rowBlock : 1);
      }

      // Fuse a producer only when this group is its one user (the original
      // ops of the group, about to die, and slices inside the new loops):
      // anything else would compute it once per tile of every consumer.
      llvm::SmallPtrSet<Operation *, 8> group = {root.getOperation()};
      scf::SCFTileAndFuseOptions options;
      options.tilingOptions.setTileSizes(sizes);
      options.tilingOptions.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
      options.setFusionControlFn(
          [&](tensor::ExtractSliceOp, OpResult producer,
              bool isInit) -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
            // Only linalg producers: a fused tensor.pad would be padded anew
            // for every tile.
            auto producerOp = dyn_cast<linalg::LinalgOp>(producer.getOwner());
            if (!producerOp)
              return std::nullopt;
            // A per-channel vector (BatchNorm's shift) that an image's
            // elementwise tile reads broadcast: computed once, not again for
            // each tile's channels.
            auto producerType = dyn_cast<RankedTensorType>(producer.getType());
            if (!isInit && producerOp.getNumReductionLoops() == 0 && producerType &&
                producerType.getRank() == 1 && root.getNumReductionLoops() == 0 &&
                root.getNumLoops() >= 3)
              return std::nullopt;
            // A tile of columns needs whole rows of the contraction's
            // input: computed per tile, they would be computed once per
            // tile. Only the contraction (when the root is its epilogue)
            // and its accumulator's init join; the ReLU before MLP's last
            // Linear once joined it, computed 16 times, and left the Linear
            // before it untiled, on one thread.
            bool rootsContraction = producerOp.getNumReductionLoops() > 0 &&
                                    llvm::is_contained(producer.getUsers(), root.getOperation());
            if (columns && !isInit && !rootsContraction)
              return std::nullopt;
            // Its one use: the slice in the loop, or a member of the group
            // (the original consumer, about to die). An accumulator's init
            // (a contraction's zero fill) is used by the loop itself, as its
            // destination: the fused fill takes its place, and each tile is
            // filled just before its contraction reads it.
            int inLoop = 0;
            for (Operation *user : valueUsers(producer.getOwner())) {
              if (isa<tensor::ExtractSliceOp>(user) &&
                  isa<scf::ForOp, scf::ForallOp>(user->getParentOp()))
                ++inLoop;
              else if (isInit && isa<scf::ForOp, scf::ForallOp>(user))
                ++inLoop;
              else if (!group.contains(user))
                return std::nullopt;
            }
            if (inLoop != 1)
              return std::nullopt;
            group.insert(producer.getOwner());
            return scf::SCFTileAndFuseOptions::ControlFnResult{};
          });
      rewriter.setInsertionPoint(root);
      FailureOr<scf::SCFTileAndFuseResult> result = scf::tileConsumerAndFuseProducersUsingSCF(
          rewriter, cast<TilingInterface>(root.getOperation()), options);
      if (failed(result))
        continue; // leave the group untiled: correct, only slower
      for (OpResult r : root->getResults())
        if (Value replacement = result->replacements.lookup(r))
          rewriter.replaceAllUsesWith(r, replacement);
      // The untiled originals are dead now; erase consumers before producers.
      SmallVector<Operation *> dead = {root.getOperation()};
      llvm::append_range(dead, llvm::reverse(result->fusedProducers));
      for (Operation *op : dead) {
        rerouteSizes(rewriter, op);
        if (op->use_empty()) {
          erased.insert(op);
          rewriter.eraseOp(op);
        }
      }
    }
    // A tile of a tensor.empty is an empty tile: intermediate results then
    // bufferize to tile-sized buffers, not to whole tensors.
    RewritePatternSet patterns(&getContext());
    tensor::populateFoldTensorEmptyPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace modelc::lowering
