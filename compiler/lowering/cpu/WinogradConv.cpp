//===- WinogradConv.cpp - 3x3 convolutions as Winograd F(2x2, 3x3) --------===//
//
// Implements -mdl-winograd-conv (see Passes.td).
//
// Each 2x2 block of output pixels is A^T [(G g G^T) . (B^T d B)] A for the
// 4x4 input tile d under it and each 3x3 filter g (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016): the 16 products of
// the transformed tile and filter replace 36 multiplications. Summed over
// input channels, each of the 16 tile positions is a matrix product, which
// the blocked outer-product kernel computes: [CO, CI] x [CI, tiles].
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/MdlAttrNames.h"
#include "lowering/cpu/DerivedValues.h"
#include "lowering/shared/LoweringUtils.h"
#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/Passes.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_WINOGRADCONV
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// The transforms of F(2x2, 3x3): filter g -> G g G^T, input tile
/// d -> B^T d B, output block m -> A^T m A.
constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kBT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
constexpr double kAT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
/// Tile positions: the 16 matrix products per convolution.
constexpr int64_t kPositions = 16;
/// sum_i coeffs[i] * values[i], skipping zero coefficients and multiplying
/// only by those other than +-1.
Value combine(OpBuilder &b, Location loc, ArrayRef<double> coeffs, ArrayRef<Value> values) {
  Value sum;
  for (auto [c, v] : llvm::zip_equal(coeffs, values)) {
    if (c == 0)
      continue;
    Value term = v;
    if (std::abs(c) != 1)
      term = arith::MulFOp::create(b, loc, v, scalarConstant(b, loc, v.getType(), std::abs(c)));
    if (!sum)
      sum = c < 0 ? arith::NegFOp::create(b, loc, term).getResult() : term;
    else if (c < 0)
      sum = arith::SubFOp::create(b, loc, sum, term);
    else
      sum = arith::AddFOp::create(b, loc, sum, term);
  }
  return sum;
}

/// X^T-style two-sided transform of a rows x cols block `in` (row-major):
/// out[a][b] = sum_i sum_j L[a][i] in[i][j] L[b][j], L being `left`
/// (outRows x rows) and `right` (outCols x cols).
SmallVector<Value> twoSided(OpBuilder &b, Location loc, ArrayRef<Value> in, int64_t rows,
                            int64_t cols, ArrayRef<SmallVector<double>> left,
                            ArrayRef<SmallVector<double>> right) {
  // t[a][j] = sum_i left[a][i] in[i][j], then out[a][b] = sum_j t[a][j] right[b][j].
  SmallVector<SmallVector<Value>> t(left.size());
  for (auto [a, row] : llvm::enumerate(left))
    for (int64_t j = 0; j < cols; ++j) {
      SmallVector<Value> column;
      for (int64_t i = 0; i < rows; ++i)
        column.push_back(in[i * cols + j]);
      t[a].push_back(combine(b, loc, row, column));
    }
  SmallVector<Value> out;
  for (size_t a = 0; a < left.size(); ++a)
    for (const SmallVector<double> &row : right)
      out.push_back(combine(b, loc, row, t[a]));
  return out;
}

template <size_t R, size_t C>
SmallVector<SmallVector<double>> matrix(const double (&m)[R][C]) {
  SmallVector<SmallVector<double>> rows;
  for (const auto &row : m)
    rows.emplace_back(std::begin(row), std::end(row));
  return rows;
}

SmallVector<AffineMap> repeated(AffineMap map, int64_t n) { return SmallVector<AffineMap>(n, map); }

/// U[p] = G g G^T for each of the 16 positions p, [16, CO, CI], from the
/// [CO, CI, 3, 3] filter: U[p, o, i] = sum_t T[p, t] g[o, i, t], T = G (x) G
/// (16 x 9). The filter is first copied tap-major, [3, 3, CO, CI], so that
/// the sum reads each tap along CI with stride 1 into one result, and LLVM
/// vectorizes it. (Transformed in registers from the filter's own layout,
/// into 16 results, it stayed scalar; bench/TUNING.md.)
Value transformFilter(OpBuilder &b, Location loc, int64_t ch, Value filter, Value into = Value()) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(filter.getType());
  int64_t co = type.getDimSize(0), ci = type.getDimSize(1);
  Type f32 = type.getElementType();
  auto tapsType = RankedTensorType::get({3, 3, co, ci}, f32);
  AffineExpr ty, tx, to, ti;
  bindDims(ctx, ty, tx, to, ti);
  auto tapMajor = linalg::GenericOp::create(
      b, loc, tapsType, ValueRange{filter}, ValueRange{emptyTensor(b, loc, tapsType, {})},
      ArrayRef<AffineMap>{AffineMap::get(4, 0, {to, ti, ty, tx}, ctx),
                          AffineMap::getMultiDimIdentityMap(4, ctx)},
      SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
      [](OpBuilder &nb, Location l, ValueRange args) { linalg::YieldOp::create(nb, l, args[0]); });
  tapMajor->setAttr(mlir::mdl::kTileSizesAttr,
                    b.getDenseI64ArrayAttr({0, 0, std::min(co, ch), 0}));

  // T[p = 4a + c, t = 3y + x] = G[a, y] G[c, x].
  SmallVector<float> t;
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t c = 0; c < 4; ++c)
      for (int64_t y = 0; y < 3; ++y)
        for (int64_t x = 0; x < 3; ++x)
          t.push_back(float(kG[a][y] * kG[c][x]));
  auto tType = RankedTensorType::get({kPositions, 9}, f32);
  Value coefficients =
      arith::ConstantOp::create(b, loc, DenseElementsAttr::get(tType, ArrayRef<float>(t)));

  auto uType = RankedTensorType::get({kPositions, co, ci}, f32);
  AffineExpr p, o, i;
  bindDims(ctx, p, o, i);
  SmallVector<AffineMap> maps;
  SmallVector<Value> inputs;
  for (int64_t y = 0; y < 3; ++y)
    for (int64_t x = 0; x < 3; ++x) {
      maps.push_back(AffineMap::get(
          3, 0, {getAffineConstantExpr(y, ctx), getAffineConstantExpr(x, ctx), o, i}, ctx));
      inputs.push_back(tapMajor.getResult(0));
    }
  for (int64_t tap = 0; tap < 9; ++tap) {
    maps.push_back(AffineMap::get(3, 0, {p, getAffineConstantExpr(tap, ctx)}, ctx));
    inputs.push_back(coefficients);
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(3, ctx));
  auto op = linalg::GenericOp::create(
      b, loc, uType, inputs, ValueRange{into ? into : emptyTensor(b, loc, uType, {})}, maps,
      SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        // contract: multiply-adds become FMAs.
        auto contract = arith::FastMathFlags::contract;
        Value sum = arith::MulFOp::create(nb, l, args[9], args[0], contract);
        for (int64_t tap = 1; tap < 9; ++tap)
          sum = arith::AddFOp::create(
              nb, l, sum, arith::MulFOp::create(nb, l, args[9 + tap], args[tap], contract),
              contract);
        linalg::YieldOp::create(nb, l, sum);
      });
  op->setAttr(mlir::mdl::kTileSizesAttr, b.getDenseI64ArrayAttr({1, std::min(co, ch), 0}));
  return op.getResult(0);
}

/// V[p] = B^T d B for the 4x4 input tile d of each 2x2 output block, from
/// padded images [N, CI, 2*TH + 2, 2*TW + 2]: [N, CI, TH, TW] each, or with
/// `channelMajor` [CI, N, TH, TW] (a batch's tiles as one row per channel).
SmallVector<Value> transformInput(OpBuilder &b, Location loc, int64_t ch, Value image, int64_t th,
                                  int64_t tw, bool channelMajor = false) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(image.getType());
  int64_t images = type.getDimSize(0), ci = type.getDimSize(1);
  auto vType = RankedTensorType::get(
      channelMajor ? SmallVector<int64_t>{ci, images, th, tw} : SmallVector<int64_t>{images, ci, th, tw},
      type.getElementType());
  AffineExpr n, c, y, x;
  bindDims(ctx, n, c, y, x);
  SmallVector<AffineMap> maps;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j)
      maps.push_back(AffineMap::get(4, 0, {n, c, y * 2 + i, x * 2 + j}, ctx));
  llvm::append_range(maps, repeated(channelMajor ? AffineMap::get(4, 0, {c, n, y, x}, ctx)
                                                 : AffineMap::getMultiDimIdentityMap(4, ctx),
                                    kPositions));
  SmallVector<Value> inits(
      kPositions,
      emptyTensor(b, loc, vType,
                  dynamicSizesFrom(b, loc, vType, image,
                                   channelMajor ? ArrayRef<int64_t>{1, 0, -1, -1}
                                                : ArrayRef<int64_t>{0, 1, -1, -1})));
  auto op = linalg::GenericOp::create(
      b, loc, SmallVector<Type>(kPositions, vType), SmallVector<Value>(16, image), inits, maps,
      SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l,
                                twoSided(nb, l, llvm::to_vector(args.take_front(16)), 4, 4,
                                         matrix(kBT), matrix(kBT)));
      });
  // Tiles of one input channel, as -mdl-conv-to-gemm's patches.
  op->setAttr(mlir::mdl::kTileSizesAttr, b.getDenseI64ArrayAttr({1, 1, 0, 0}));
  return SmallVector<Value>(op.getResults());
}

/// M[p] = U[p] V[p] for the 16 positions p: [CO, CI] x [CI, columns] ->
/// [CO, columns], the outer-product kernel's form (a row of tiles per
/// reduction step), each V[p] collapsed to [CI, columns] by `rows`.
SmallVector<Value> multiplyPositions(OpBuilder &b, Location loc, int64_t ch, Value u, ArrayRef<Value> v,
                                     ArrayRef<ReassociationIndices> rows) {
  MLIRContext *ctx = b.getContext();
  auto uType = cast<RankedTensorType>(u.getType());
  int64_t co = uType.getDimSize(1), ci = uType.getDimSize(2);
  Type f32 = uType.getElementType();
  AffineExpr m, p, k;
  bindDims(ctx, m, p, k);
  SmallVector<AffineMap> maps = {AffineMap::get(3, 0, {m, k}, ctx),
                                 AffineMap::get(3, 0, {k, p}, ctx),
                                 AffineMap::get(3, 0, {m, p}, ctx)};
  SmallVector<utils::IteratorType> iterators = {
      utils::IteratorType::parallel, utils::IteratorType::parallel, utils::IteratorType::reduction};
  Value zero = scalarConstant(b, loc, f32, 0.0);
  SmallVector<Value> products;
  for (int64_t pos = 0; pos < kPositions; ++pos) {
    Value tiles = tensor::CollapseShapeOp::create(b, loc, v[pos], rows);
    auto mType = RankedTensorType::get(
        {co, cast<RankedTensorType>(tiles.getType()).getDimSize(1)}, f32);
    // Each product's zeros in a buffer of its own: from one tensor.empty,
    // CSE would merge the 16 fills, and bufferization copy the one to each.
    Value buffer = bufferization::AllocTensorOp::create(
        b, loc, mType, dynamicSizesFrom(b, loc, mType, tiles, {-1, 1}));
    Value zeros = linalg::FillOp::create(b, loc, zero, buffer).getResult(0);
    Value weights = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({co, ci}, f32), u,
        ArrayRef<OpFoldResult>{b.getIndexAttr(pos), b.getIndexAttr(0), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(co), b.getIndexAttr(ci)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)});
    auto gemm = linalg::GenericOp::create(b, loc, mType, ValueRange{weights, tiles},
                                          ValueRange{zeros}, maps, iterators, reassociableMacBody);
    gemm->setAttr(mlir::mdl::kTileSizesAttr, b.getDenseI64ArrayAttr({std::min(co, ch), 0, 0}));
    products.push_back(gemm.getResult(0));
  }
  return products;
}

/// out[n, o, 2*ty + r, 2*tx + s] (+)= (A^T M A)[r, s] into `acc` [N, CO,
/// 2*TH, 2*TW] from the 16 products M[p] [CO, columns]: image n's tile (ty,
/// tx) is column n * imageColumns + ty * TW + tx. Iterated over [N, CO, TH,
/// 2, TW, 2], so that a block's four pixels are the four combinations of r
/// and s, their loops innermost but one and innermost (unrolled by LLVM: tx
/// is then the vector dimension). Tiles of 16 output channels (and, image
/// by image, of the one image), into which the products fuse.
Value outputTransform(OpBuilder &b, Location loc, int64_t ch, ArrayRef<Value> products, Value acc,
                      int64_t th, int64_t tw, bool accumulate, int64_t imageColumns) {
  MLIRContext *ctx = b.getContext();
  auto outType = cast<RankedTensorType>(acc.getType());
  Type f32 = outType.getElementType();
  int64_t co = outType.getDimSize(1);
  auto blocksType = RankedTensorType::get({outType.getDimSize(0), co, th, 2, tw, 2}, f32);
  SmallVector<ReassociationIndices> blockDims = {{0}, {1}, {2, 3}, {4, 5}};
  Value blocks = tensor::ExpandShapeOp::create(b, loc, blocksType, acc, blockDims);
  AffineExpr on, oc, ty, r, tx, s;
  bindDims(ctx, on, oc, ty, r, tx, s);
  SmallVector<AffineMap> outMaps = repeated(
      AffineMap::get(6, 0, {oc, on * imageColumns + ty * tw + tx}, ctx), kPositions);
  outMaps.push_back(AffineMap::getMultiDimIdentityMap(6, ctx));
  auto out = linalg::GenericOp::create(
      b, loc, blocksType, products, ValueRange{blocks}, outMaps,
      SmallVector<utils::IteratorType>(6, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value zero = arith::ConstantIndexOp::create(nb, l, 0);
        auto isFirst = [&](int64_t dim) {
          return arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                       linalg::IndexOp::create(nb, l, dim), zero);
        };
        Value firstRow = isFirst(3), firstColumn = isFirst(5);
        // Row r of A^T M: a select between the two rows' sums.
        SmallVector<Value> rowSums;
        for (int64_t j = 0; j < 4; ++j) {
          SmallVector<Value> column;
          for (int64_t i = 0; i < 4; ++i)
            column.push_back(args[i * 4 + j]);
          Value sum0 = combine(nb, l, kAT[0], column), sum1 = combine(nb, l, kAT[1], column);
          rowSums.push_back(arith::SelectOp::create(nb, l, firstRow, sum0, sum1));
        }
        Value pixel = arith::SelectOp::create(nb, l, firstColumn, combine(nb, l, kAT[0], rowSums),
                                              combine(nb, l, kAT[1], rowSums));
        if (accumulate)
          pixel = arith::AddFOp::create(nb, l, args[kPositions], pixel);
        linalg::YieldOp::create(nb, l, pixel);
      });
  // A batch's tiles: every image in each tile of channels, so that the
  // products fused in are [16, CI] x [CI, N*T], not 16 columns wide.
  out->setAttr(mlir::mdl::kTileSizesAttr, b.getDenseI64ArrayAttr(
                                     {imageColumns ? 0 : 1, std::min(co, ch), 0, 0, 0, 0}));
  return tensor::CollapseShapeOp::create(b, loc, outType, out.getResult(0), blockDims);
}

/// The convolution of one padded image ([1, CI, H + 2, W + 2] into `acc`,
/// [1, CO, H, W]) from the transformed filter `u` ([16, CO, CI]): added to
/// `acc` with `accumulate`, else written over it.
Value convolveImage(OpBuilder &b, Location loc, int64_t ch, Value u, Value image, Value acc,
                    bool accumulate) {
  auto outType = cast<RankedTensorType>(acc.getType());
  int64_t th = outType.getDimSize(2) / 2, tw = outType.getDimSize(3) / 2;
  SmallVector<Value> v = transformInput(b, loc, ch, image, th, tw);

  // The image's unit dimension dropped: one kernel call per product, not a
  // loop of one.
  SmallVector<Value> products =
      multiplyPositions(b, loc, ch, u, v, SmallVector<ReassociationIndices>{{0, 1}, {2, 3}});
  return outputTransform(b, loc, ch, products, acc, th, tw, accumulate, /*imageColumns=*/0);
}

/// The convolution of a whole batch of small images (fewer than winogradMinPixels
/// output pixels each; odd sizes too) into `acc` [N, CO, OH, OW] from the
/// transformed filter `u`: the tiles of every image as one contraction per
/// position, [CO, CI] x [CI, N*T]. Image by image, a 7x7 image's 16 tiles
/// would make contractions 16 columns wide. Odd sizes compute the even
/// size above (the image padded by one more row and column of zeros) and
/// keep the top-left part.
Value convolveBatch(OpBuilder &b, Location loc, int64_t ch, Value u, Value image, Value acc,
                    bool accumulate) {
  auto outType = cast<RankedTensorType>(acc.getType());
  Type f32 = outType.getElementType();
  int64_t co = outType.getDimSize(1);
  int64_t oh = outType.getDimSize(2), ow = outType.getDimSize(3);
  int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, tiles = th * tw;
  bool even = oh % 2 == 0 && ow % 2 == 0;
  if (!even) {
    SmallVector<OpFoldResult> low(4, b.getIndexAttr(0)), high(4, b.getIndexAttr(0));
    high[2] = b.getIndexAttr(oh % 2);
    high[3] = b.getIndexAttr(ow % 2);
    image = tensor::PadOp::create(b, loc, Type(), image, low, high,
                                  scalarConstant(b, loc, f32, 0.0), /*nofold=*/false);
  }
  SmallVector<Value> v = transformInput(b, loc, ch, image, th, tw, /*channelMajor=*/true);
  SmallVector<Value> products =
      multiplyPositions(b, loc, ch, u, v, SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});

  // The even-sized output: `acc` itself, or a new tensor to crop.
  auto fullType =
      RankedTensorType::get({outType.getDimSize(0), co, 2 * th, 2 * tw}, f32);
  Value full =
      even ? acc
           : emptyTensor(b, loc, fullType, dynamicSizesFrom(b, loc, fullType, acc, {0, -1, -1, -1}));
  Value blocks = outputTransform(b, loc, ch, products, full, th, tw, even && accumulate,
                                 /*imageColumns=*/tiles);
  if (even)
    return blocks;
  Value cropped = tensor::ExtractSliceOp::create(
      b, loc, outType, blocks,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(0),
                             b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{tensor::getMixedSize(b, loc, acc, 0), b.getIndexAttr(co),
                             b.getIndexAttr(oh), b.getIndexAttr(ow)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1),
                             b.getIndexAttr(1)});
  // Into `acc` itself, as the other paths write: the result is the
  // argument in place, not one more buffer for the crop or the sum.
  SmallVector<AffineMap> maps(2, AffineMap::getMultiDimIdentityMap(4, b.getContext()));
  auto into = linalg::GenericOp::create(
      b, loc, outType, ValueRange{cropped}, ValueRange{acc}, maps,
      SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value v = accumulate ? arith::AddFOp::create(nb, l, args[1], args[0]).getResult()
                             : args[0];
        linalg::YieldOp::create(nb, l, v);
      });
  return into.getResult(0);
}

/// Whether `conv` is one this pass computes: f32, a static 3x3 filter at
/// stride and dilation 1, static image sizes, and either at least
/// the target's winogradMinPixels output pixels in even rows and columns
/// (image by image), or at least winogradMinBatchedPixels (the batch at
/// once).
bool isWinogradCandidate(linalg::Conv2DNchwFchwOp conv, const CpuTarget &t) {
  if (!conv.hasPureTensorSemantics())
    return false;
  auto imageType = cast<RankedTensorType>(conv.getInputs()[0].getType());
  auto filterType = cast<RankedTensorType>(conv.getInputs()[1].getType());
  auto outType = cast<RankedTensorType>(conv.getOutputs()[0].getType());
  if (!filterType.hasStaticShape() || filterType.getDimSize(2) != 3 ||
      filterType.getDimSize(3) != 3 || !imageType.getElementType().isF32() ||
      !filterType.getElementType().isF32() || !outType.getElementType().isF32())
    return false;
  for (int64_t d = 1; d < 4; ++d)
    if (imageType.isDynamicDim(d) || outType.isDynamicDim(d))
      return false;
  auto ones = [](DenseIntElementsAttr attr) {
    return llvm::all_of(attr.getValues<int64_t>(), [](int64_t v) { return v == 1; });
  };
  int64_t oh = outType.getDimSize(2), ow = outType.getDimSize(3);
  bool large = oh * ow >= t.winogradMinPixels;
  return ones(conv.getStrides()) && ones(conv.getDilations()) &&
         (large ? oh % 2 == 0 && ow % 2 == 0
                : oh * ow >= t.winogradMinBatchedPixels && oh * ow < t.winogradMaxBatchedPixels) &&
         imageType.getDimSize(2) == oh + 2 && imageType.getDimSize(3) == ow + 2;
}

/// The function computing every convolution of `conv`'s types from the
/// transformed filter, `modelc_winograd_<N>x<CI>x<OH>x<OW>_<CO>[_acc](image,
/// U, init)` (N: `n` when dynamic; `_acc` adds to `init`, without it the
/// result is written over it; a suffix `_<k>` when those collide for other
/// argument types), made on first use: ResNet-18's 4 layer-1,
/// 3 layer-2 and 3 layer-3 convolutions, in both forward functions, share
/// three. Expanded at each of the 14 of layers 1-2, the transforms and the
/// 16 contractions added 1.9 s to its compile time.
func::FuncOp getOrCreateConvolution(ModuleOp module, linalg::Conv2DNchwFchwOp conv,
                                    Type transformedType, bool accumulate, const CpuTarget &t) {
  const int64_t ch = t.convChannelsPerTile;
  Value image = conv.getInputs()[0], init = conv.getOutputs()[0];
  auto imageType = cast<RankedTensorType>(image.getType());
  auto outType = cast<RankedTensorType>(init.getType());
  auto dim = [](int64_t d) {
    return ShapedType::isDynamic(d) ? std::string("n") : std::to_string(d);
  };
  std::string name = "modelc_winograd_" + dim(imageType.getDimSize(0)) + "x" +
                     std::to_string(imageType.getDimSize(1)) + "x" +
                     std::to_string(outType.getDimSize(2)) + "x" +
                     std::to_string(outType.getDimSize(3)) + "_" +
                     std::to_string(outType.getDimSize(1)) + (accumulate ? "_acc" : "");
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  FunctionType type =
      b.getFunctionType({image.getType(), transformedType, init.getType()}, {outType});
  // The name leaves out the output's batch size, which may be static where
  // the image's is not.
  std::string unique = name;
  for (int k = 1;; ++k) {
    auto fn = module.lookupSymbol<func::FuncOp>(unique);
    if (!fn)
      break;
    if (fn.getFunctionType() == type)
      return fn;
    unique = name + "_" + std::to_string(k);
  }
  Location loc = conv.getLoc();
  auto fn = func::FuncOp::create(b, loc, unique, type);
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  // Large images one at a time: their transformed tiles, 16/9 of the
  // image, stay in L3 as im2col's patches do. Small ones all at once.
  Value u = entry->getArgument(1);
  Value out =
      outType.getDimSize(2) * outType.getDimSize(3) >= t.winogradMinPixels
          ? forEachImage(b, loc, entry->getArgument(0), entry->getArgument(2),
                         [&](OpBuilder &nb, Location l, Value img, Value acc) {
                           return convolveImage(nb, l, ch, u, img, acc, accumulate);
                         })
          : convolveBatch(b, loc, ch, u, entry->getArgument(0), entry->getArgument(2), accumulate);
  func::ReturnOp::create(b, loc, out);
  return fn;
}

/// `modelc_winograd_filter_<CO>x<CI>(filter, into) -> U`: transformFilter
/// as a function per filter shape, which `modelc_prepare` calls for each
/// parameter (ResNet-18: 3 shapes for 10 filters; inline, they added 0.6 s
/// to its compile time), writing U over `into`: prepare passes the derived
/// value itself, so no 16 MB result (ResNet-18's layer 4) is allocated and
/// copied.
func::FuncOp getOrCreateFilterTransform(ModuleOp module, RankedTensorType filterType,
                                        Location loc, int64_t ch) {
  std::string name = "modelc_winograd_filter_" + std::to_string(filterType.getDimSize(0)) +
                     "x" + std::to_string(filterType.getDimSize(1));
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto uType = RankedTensorType::get(
      {kPositions, filterType.getDimSize(0), filterType.getDimSize(1)},
      filterType.getElementType());
  auto fn =
      func::FuncOp::create(b, loc, name, b.getFunctionType({filterType, uType}, {uType}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  func::ReturnOp::create(
      b, loc, transformFilter(b, loc, ch, entry->getArgument(0), entry->getArgument(1)));
  return fn;
}

struct WinogradConvPass : impl::WinogradConvBase<WinogradConvPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    const CpuTarget target = CpuTarget::of(module);
    // Output channels per tile of the products and the output transform,
    // as -mdl-conv-to-gemm's contractions.
    const int64_t ch = target.convChannelsPerTile;

    // The transformed filters of parameters: one per parameter, shared by
    // the forward functions.
    SmallVector<DerivedValue> derived;
    llvm::DenseMap<unsigned, unsigned> derivedOf; // state argument -> index
    SmallVector<RankedTensorType> filterTypes;    // of each derived value's parameter
    struct Candidate {
      linalg::Conv2DNchwFchwOp conv;
      func::FuncOp fn;
      std::optional<unsigned> parameter; // the filter's argument, if a parameter
    };
    SmallVector<Candidate> convs;
    module.walk([&](linalg::Conv2DNchwFchwOp conv) {
      if (!isWinogradCandidate(conv, target))
        return;
      auto fn = conv->getParentOfType<func::FuncOp>();
      std::optional<unsigned> arg = parameterArgument(fn, conv.getInputs()[1]);
      convs.push_back({conv, fn, arg});
      if (arg && !derivedOf.count(*arg)) {
        auto filterType = cast<RankedTensorType>(conv.getInputs()[1].getType());
        derivedOf[*arg] = derived.size();
        filterTypes.push_back(filterType);
        derived.push_back({*arg,
                           RankedTensorType::get({kPositions, filterType.getDimSize(0),
                                                  filterType.getDimSize(1)},
                                                 filterType.getElementType()),
                           "winograd", func::FuncOp()});
      }
    });
    if (convs.empty())
      return;
    // Every forward function takes every derived value after its inputs.
    // (The transforms are made once the walk is done: they are functions
    // of the module it walks.)
    for (auto [d, filterType] : llvm::zip_equal(derived, filterTypes))
      d.transform = getOrCreateFilterTransform(module, filterType, module.getLoc(), ch);
    if (!derived.empty())
      appendDerivedValues(module, derived);

    IRRewriter rewriter(ctx);
    for (auto [conv, fn, arg] : convs) {
      Location loc = conv.getLoc();
      rewriter.setInsertionPoint(conv);
      Value filter = conv.getInputs()[1];
      Value u;
      if (arg) {
        unsigned index = derivedOf[*arg];
        // Functions differ in their inputs (forward, loss_backward): each
        // finds its own argument.
        Value buffer = fn.getArgument(*derivedArgument(fn, *arg, "winograd"));
        u = bufferization::ToTensorOp::create(rewriter, loc, derived[index].type, buffer,
                                              /*restrict=*/true, /*writable=*/false);
      } else {
        u = transformFilter(rewriter, loc, ch, filter); // a filter computed in the call
      }
      // An output of zeros (no bias) is written, not added to: its fill, a
      // pass over the output on one thread, goes.
      Value init = conv.getOutputs()[0];
      auto fill = init.getDefiningOp<linalg::FillOp>();
      bool fromZeros = fill && matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
      func::FuncOp callee = getOrCreateConvolution(module, conv, u.getType(), !fromZeros, target);
      rewriter.replaceOpWithNewOp<func::CallOp>(
          conv, callee,
          ValueRange{conv.getInputs()[0], u, fromZeros ? fill.getOutputs()[0] : init});
      if (fill && fill->use_empty())
        rewriter.eraseOp(fill);
    }
  }
};

} // namespace
} // namespace modelc::lowering
