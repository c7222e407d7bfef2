//===- LoweringUtils.cpp - Shared helpers of the mdl-to-linalg lowering ---===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <functional>

using namespace mlir;

namespace modelc::lowering {

bool isFloat(Type t) { return llvm::isa<FloatType>(t); }

void macBody(OpBuilder &b, Location l, ValueRange a) {
  Value r;
  if (isFloat(a[0].getType()))
    r = arith::AddFOp::create(b, l, a[2], arith::MulFOp::create(b, l, a[0], a[1]));
  else
    r = arith::AddIOp::create(b, l, a[2], arith::MulIOp::create(b, l, a[0], a[1]));
  linalg::YieldOp::create(b, l, r);
}

Value forEachImage(OpBuilder &b, Location loc, Value image, Value init,
                   function_ref<Value(OpBuilder &, Location, Value, Value)> body) {
  // [n, 0, ...] + [1, rest of the shape]: the n-th image of `tensor`.
  auto imageOf = [](OpBuilder &nb, Location l, Value tensor, Value n) {
    auto type = cast<RankedTensorType>(tensor.getType());
    SmallVector<OpFoldResult> offsets(type.getRank(), nb.getIndexAttr(0));
    offsets[0] = n;
    SmallVector<OpFoldResult> sizes = {nb.getIndexAttr(1)};
    for (int64_t d = 1; d < type.getRank(); ++d)
      sizes.push_back(tensor::getMixedSize(nb, l, tensor, d));
    SmallVector<OpFoldResult> strides(type.getRank(), nb.getIndexAttr(1));
    return std::make_tuple(offsets, sizes, strides);
  };
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value images = tensor::DimOp::create(b, loc, init, 0);
  // An accumulator that starts as a fill is filled image by image, inside
  // the loop, where the image's computation can fuse the fill into its own
  // tiles: filled whole before the loop it was one serial memset of the
  // whole output (8 % of MobileNetV2's time).
  auto fill = init.getDefiningOp<linalg::FillOp>();
  Value start = fill ? fill.getOutputs()[0] : init;
  auto loop = scf::ForOp::create(
      b, loc, zero, images, one, ValueRange{start},
      [&](OpBuilder &nb, Location l, Value n, ValueRange acc) {
        auto [inOffsets, inSizes, inStrides] = imageOf(nb, l, image, n);
        Value imageSlice =
            tensor::ExtractSliceOp::create(nb, l, image, inOffsets, inSizes, inStrides);
        auto [offsets, sizes, strides] = imageOf(nb, l, acc[0], n);
        Value accSlice = tensor::ExtractSliceOp::create(nb, l, acc[0], offsets, sizes, strides);
        if (fill)
          accSlice = linalg::FillOp::create(nb, l, fill.getInputs()[0], accSlice).getResult(0);
        Value result = body(nb, l, imageSlice, accSlice);
        scf::YieldOp::create(
            nb, l, ValueRange{tensor::InsertSliceOp::create(nb, l, result, acc[0], offsets, sizes,
                                                            strides)});
      });
  return loop.getResult(0);
}

void reassociableMacBody(OpBuilder &b, Location l, ValueRange a) {
  auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  Value product = arith::MulFOp::create(b, l, a[0], a[1], fast);
  linalg::YieldOp::create(b, l, ValueRange{arith::AddFOp::create(b, l, a[2], product, fast)});
}

Value scalarConstant(OpBuilder &b, Location loc, Type type, double v) {
  if (auto ft = llvm::dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, ft, b.getFloatAttr(ft, v));
  if (type.isIndex())
    return arith::ConstantIndexOp::create(b, loc, int64_t(v));
  return arith::ConstantOp::create(
      b, loc, type, b.getIntegerAttr(type, type.isInteger(1) ? int64_t(v != 0) : int64_t(v)));
}

Value emptyTensor(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynamicSizes) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynamicSizes);
}

SmallVector<Value> dynamicSizesFrom(OpBuilder &b, Location loc, RankedTensorType type,
                                    Value value, ArrayRef<int64_t> map) {
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, value, map[i]));
  return sizes;
}

Value filled(OpBuilder &b, Location loc, RankedTensorType type, Value like, double value) {
  SmallVector<int64_t> identity = llvm::to_vector(llvm::seq<int64_t>(0, type.getRank()));
  Value empty = emptyTensor(b, loc, type, dynamicSizesFrom(b, loc, type, like, identity));
  Value v = scalarConstant(b, loc, type.getElementType(), value);
  return linalg::FillOp::create(b, loc, v, empty).getResult(0);
}

void reportShapeCheck(OpBuilder &b, Location loc, Value a, Value c, ShapeCheck kind) {
  auto at = loc->findInstanceOf<FileLineColLoc>();
  auto i64 = [&](Value v) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
  };
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
  };
  func::CallOp::create(b, loc, kShapeCheckFailedFn, TypeRange{},
                       ValueRange{constant(at ? at.getLine() : 0),
                                  constant(at ? at.getColumn() : 0), i64(a), i64(c),
                                  constant(static_cast<int64_t>(kind))});
}

void reportIfSizesDiffer(OpBuilder &b, Location loc, Value mine, Value want) {
  Value differ = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, mine, want);
  auto check = scf::IfOp::create(b, loc, differ, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(check.thenBlock());
  reportShapeCheck(b, loc, mine, want, ShapeCheck::SizesDiffer);
}

/// The sizes that `elementwise` takes as one loop's: each input's size in
/// a result dimension, where one of them is known only at run time, must
/// be the loop's (`loopSizes`). Checked where they meet, as PyTorch's
/// broadcasting would fail (a size of 1 known only at run time is not
/// broadcast: it fails too); canonicalization removes the checks of sizes
/// that are the same value.
static void checkSizesMeet(OpBuilder &b, Location loc, RankedTensorType resultType,
                           ValueRange inputs, ArrayRef<Value> sizeSource,
                           ArrayRef<int64_t> sizeDim) {
  int64_t rank = resultType.getRank();
  for (Value in : inputs) {
    auto t = llvm::cast<RankedTensorType>(in.getType());
    int64_t offset = rank - t.getRank();
    for (int64_t d = 0; d < t.getRank(); ++d) {
      int64_t r = d + offset;
      bool broadcast = t.getDimSize(d) == 1 && resultType.getDimSize(r) != 1;
      bool dynamic = t.isDynamicDim(d) || resultType.isDynamicDim(r);
      if (broadcast || !dynamic || (in == sizeSource[r] && d == sizeDim[r]))
        continue;
      auto sizeOf = [&](Value v, int64_t dim, int64_t known) -> Value {
        if (!ShapedType::isDynamic(known))
          return arith::ConstantIndexOp::create(b, loc, known);
        return tensor::DimOp::create(b, loc, v, dim);
      };
      Value mine = sizeOf(in, d, t.getDimSize(d));
      Value loop = resultType.isDynamicDim(r)
                       ? sizeOf(sizeSource[r], sizeDim[r], ShapedType::kDynamic)
                       : sizeOf(Value(), 0, resultType.getDimSize(r));
      reportIfSizesDiffer(b, loc, mine, loop);
    }
  }
}

Value elementwise(OpBuilder &b, Location loc, RankedTensorType resultType, ValueRange inputs,
                  const BodyBuilder &body) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = resultType.getRank();
  SmallVector<AffineMap> maps;
  SmallVector<Value> dynSizes;
  SmallVector<Value> sizeSource(rank);
  SmallVector<int64_t> sizeDim(rank, -1);
  for (Value in : inputs) {
    auto t = llvm::cast<RankedTensorType>(in.getType());
    int64_t offset = rank - t.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < t.getRank(); ++d) {
      int64_t r = d + offset;
      bool broadcast = t.getDimSize(d) == 1 && resultType.getDimSize(r) != 1;
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx) : getAffineDimExpr(r, ctx));
      if (!broadcast && t.isDynamicDim(d) && !sizeSource[r]) {
        sizeSource[r] = in;
        sizeDim[r] = d;
      }
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  for (int64_t r = 0; r < rank; ++r) {
    if (!resultType.isDynamicDim(r))
      continue;
    assert(sizeSource[r] && "a dynamic result size with no input that has it");
    dynSizes.push_back(tensor::DimOp::create(b, loc, sizeSource[r], sizeDim[r]));
  }
  checkSizesMeet(b, loc, resultType, inputs, sizeSource, sizeDim);
  Value init = emptyTensor(b, loc, resultType, dynSizes);
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value v = body(nb, nloc, args.drop_back());
        linalg::YieldOp::create(nb, nloc, v);
      });
  return generic.getResult(0);
}

AffineMap droppedDimsMap(MLIRContext *ctx, int64_t rank, ArrayRef<int64_t> dims) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(dims, d))
      exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

Value reduce(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims, ReduceKind kind) {
  auto type = llvm::cast<RankedTensorType>(input.getType());
  Type elt = type.getElementType();
  // A float sum over several dimensions one dimension at a time, the
  // innermost first: BatchNorm's statistics over [N, H, W] then add chains
  // of W, H and N values instead of one of N*H*W, whose rounding error
  // grows with its length (ResNet-18's training-mode forward: 1.4x nearer
  // a float64 reference). The first pass reads the input; the others
  // reduce what is left.
  if (kind == ReduceKind::Sum && isFloat(elt) && dims.size() > 1) {
    SmallVector<int64_t> sorted(dims);
    llvm::sort(sorted);
    Value inner = reduce(b, loc, input, {sorted.back()}, kind);
    sorted.pop_back(); // the dimensions before it keep their numbers
    return reduce(b, loc, inner, sorted, kind);
  }
  SmallVector<int64_t> shape, map;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (llvm::is_contained(dims, d))
      continue;
    shape.push_back(type.getDimSize(d));
    map.push_back(d);
  }
  auto resultType = RankedTensorType::get(shape, elt);
  Value empty = emptyTensor(b, loc, resultType, dynamicSizesFrom(b, loc, resultType, input, map));
  double identity = kind == ReduceKind::Sum ? 0.0 : -std::numeric_limits<double>::infinity();
  if (kind == ReduceKind::Max && !isFloat(elt))
    identity = double(std::numeric_limits<int64_t>::min());
  Value init =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, identity), empty).getResult(0);
  int64_t rank = type.getRank();
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank),
                                 droppedDimsMap(b.getContext(), rank, dims)};
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d)
    iterators.push_back(llvm::is_contained(dims, d) ? utils::IteratorType::reduction
                                                    : utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, ValueRange{input}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        Value r;
        if (kind == ReduceKind::Sum)
          r = isFloat(elt) ? Value(arith::AddFOp::create(nb, nloc, args[0], args[1]))
                           : Value(arith::AddIOp::create(nb, nloc, args[0], args[1]));
        else
          r = isFloat(elt) ? Value(arith::MaximumFOp::create(nb, nloc, args[0], args[1]))
                           : Value(arith::MaxSIOp::create(nb, nloc, args[0], args[1]));
        linalg::YieldOp::create(nb, nloc, r);
      });
  return generic.getResult(0);
}

Value countOf(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims, Type type) {
  auto t = llvm::cast<RankedTensorType>(input.getType());
  Value count = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t d : dims) {
    Value size = t.isDynamicDim(d) ? Value(tensor::DimOp::create(b, loc, input, d))
                                   : Value(arith::ConstantIndexOp::create(b, loc, t.getDimSize(d)));
    count = arith::MulIOp::create(b, loc, count, size);
  }
  Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), count);
  if (isFloat(type))
    return arith::SIToFPOp::create(b, loc, type, asInt);
  return asInt;
}

Value keepDims(OpBuilder &b, Location loc, Value reduced, RankedTensorType keptType,
               ArrayRef<int64_t> dims) {
  // Group every kept size-1 dimension with a neighbouring surviving one.
  int64_t rank = keptType.getRank();
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  for (int64_t d = 0; d < rank; ++d) {
    pending.push_back(d);
    if (!llvm::is_contained(dims, d)) {
      groups.push_back(pending);
      pending.clear();
    }
  }
  if (groups.empty()) // every dim reduced: a rank-0 tensor expands to all ones
    return tensor::ExpandShapeOp::create(b, loc, keptType, reduced, ArrayRef<ReassociationIndices>{});
  llvm::append_range(groups.back(), pending);
  return tensor::ExpandShapeOp::create(b, loc, keptType, reduced, groups);
}

std::optional<DotForm> matchDotForm(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || op.getNumLoops() < 3 ||
      op.getNumLoops() > 4 || op.getNumReductionLoops() != 1)
    return std::nullopt;
  bool batched = op.getNumLoops() == 4;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  unsigned k = llvm::find(iterators, utils::IteratorType::reduction) - iterators.begin();
  auto dimsOf = [](AffineMap map) -> std::optional<SmallVector<unsigned>> {
    SmallVector<unsigned> dims;
    for (AffineExpr e : map.getResults()) {
      auto d = dyn_cast<AffineDimExpr>(e);
      if (!d)
        return std::nullopt;
      dims.push_back(d.getPosition());
    }
    return dims;
  };
  auto a = dimsOf(maps[0]), b = dimsOf(maps[1]), c = dimsOf(maps[2]);
  size_t lead = batched ? 1 : 0;
  if (!a || !b || !c || a->size() != 2 || b->size() != 2 + lead || c->size() != 2 + lead)
    return std::nullopt;
  bool outer = (*b)[lead] == k;
  unsigned m = (*a)[0], n = outer ? (*b)[lead + 1] : (*b)[lead];
  unsigned bk = outer ? (*b)[lead] : (*b)[lead + 1];
  if ((*a)[1] != k || bk != k || (*c)[lead] != m || (*c)[lead + 1] != n || m == n || n == k ||
      (batched && ((*b)[0] != (*c)[0] || (*b)[0] == m || (*b)[0] == n || (*b)[0] == k)))
    return std::nullopt;
  if (!isF32MacBody(op))
    return std::nullopt;
  return DotForm{batched, outer};
}

namespace {

/// The coefficients of `e`'s dimensions when `e` is a sum of dimensions
/// times constants (no constant term), or nullopt.
std::optional<SmallVector<int64_t>> dimCoefficients(AffineExpr e, unsigned numDims) {
  SmallVector<int64_t> coefficients(numDims, 0);
  std::function<bool(AffineExpr)> add = [&](AffineExpr t) {
    if (auto d = dyn_cast<AffineDimExpr>(t)) {
      ++coefficients[d.getPosition()];
      return true;
    }
    auto bin = dyn_cast<AffineBinaryOpExpr>(t);
    if (!bin)
      return false;
    if (bin.getKind() == AffineExprKind::Add)
      return add(bin.getLHS()) && add(bin.getRHS());
    auto d = dyn_cast<AffineDimExpr>(bin.getLHS());
    auto c = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (bin.getKind() != AffineExprKind::Mul || !d || !c)
      return false;
    coefficients[d.getPosition()] += c.getValue();
    return true;
  };
  if (!add(e))
    return std::nullopt;
  return coefficients;
}

} // namespace

std::optional<DepthwiseForm> matchDepthwiseForm(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || op.getNumLoops() != 6 ||
      op.getNumReductionLoops() != 2 || !isF32MacBody(op))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  auto dimAt = [](AffineMap map, unsigned i) -> std::optional<unsigned> {
    if (auto d = dyn_cast<AffineDimExpr>(map.getResult(i)))
      return d.getPosition();
    return std::nullopt;
  };
  AffineMap x = maps[0], w = maps[1], out = maps[2];
  if (x.getNumResults() != 4 || w.getNumResults() != 3 || out.getNumResults() != 4)
    return std::nullopt;
  // out (n, c, oh, ow), w (c, kh, kw), x (n, c, ...): plain dimensions.
  SmallVector<unsigned> dims;
  for (auto [map, i] : {std::pair{out, 0u}, {out, 1u}, {out, 2u}, {out, 3u}, {w, 1u}, {w, 2u}}) {
    std::optional<unsigned> d = dimAt(map, i);
    if (!d)
      return std::nullopt;
    dims.push_back(*d);
  }
  unsigned n = dims[0], c = dims[1], oh = dims[2], ow = dims[3], kh = dims[4], kw = dims[5];
  if (iterators[kh] != utils::IteratorType::reduction ||
      iterators[kw] != utils::IteratorType::reduction || dimAt(w, 0) != c || dimAt(x, 0) != n ||
      dimAt(x, 1) != c)
    return std::nullopt;
  // x's spatial indices: o * stride + k * dilation, nothing else.
  DepthwiseForm form;
  for (auto [i, o, k] : {std::tuple{0, oh, kh}, {1, ow, kw}}) {
    std::optional<SmallVector<int64_t>> coefficients =
        dimCoefficients(x.getResult(2 + i), op.getNumLoops());
    if (!coefficients)
      return std::nullopt;
    for (unsigned d = 0; d < op.getNumLoops(); ++d)
      if (d != o && d != k && (*coefficients)[d] != 0)
        return std::nullopt;
    form.stride[i] = (*coefficients)[o];
    form.dilation[i] = (*coefficients)[k];
    if (form.stride[i] < 1 || form.dilation[i] < 1)
      return std::nullopt;
  }
  return form;
}

bool isF32MacBody(linalg::GenericOp op) {
  // The body: yield(out + in0 * in1), operands in either order.
  Block &body = op.getRegion().front();
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 || body.getOperations().size() != 3)
    return false;
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  auto add = dyn_cast_if_present<arith::AddFOp>(mul ? mul->getNextNode() : nullptr);
  if (!mul || !add || add->getNextNode() != body.getTerminator() ||
      body.getTerminator()->getOperand(0) != add.getResult())
    return false;
  BlockArgument in0 = body.getArgument(0), in1 = body.getArgument(1), out = body.getArgument(2);
  bool mulOk = (mul.getLhs() == in0 && mul.getRhs() == in1) ||
               (mul.getLhs() == in1 && mul.getRhs() == in0);
  bool addOk = (add.getLhs() == out && add.getRhs() == mul.getResult()) ||
               (add.getRhs() == out && add.getLhs() == mul.getResult());
  return mulOk && addOk && in0.getType().isF32() && in1.getType().isF32() &&
         out.getType().isF32();
}

/// Pads the spatial dimensions (2, 3) of an NCHW tensor with `value`.
Value padSpatial(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> padding, double value) {
  if (padding[0] == 0 && padding[1] == 0)
    return x;
  auto t = llvm::cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(t.getShape());
  for (int i = 0; i < 2; ++i)
    if (!ShapedType::isDynamic(shape[2 + i]))
      shape[2 + i] += 2 * padding[i];
  SmallVector<OpFoldResult> low = {b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(padding[0]),
                                   b.getIndexAttr(padding[1])};
  Value pad = scalarConstant(b, loc, t.getElementType(), value);
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, t.getElementType()), x, low, low,
                               pad);
}



/// Dims of a rank-`rank` tensor one to one, except `dim`, which pairs with
/// the dim after it: splitDim's and mergeDim's reassociation.
static SmallVector<ReassociationIndices> pairReassociation(int64_t rank, int64_t dim) {
  SmallVector<ReassociationIndices> reassoc;
  for (int64_t i = 0; i < rank; ++i) {
    if (i < dim)
      reassoc.push_back({i});
    else if (i == dim)
      reassoc.push_back({i, i + 1});
    else
      reassoc.push_back({i + 1});
  }
  return reassoc;
}

Value splitDim(OpBuilder &b, Location loc, Value v, int64_t dim, int64_t groups) {
  auto t = llvm::cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[dim] = t.getDimSize(dim) / groups;
  shape.insert(shape.begin() + dim, groups);
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    int64_t src = i <= dim ? i : i - 1;
    if (ShapedType::isDynamic(shape[i]))
      sizes.push_back(tensor::DimOp::create(b, loc, v, src).getResult());
    else
      sizes.push_back(b.getIndexAttr(shape[i]));
  }
  return tensor::ExpandShapeOp::create(b, loc, RankedTensorType::get(shape, t.getElementType()), v,
                                       pairReassociation(t.getRank(), dim), sizes)
      .getResult();
}

Value mergeDim(OpBuilder &b, Location loc, Value v, int64_t dim, RankedTensorType type) {
  return tensor::CollapseShapeOp::create(b, loc, type, v, pairReassociation(type.getRank(), dim));
}


SmallVector<Value> slidingDynamicSizes(OpBuilder &b, Location loc, Value x, RankedTensorType type,
                                       ArrayRef<int64_t> window, ArrayRef<int64_t> stride) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (!type.isDynamicDim(i))
      continue;
    Value size = tensor::DimOp::create(b, loc, x, i);
    if (i >= 2) {
      auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
      Value span = arith::SubIOp::create(b, loc, size, c(window[i - 2]));
      size = arith::AddIOp::create(b, loc, arith::DivSIOp::create(b, loc, span, c(stride[i - 2])),
                                   c(1));
    }
    dyn.push_back(size);
  }
  return dyn;
}


Value cropSpatial(OpBuilder &b, Location loc, Value padded, RankedTensorType type,
                         ArrayRef<int64_t> p) {
  if (p[0] == 0 && p[1] == 0)
    return padded;
  auto index = [&](int64_t v) -> OpFoldResult { return b.getIndexAttr(v); };
  OpFoldResult batch =
      type.isDynamicDim(0) ? OpFoldResult(tensor::DimOp::create(b, loc, padded, 0).getResult())
                           : index(type.getDimSize(0));
  return tensor::ExtractSliceOp::create(
      b, loc, type, padded, {index(0), index(0), index(p[0]), index(p[1])},
      {batch, index(type.getDimSize(1)), index(type.getDimSize(2)), index(type.getDimSize(3))},
      {index(1), index(1), index(1), index(1)});
}

} // namespace modelc::lowering
