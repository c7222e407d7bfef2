//===- ConvToGemm.cpp - Convolutions as im2col and x W^T ------------------===//
//
// Implements -mdl-conv-to-gemm (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlAttrNames.h"
#include "lowering/shared/LoweringUtils.h"
#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_CONVTOGEMM
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The patches of `image` ([N, CI, H, W]; N is `images`, or 1 when that is
/// null) for the convolution `conv` into `outType`'s pixels, in one of two
/// layouts. A large image: col[n, ci, kh, kw, oh, ow] = image[n, ci,
/// oh*s + kh*d, ow*s + kw*d], a row of output pixels per reduction step,
/// for the outer-product kernel (a vector of neighbouring pixels times a
/// broadcast weight). A small one (`pixelRows`: 7x7 and below, where a
/// vector of pixels would be mostly empty): col[n, oh, ow, ci, kh, kw], a
/// row per output pixel contiguous along the reduction, for the dot kernel.
Value im2col(OpBuilder &rewriter, Location loc, linalg::Conv2DNchwFchwOp conv, Value image,
             RankedTensorType filterType, RankedTensorType outType, Value images,
             bool pixelRows) {
  int64_t ci = filterType.getDimSize(1), kh = filterType.getDimSize(2),
          kw = filterType.getDimSize(3);
  int64_t oh = outType.getDimSize(2), ow = outType.getDimSize(3);
  auto strides = llvm::to_vector(conv.getStrides().getValues<int64_t>());
  auto dilations = llvm::to_vector(conv.getDilations().getValues<int64_t>());
  MLIRContext *ctx = rewriter.getContext();
  Type f32 = rewriter.getF32Type();
  int64_t n0 = images ? ShapedType::kDynamic : 1;
  SmallVector<int64_t> colShape = pixelRows ? SmallVector<int64_t>{n0, oh, ow, ci, kh, kw}
                                            : SmallVector<int64_t>{n0, ci, kh, kw, oh, ow};
  auto colType = RankedTensorType::get(colShape, f32);
  Value colInit =
      emptyTensor(rewriter, loc, colType, images ? ValueRange{images} : ValueRange{});
  AffineExpr n, c, ky, kx, y, x;
  if (pixelRows)
    bindDims(ctx, n, y, x, c, ky, kx);
  else
    bindDims(ctx, n, c, ky, kx, y, x);
  AffineMap readImage = AffineMap::get(
      6, 0, {n, c, y * strides[0] + ky * dilations[0], x * strides[1] + kx * dilations[1]}, ctx);
  SmallVector<utils::IteratorType> allParallel(6, utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      rewriter, loc, colType, ValueRange{image}, ValueRange{colInit},
      ArrayRef<AffineMap>{readImage, AffineMap::getMultiDimIdentityMap(6, ctx)}, allParallel,
      [](OpBuilder &b, Location l, ValueRange args) { linalg::YieldOp::create(b, l, args[0]); });
  // Tiles of one output row, or one input channel, of one image each.
  op->setAttr(mlir::mdl::kTileSizesAttr, rewriter.getDenseI64ArrayAttr({1, 1, 0, 0, 0, 0}));
  return op.getResult(0);
}

/// Whether `conv` is 1x1 with stride 1 over `image` (padded or not: its
/// sizes are the output's), whose im2col would be a copy of the image.
bool isPointwise(linalg::Conv2DNchwFchwOp conv, RankedTensorType filterType, Value image,
                 RankedTensorType outType) {
  auto imageType = cast<RankedTensorType>(image.getType());
  auto ones = [](DenseIntElementsAttr a) {
    return llvm::all_of(a.getValues<int64_t>(), [](int64_t v) { return v == 1; });
  };
  return filterType.getDimSize(2) == 1 && filterType.getDimSize(3) == 1 &&
         ones(conv.getStrides()) && imageType.getDimSize(2) == outType.getDimSize(2) &&
         imageType.getDimSize(3) == outType.getDimSize(3);
}

/// The convolution of one image ([1, CI, H, W] into [1, CO, OH, OW]) as
/// patches times weights.
Value convolveImage(OpBuilder &rewriter, Location loc, linalg::Conv2DNchwFchwOp conv,
                    Value image, Value filter, Value init, const CpuTarget &target) {
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  int64_t co = filterType.getDimSize(0);
  MLIRContext *ctx = rewriter.getContext();
  bool pixelRows = outType.getDimSize(2) * outType.getDimSize(3) < target.convOuterMinPixels;
  // [N, K, P] or [N, P, K] patches, [CO, K] weights, [N, CO, P] accumulators.
  Value patches;
  if (!pixelRows && isPointwise(conv, filterType, image, outType)) {
    // A 1x1 convolution's patches in the outer form are the image itself.
    patches = tensor::CollapseShapeOp::create(rewriter, loc, image,
                                              SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  } else {
    Value col = im2col(rewriter, loc, conv, image, filterType, outType, Value(), pixelRows);
    patches = tensor::CollapseShapeOp::create(
        rewriter, loc, col,
        pixelRows ? SmallVector<ReassociationIndices>{{0}, {1, 2}, {3, 4, 5}}
                  : SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4, 5}});
  }
  Value weights = tensor::CollapseShapeOp::create(
      rewriter, loc, filter, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  // A zero (or constant) accumulator is filled after the reshape, as the
  // contraction's own init: -mdl-tile-and-fuse then fills it tile by tile.
  auto fill = init.getDefiningOp<linalg::FillOp>();
  Value acc = tensor::CollapseShapeOp::create(
      rewriter, loc, fill ? fill.getOutputs()[0] : init,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  if (fill)
    acc = linalg::FillOp::create(rewriter, loc, fill.getInputs()[0], acc).getResult(0);
  AffineExpr b, m, p, k;
  bindDims(ctx, b, m, p, k);
  SmallVector<utils::IteratorType> iterators(3, utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto contraction = linalg::GenericOp::create(
      rewriter, loc, acc.getType(), ValueRange{weights, patches}, ValueRange{acc},
      ArrayRef<AffineMap>{AffineMap::get(4, 0, {m, k}, ctx),
                          pixelRows ? AffineMap::get(4, 0, {b, p, k}, ctx)
                                    : AffineMap::get(4, 0, {b, k, p}, ctx),
                          AffineMap::get(4, 0, {b, m, p}, ctx)},
      iterators, reassociableMacBody);
  contraction->setAttr(mlir::mdl::kTileSizesAttr,
                       rewriter.getDenseI64ArrayAttr({1, std::min(co, target.convChannelsPerTile), 0, 0}));
  return tensor::ExpandShapeOp::create(rewriter, loc, outType, contraction.getResult(0),
                                       SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

/// The convolution of a whole batch of small images (at most
/// kBatchedMaxPixels output pixels each) as one contraction: the patches of
/// every image, one row per output pixel ([N*OH*OW, K]), times the weights'
/// rows ([CO, K]), into [N*OH*OW, CO], then added to `init` transposed.
/// Image by image, the weights (2.4 M floats in ResNet-18's last layer)
/// would be read from memory once per image for a few pixels each; here
/// they are read once, and the patches are the operand that stays in L2.
Value convolveSmallImages(OpBuilder &rewriter, Location loc, linalg::Conv2DNchwFchwOp conv,
                          Value image, Value filter, Value init, const CpuTarget &target) {
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  int64_t co = filterType.getDimSize(0);
  int64_t oh = outType.getDimSize(2), ow = outType.getDimSize(3);
  MLIRContext *ctx = rewriter.getContext();
  Type f32 = rewriter.getF32Type();
  Value images = tensor::DimOp::create(rewriter, loc, init, 0);
  Value col = im2col(rewriter, loc, conv, image, filterType, outType, images, /*pixelRows=*/true);
  Value patches = tensor::CollapseShapeOp::create(
      rewriter, loc, col, SmallVector<ReassociationIndices>{{0, 1, 2}, {3, 4, 5}});
  Value weights = tensor::CollapseShapeOp::create(
      rewriter, loc, filter, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});

  // products[r, m] = sum_k patches[r, k] * weights[m, k]: x W^T, as Linear.
  auto productsType = RankedTensorType::get({ShapedType::kDynamic, co}, f32);
  Value productsInit = filled(rewriter, loc, productsType, patches, 0.0);
  AffineExpr r, m, k;
  bindDims(ctx, r, m, k);
  auto contraction = linalg::GenericOp::create(
      rewriter, loc, productsType, ValueRange{patches, weights}, ValueRange{productsInit},
      ArrayRef<AffineMap>{AffineMap::get(3, 0, {r, k}, ctx), AffineMap::get(3, 0, {m, k}, ctx),
                          AffineMap::get(3, 0, {r, m}, ctx)},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel, utils::IteratorType::parallel,
                                    utils::IteratorType::reduction},
      reassociableMacBody);
  // Tiles of output channels by rows of patches.
  contraction->setAttr(mlir::mdl::kTileSizesAttr, rewriter.getDenseI64ArrayAttr(
                                           {target.convPatchRowsPerTile, std::min(co, target.convChannelsPerTile), 0}));

  // out[n, m, y, x] = init[n, m, y, x] + products[(n, y, x), m].
  Value products = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({ShapedType::kDynamic, oh, ow, co}, f32),
      contraction.getResult(0),
      SmallVector<ReassociationIndices>{{0, 1, 2}, {3}},
      SmallVector<OpFoldResult>{images, rewriter.getIndexAttr(oh), rewriter.getIndexAttr(ow),
                                rewriter.getIndexAttr(co)});
  AffineExpr on, om, oy, ox;
  bindDims(ctx, on, om, oy, ox);
  SmallVector<utils::IteratorType> parallel4(4, utils::IteratorType::parallel);
  auto add = linalg::GenericOp::create(
      rewriter, loc, outType, ValueRange{products}, ValueRange{init},
      ArrayRef<AffineMap>{AffineMap::get(4, 0, {on, oy, ox, om}, ctx),
                          AffineMap::getMultiDimIdentityMap(4, ctx)},
      parallel4, [](OpBuilder &bb, Location l, ValueRange args) {
        linalg::YieldOp::create(bb, l, ValueRange{arith::AddFOp::create(bb, l, args[1], args[0])});
      });
  return add.getResult(0);
}

LogicalResult rewrite(RewriterBase &rewriter, linalg::Conv2DNchwFchwOp conv,
                      const CpuTarget &target) {
  if (!conv.hasPureTensorSemantics())
    return failure();
  Value image = conv.getInputs()[0], filter = conv.getInputs()[1], init = conv.getOutputs()[0];
  auto imageType = cast<RankedTensorType>(image.getType());
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  if (!filterType.hasStaticShape() ||
      !imageType.getElementType().isF32() || !filterType.getElementType().isF32() ||
      !outType.getElementType().isF32())
    return failure();
  for (int64_t d = 1; d < 4; ++d)
    if (imageType.isDynamicDim(d) || outType.isDynamicDim(d))
      return failure();
  Location loc = conv.getLoc();
  rewriter.setInsertionPoint(conv);
  if (outType.getDimSize(2) * outType.getDimSize(3) <= target.convBatchedMaxPixels) {
    rewriter.replaceOp(conv, convolveSmallImages(rewriter, loc, conv, image, filter, init, target));
    return success();
  }
  // One image at a time: the patches of a batch of 8 ResNet-18 images are
  // 60 MB a layer, computed whole they leave every cache and double the
  // peak memory; one image's stay in L3 while its contraction reads them.
  // (Each image's patches and contraction are still tiled for the
  // threads.)
  Value out = forEachImage(rewriter, loc, image, init,
                           [&](OpBuilder &b, Location l, Value imageSlice, Value accSlice) {
                             return convolveImage(b, l, conv, imageSlice, filter, accSlice, target);
                           });
  rewriter.replaceOp(conv, out);
  return success();
}

struct ConvToGemmPass : impl::ConvToGemmBase<ConvToGemmPass> {
  void runOnOperation() override {
    SmallVector<linalg::Conv2DNchwFchwOp> convs;
    getOperation().walk([&](linalg::Conv2DNchwFchwOp conv) { convs.push_back(conv); });
    IRRewriter rewriter(&getContext());
    const CpuTarget target = CpuTarget::of(getOperation());
    for (linalg::Conv2DNchwFchwOp conv : convs)
      (void)rewrite(rewriter, conv, target); // anything else stays a direct convolution
  }
};

} // namespace
} // namespace modelc::lowering
