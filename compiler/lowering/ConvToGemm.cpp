//===- ConvToGemm.cpp - Convolutions as im2col and x W^T ------------------===//
//
// Implements -mdl-conv-to-gemm (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_CONVTOGEMM
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Output channels per tile of the contraction: a multiple of the 4 rows
/// of the blocked kernel, and the weight block (16 x CI*KH*KW) stays in L1
/// or L2 while every patch of the image passes by.
constexpr int64_t kChannelsPerTile = 16;
/// Images with fewer output pixels than this take the dot kernel's layout.
constexpr int64_t kOuterMinPixels = 64;

/// The convolution of one image ([1, CI, H, W] into [1, CO, OH, OW]) as
/// patches times weights.
Value convolveImage(OpBuilder &rewriter, Location loc, linalg::Conv2DNchwFchwOp conv,
                    Value image, Value filter, Value init) {
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  int64_t co = filterType.getDimSize(0), ci = filterType.getDimSize(1);
  int64_t kh = filterType.getDimSize(2), kw = filterType.getDimSize(3);
  int64_t oh = outType.getDimSize(2), ow = outType.getDimSize(3);
  auto strides = llvm::to_vector(conv.getStrides().getValues<int64_t>());
  auto dilations = llvm::to_vector(conv.getDilations().getValues<int64_t>());
  MLIRContext *ctx = rewriter.getContext();
  Type f32 = rewriter.getF32Type();

  // The patches, in one of two layouts. A large image: col[n, ci, kh, kw,
  // oh, ow] = image[n, ci, oh*s + kh*d, ow*s + kw*d], a row of output
  // pixels per reduction step, for the outer-product kernel (a vector of
  // neighbouring pixels times a broadcast weight). A small one (7x7 and
  // below, where a vector of pixels would be mostly empty): col[n, oh, ow,
  // ci, kh, kw], a row per output pixel contiguous along the reduction, for
  // the dot kernel.
  bool pixelRows = oh * ow < kOuterMinPixels;
  SmallVector<Value> batch;
  SmallVector<int64_t> colShape =
      pixelRows ? SmallVector<int64_t>{outType.getDimSize(0), oh, ow, ci, kh, kw}
                : SmallVector<int64_t>{outType.getDimSize(0), ci, kh, kw, oh, ow};
  auto colType = RankedTensorType::get(colShape, f32);
  Value colInit = tensor::EmptyOp::create(rewriter, loc, colType.getShape(), f32, batch);
  AffineExpr n, c, ky, kx, y, x;
  if (pixelRows)
    bindDims(ctx, n, y, x, c, ky, kx);
  else
    bindDims(ctx, n, c, ky, kx, y, x);
  AffineMap readImage = AffineMap::get(
      6, 0, {n, c, y * strides[0] + ky * dilations[0], x * strides[1] + kx * dilations[1]}, ctx);
  SmallVector<utils::IteratorType> allParallel(6, utils::IteratorType::parallel);
  auto im2col = linalg::GenericOp::create(
      rewriter, loc, colType, ValueRange{image}, ValueRange{colInit},
      ArrayRef<AffineMap>{readImage, AffineMap::getMultiDimIdentityMap(6, ctx)}, allParallel,
      [](OpBuilder &b, Location l, ValueRange args) { linalg::YieldOp::create(b, l, args[0]); });
  // Tiles of one output row, or one input channel, of one image each.
  im2col->setAttr("mdl.tile_sizes", rewriter.getDenseI64ArrayAttr({1, 1, 0, 0, 0, 0}));

  // [N, K, P] or [N, P, K] patches, [CO, K] weights, [N, CO, P] accumulators.
  Value patches = tensor::CollapseShapeOp::create(
      rewriter, loc, im2col.getResult(0),
      pixelRows ? SmallVector<ReassociationIndices>{{0}, {1, 2}, {3, 4, 5}}
                : SmallVector<ReassociationIndices>{{0}, {1, 2, 3}, {4, 5}});
  Value weights = tensor::CollapseShapeOp::create(
      rewriter, loc, filter, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  Value acc = tensor::CollapseShapeOp::create(
      rewriter, loc, init, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
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
      iterators, [](OpBuilder &bb, Location l, ValueRange args) {
        auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
        Value prod = arith::MulFOp::create(bb, l, args[0], args[1], fast);
        linalg::YieldOp::create(bb, l, ValueRange{arith::AddFOp::create(bb, l, args[2], prod, fast)});
      });
  contraction->setAttr("mdl.tile_sizes",
                       rewriter.getDenseI64ArrayAttr({1, std::min(co, kChannelsPerTile), 0, 0}));
  return tensor::ExpandShapeOp::create(rewriter, loc, outType, contraction.getResult(0),
                                       SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

LogicalResult rewrite(RewriterBase &rewriter, linalg::Conv2DNchwFchwOp conv) {
  Value image = conv.getInputs()[0], filter = conv.getInputs()[1], init = conv.getOutputs()[0];
  auto imageType = cast<RankedTensorType>(image.getType());
  auto filterType = cast<RankedTensorType>(filter.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  if (!conv.hasPureTensorSemantics() || !filterType.hasStaticShape() ||
      !imageType.getElementType().isF32() || !filterType.getElementType().isF32() ||
      !outType.getElementType().isF32())
    return failure();
  for (int64_t d = 1; d < 4; ++d)
    if (imageType.isDynamicDim(d) || outType.isDynamicDim(d))
      return failure();
  Location loc = conv.getLoc();
  rewriter.setInsertionPoint(conv);
  // One image at a time: the patches of a batch of 8 ResNet-18 images are
  // 60 MB a layer, computed whole they leave every cache and double the
  // peak memory; one image's stay in L3 while its contraction reads them.
  // (Each image's patches and contraction are still tiled for the
  // threads.)
  auto sliceOf = [&](OpBuilder &b, Value tensor, Value n) {
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<OpFoldResult> offsets = {n, b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1)};
    for (int64_t d = 1; d < 4; ++d)
      sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    return std::make_tuple(offsets, sizes, strides);
  };
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value images = tensor::DimOp::create(rewriter, loc, init, 0);
  auto loop = scf::ForOp::create(
      rewriter, loc, zero, images, one, ValueRange{init},
      [&](OpBuilder &b, Location l, Value n, ValueRange acc) {
        auto [inOffsets, inSizes, inStrides] = sliceOf(b, image, n);
        auto imageSlice = tensor::ExtractSliceOp::create(
            b, l, RankedTensorType::get({1, imageType.getDimSize(1), imageType.getDimSize(2),
                                         imageType.getDimSize(3)}, imageType.getElementType()),
            image, inOffsets, inSizes, inStrides);
        auto [offsets, sizes, strides] = sliceOf(b, acc[0], n);
        auto accType = RankedTensorType::get(
            {1, outType.getDimSize(1), outType.getDimSize(2), outType.getDimSize(3)},
            outType.getElementType());
        auto accSlice = tensor::ExtractSliceOp::create(b, l, accType, acc[0], offsets, sizes, strides);
        Value result = convolveImage(b, l, conv, imageSlice, filter, accSlice);
        Value updated = tensor::InsertSliceOp::create(b, l, result, acc[0], offsets, sizes, strides);
        scf::YieldOp::create(b, l, updated);
      });
  rewriter.replaceOp(conv, loop.getResults());
  return success();
}

struct ConvToGemmPass : impl::ConvToGemmBase<ConvToGemmPass> {
  void runOnOperation() override {
    SmallVector<linalg::Conv2DNchwFchwOp> convs;
    getOperation().walk([&](linalg::Conv2DNchwFchwOp conv) { convs.push_back(conv); });
    IRRewriter rewriter(&getContext());
    for (linalg::Conv2DNchwFchwOp conv : convs)
      (void)rewrite(rewriter, conv); // anything else stays a direct convolution
  }
};

} // namespace
} // namespace modelc::lowering
