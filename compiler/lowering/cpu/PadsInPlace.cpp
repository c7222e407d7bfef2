//===- PadsInPlace.cpp - Pads as border fills and an interior write -------===//
//
// Implements -mdl-pads-in-place (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/LoopLikeInterface.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_PADSINPLACE
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The operand that `value`'s producer writes `value` into: a
/// destination-style op's init (scf.forall's shared output among them), a
/// loop's iteration argument.
OpOperand *destinationOf(Value value) {
  auto result = dyn_cast<OpResult>(value);
  if (!result)
    return nullptr;
  if (auto dps = dyn_cast<DestinationStyleOpInterface>(result.getOwner()))
    return dps.getTiedOpOperand(result);
  if (auto loop = dyn_cast<LoopLikeOpInterface>(result.getOwner()))
    return loop.getTiedLoopInit(result);
  return nullptr;
}

LogicalResult padInPlace(RewriterBase &rewriter, tensor::PadOp pad) {
  Value padValue = pad.getConstantPaddingValue();
  RankedTensorType type = pad.getResultType();
  if (!padValue || !matchPattern(padValue, m_Constant()) || pad.getNofold())
    return failure();
  SmallVector<int64_t> low(pad.getStaticLow()), high(pad.getStaticHigh());
  if (llvm::any_of(low, ShapedType::isDynamic) || llvm::any_of(high, ShapedType::isDynamic))
    return failure();
  // Sizes known only at run time: the leading one, unpadded.
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d) && (d != 0 || low[d] != 0 || high[d] != 0))
      return failure();
  // Where the source's producer writes into a tensor.empty, it writes into
  // the padded tensor's interior instead; the pad's border is built before
  // that producer, from the empty tensor's sizes.
  Value source = pad.getSource();
  Location loc = pad.getLoc();
  OpOperand *destination = destinationOf(source);
  auto empty = destination ? destination->get().getDefiningOp<tensor::EmptyOp>() : nullptr;
  Value shape = empty ? empty.getResult() : source;
  rewriter.setInsertionPoint(empty ? destination->getOwner() : pad.getOperation());
  // The padded sizes: the source's plus the padding (a dynamic leading size
  // from the tensor that has the source's sizes).
  SmallVector<OpFoldResult> sourceSizes = tensor::getMixedSizes(rewriter, loc, shape);
  SmallVector<OpFoldResult> sizes;
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (type.isDynamicDim(d)) {
      sizes.push_back(sourceSizes[d]);
      dynamic.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, sourceSizes[d]));
    } else {
      sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
    }
  }
  Value padded = tensor::EmptyOp::create(rewriter, loc, type, dynamic);
  SmallVector<OpFoldResult> ones(type.getRank(), rewriter.getIndexAttr(1));
  // The border, each element once: along dimension d, the slabs before and
  // after the interior, inside the interior along the dimensions before d
  // and whole along those after it.
  for (int64_t d = 0; d < type.getRank(); ++d) {
    for (bool before : {true, false}) {
      int64_t width = before ? low[d] : high[d];
      if (width == 0)
        continue;
      SmallVector<OpFoldResult> offsets, slabSizes;
      for (int64_t e = 0; e < type.getRank(); ++e) {
        if (e < d) {
          offsets.push_back(rewriter.getIndexAttr(low[e]));
          slabSizes.push_back(sourceSizes[e]);
        } else if (e == d) {
          offsets.push_back(rewriter.getIndexAttr(before ? 0 : type.getDimSize(d) - high[d]));
          slabSizes.push_back(rewriter.getIndexAttr(width));
        } else {
          offsets.push_back(rewriter.getIndexAttr(0));
          slabSizes.push_back(sizes[e]);
        }
      }
      Value slab = tensor::ExtractSliceOp::create(rewriter, loc, padded, offsets, slabSizes, ones);
      Value filled = linalg::FillOp::create(rewriter, loc, padValue, slab).getResult(0);
      padded = tensor::InsertSliceOp::create(rewriter, loc, filled, padded, offsets, slabSizes,
                                             ones);
    }
  }
  SmallVector<OpFoldResult> corner = getAsIndexOpFoldResult(rewriter.getContext(), low);
  if (empty) {
    Value window =
        tensor::ExtractSliceOp::create(rewriter, loc, padded, corner, sourceSizes, ones);
    rewriter.modifyOpInPlace(destination->getOwner(), [&] { destination->set(window); });
  }
  // The source into the interior: where the producer wrote it there, a
  // slice inserted where it was extracted, which bufferizes to nothing.
  rewriter.setInsertionPoint(pad);
  rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(pad, source, padded, corner, sourceSizes,
                                                     ones);
  return success();
}

struct PadsInPlacePass : impl::PadsInPlaceBase<PadsInPlacePass> {
  void runOnOperation() override {
    SmallVector<tensor::PadOp> pads;
    getOperation().walk([&](tensor::PadOp pad) { pads.push_back(pad); });
    IRRewriter rewriter(&getContext());
    for (tensor::PadOp pad : pads)
      (void)padInPlace(rewriter, pad); // anything else bufferizes as a copy
  }
};

} // namespace
} // namespace modelc::lowering
