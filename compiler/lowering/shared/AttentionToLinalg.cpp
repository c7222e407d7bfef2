//===- AttentionToLinalg.cpp - The mdl-attention-to-linalg pass -----------===//
//
// Implements -mdl-attention-to-linalg (see Passes.td). mdl.attention is
// lowered after fusion and tiling, by the back end that knows how it wants
// it: whole (every query against every key, the scores materialized, as
// batched generics a GPU maps to kernels) or by blocks as flash attention
// computes it (an scf.forall over blocks of queries, an scf.for over blocks
// of keys with an online softmax), which never holds more scores than one
// [block, block] tile per thread.
//
//===----------------------------------------------------------------------===//

#include "lowering/shared/LoweringUtils.h"
#include "lowering/shared/Passes.h"

#include "mdl/IR/MdlOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

namespace modelc::lowering {
#define GEN_PASS_DEF_ATTENTIONTOLINALG
#include "lowering/shared/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// The pieces of attention over queries q [.., R, E] and keys k [.., C, E]
/// and values v [.., C, Ev] (a block of each, or whole sequences), as linalg
/// generics on tensors. The `batch` leading dimensions (0 or 1) are
/// carried along as parallel loops; a dynamic batch size is read from
/// `batchFrom`.
struct AttentionBuilder {
  OpBuilder &b;
  Location loc;
  int64_t batch;
  Value batchFrom;
  double scale;
  bool causal;

  /// Reassociable and contractible, as -convert-mdl-to-linalg makes every
  /// float op of a reduction: the kernels and LLVM's vectorizer need it.
  arith::FastMathFlags fast() const {
    return arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  }

  /// The map of an operand indexed by the non-batch loops `dims`, in a
  /// generic of `batch + loops` loops.
  AffineMap map(int64_t loops, ArrayRef<int64_t> dims) const {
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < batch; ++i)
      exprs.push_back(b.getAffineDimExpr(i));
    for (int64_t d : dims)
      exprs.push_back(b.getAffineDimExpr(batch + d));
    return AffineMap::get(batch + loops, 0, exprs, b.getContext());
  }

  /// Dimension `dim` of `of`: a size that blocks of rows and keys may know
  /// only at run time (a last, shorter block).
  struct Size {
    Value of;
    int64_t dim;
  };

  /// A tensor.empty of element type `elt` and shape [batch..., sizes...].
  Value empty(ArrayRef<Size> sizes, Type elt) const {
    SmallVector<int64_t> shape;
    SmallVector<Value> dynamic;
    auto add = [&](Value of, int64_t dim) {
      int64_t n = typeOf(of).getDimSize(dim);
      shape.push_back(n);
      if (ShapedType::isDynamic(n))
        dynamic.push_back(tensor::DimOp::create(b, loc, of, dim));
    };
    if (batch)
      add(batchFrom, 0);
    for (const Size &size : sizes)
      add(size.of, size.dim);
    return emptyTensor(b, loc, RankedTensorType::get(shape, elt), dynamic);
  }

  Value filled(ArrayRef<Size> sizes, Type elt, double value) const {
    return linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, value), empty(sizes, elt))
        .getResult(0);
  }

  /// A generic writing `init` from `inputs`; the last `reductions` of its
  /// `loops` non-batch loops reduce.
  Value generic(Value init, ValueRange inputs, ArrayRef<AffineMap> maps, int64_t loops,
                int64_t reductions,
                function_ref<Value(OpBuilder &, Location, ValueRange)> body) const {
    SmallVector<utils::IteratorType> iterators(batch + loops, utils::IteratorType::parallel);
    for (int64_t i = 0; i < reductions; ++i)
      iterators[batch + loops - 1 - i] = utils::IteratorType::reduction;
    return linalg::GenericOp::create(
               b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iterators,
               [&](OpBuilder &nb, Location nloc, ValueRange args) {
                 linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
               })
        .getResult(0);
  }

  /// x [.., C, E] as [.., E, C].
  Value transpose(Value x) const {
    return generic(empty({{x, batch + 1}, {x, batch}}, typeOf(x).getElementType()), x,
                   {map(2, {1, 0}), map(2, {0, 1})}, 2, 0,
                   [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  }

  /// q kᵀ · scale, -inf where a key comes after its query (causal); the
  /// block's first query and key are numbers `row0` and `col0`. `kt` is
  /// the keys transposed, [.., E, C]: the product is then the outer-product
  /// form of the blocked kernels (a row of kᵀ per multiply-add of vectors),
  /// twice as fast as x Wᵀ's dot products on these short rows (E = 64).
  Value scores(Value q, Value kt, Value row0, Value col0) const {
    Type elt = typeOf(q).getElementType();
    SmallVector<Size> sizes = {{q, batch}, {kt, batch + 1}};
    Value dot = product(q, kt, filled(sizes, elt, 0.0));
    return generic(empty(sizes, elt), dot, {map(2, {0, 1}), map(2, {0, 1})}, 2, 0,
                   [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                     Value scaled = arith::MulFOp::create(
                         nb, l, a[0], scalarConstant(nb, l, elt, scale), fast());
                     if (!causal)
                       return scaled;
                     Value r = arith::AddIOp::create(
                         nb, l, linalg::IndexOp::create(nb, l, batch), row0);
                     Value c = arith::AddIOp::create(
                         nb, l, linalg::IndexOp::create(nb, l, batch + 1), col0);
                     Value later =
                         arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ugt, c, r);
                     return arith::SelectOp::create(nb, l, later,
                                                    scalarConstant(nb, l, elt, kMinusInf),
                                                    scaled);
                   });
  }

  /// Each row of s [.., R, C] reduced into init [.., R]: its max, or sum.
  Value rowReduce(Value s, Value init, bool max) const {
    return generic(init, s, {map(2, {0, 1}), map(2, {0})}, 2, 1,
                   [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                     if (max)
                       return arith::MaximumFOp::create(nb, l, a[1], a[0], fast());
                     return arith::AddFOp::create(nb, l, a[1], a[0], fast());
                   });
  }

  /// f(x, r) for every element x of a [.., R, X] and its row's r [.., R].
  Value withRows(Value a, Value r,
                 function_ref<Value(OpBuilder &, Location, Value, Value)> f) const {
    return generic(empty({{a, batch}, {a, batch + 1}}, typeOf(a).getElementType()),
                   ValueRange{a, r},
                   {map(2, {0, 1}), map(2, {0}), map(2, {0, 1})}, 2, 0,
                   [&](OpBuilder &nb, Location l, ValueRange x) { return f(nb, l, x[0], x[1]); });
  }

  /// f(x, y) elementwise over two row vectors [.., R].
  Value rowwise(Value x, Value y, function_ref<Value(OpBuilder &, Location, Value, Value)> f) const {
    return generic(empty({{x, batch}}, typeOf(x).getElementType()), ValueRange{x, y},
                   {map(1, {0}), map(1, {0}), map(1, {0})}, 1, 0,
                   [&](OpBuilder &nb, Location l, ValueRange a) { return f(nb, l, a[0], a[1]); });
  }

  /// x [.., R] or [.., R, X] with f(x, r) in place, r [.., R] its row's.
  Value update(Value x, Value r,
               function_ref<Value(OpBuilder &, Location, Value, Value)> f) const {
    int64_t loops = typeOf(x).getRank() - batch;
    SmallVector<int64_t> all = {0, 1};
    all.resize(loops);
    return generic(x, r, {map(loops, {0}), map(loops, all)}, loops, 0,
                   [&](OpBuilder &nb, Location l, ValueRange a) { return f(nb, l, a[1], a[0]); });
  }

  /// init + p v: p [.., R, C], v [.., C, Ev]; loops r, ev, c (the outer
  /// product form of the blocked kernels). q kᵀ too, with kᵀ [.., E, C].
  Value product(Value p, Value v, Value init) const {
    SmallVector<utils::IteratorType> it(batch + 3, utils::IteratorType::parallel);
    it.back() = utils::IteratorType::reduction;
    return linalg::GenericOp::create(b, loc, TypeRange{init.getType()}, ValueRange{p, v},
                                     ValueRange{init},
                                     ArrayRef<AffineMap>{map(3, {0, 2}), map(3, {2, 1}),
                                                         map(3, {0, 1})},
                                     it, reassociableMacBody)
        .getResult(0);
  }

  Value expOfDifference(OpBuilder &nb, Location l, Value x, Value y) const {
    return math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, x, y, fast()));
  }
};

/// x [d0, .., dk, L, E] as [d0 · .. · dk, L, E]; [1, L, E] when x is 2-D.
Value asBatched(OpBuilder &b, Location loc, Value x) {
  RankedTensorType t = typeOf(x);
  int64_t rank = t.getRank();
  if (rank == 3)
    return x;
  if (rank == 2) {
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), tensor::getMixedSize(b, loc, x, 0),
                                       tensor::getMixedSize(b, loc, x, 1)};
    auto type = RankedTensorType::get({1, t.getDimSize(0), t.getDimSize(1)}, t.getElementType());
    return tensor::ExpandShapeOp::create(b, loc, type, x,
                                         ArrayRef<ReassociationIndices>{{0, 1}, {2}}, sizes);
  }
  ReassociationIndices leading;
  for (int64_t d = 0; d < rank - 2; ++d)
    leading.push_back(d);
  return tensor::CollapseShapeOp::create(
      b, loc, x, ArrayRef<ReassociationIndices>{leading, {rank - 2}, {rank - 1}});
}

/// The inverse of asBatched: y [N, L, Ev] as `type`, the leading sizes
/// those of `like` (the query).
Value unbatched(OpBuilder &b, Location loc, Value y, RankedTensorType type, Value like) {
  int64_t rank = type.getRank();
  if (rank == 3)
    return y;
  if (rank == 2)
    return tensor::CollapseShapeOp::create(b, loc, type, y,
                                           ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  SmallVector<OpFoldResult> sizes;
  ReassociationIndices leading;
  for (int64_t d = 0; d < rank; ++d) {
    sizes.push_back(d < rank - 2 ? tensor::getMixedSize(b, loc, like, d)
                                 : tensor::getMixedSize(b, loc, y, d - (rank - 3)));
    if (d < rank - 2)
      leading.push_back(d);
  }
  return tensor::ExpandShapeOp::create(
      b, loc, type, y, ArrayRef<ReassociationIndices>{leading, {rank - 2}, {rank - 1}}, sizes);
}

/// The verifier lets a leading (batch) size known only at run time pass;
/// the key's and value's must be the query's, each of them (not only
/// their products), or the blocks would read the wrong rows or past them.
/// Checked as elementwise operands' are.
void checkBatchSizes(OpBuilder &b, Location loc, Value q, ValueRange others) {
  RankedTensorType qt = typeOf(q);
  for (Value x : others)
    for (int64_t d = 0; d + 2 < qt.getRank(); ++d)
      if (qt.isDynamicDim(d) || typeOf(x).isDynamicDim(d)) {
        Value mine = tensor::DimOp::create(b, loc, x, d);
        Value want = tensor::DimOp::create(b, loc, q, d);
        reportIfSizesDiffer(b, loc, mine, want);
      }
}

/// softmax(q kᵀ · scale) v over whole sequences: q [N, L, E], k [N, S, E],
/// v [N, S, Ev].
Value wholeAttention(OpBuilder &b, Location loc, Value q, Value k, Value v, double scale,
                     bool causal) {
  AttentionBuilder bb{b, loc, /*batch=*/1, q, scale, causal};
  Type elt = typeOf(q).getElementType();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value s = bb.scores(q, bb.transpose(k), zero, zero);
  Value m = bb.rowReduce(s, bb.filled({{q, 1}}, elt, kMinusInf), /*max=*/true);
  Value p = bb.withRows(s, m, [&](OpBuilder &nb, Location nl, Value x, Value r) {
    return bb.expOfDifference(nb, nl, x, r);
  });
  Value sum = bb.rowReduce(p, bb.filled({{q, 1}}, elt, 0.0), /*max=*/false);
  Value acc = bb.product(p, v, bb.filled({{q, 1}, {v, 2}}, elt, 0.0));
  return bb.withRows(acc, sum, [&](OpBuilder &nb, Location nl, Value x, Value r) {
    return arith::DivFOp::create(nb, nl, x, r);
  });
}

/// Flash attention: for each batch element and block of `block` queries
/// (an scf.forall), the keys by blocks of `block` (an scf.for) with a
/// running row max m, row sum l and accumulator acc:
///   m' = max(m, rowmax(s)),  p = exp(s - m'),  c = exp(m - m'),
///   l' = l c + rowsum(p),    acc' = acc c + p v,
/// then acc / l. A causal block of queries stops at its last query's key.
/// The last block of queries or keys may be shorter (its size known at run
/// time). The first block of keys holds key 0, which every query sees: m
/// is finite from then on, and a row that a later block masks whole (keys
/// past the block's last query, in a block rounded up to whole blocks of
/// keys) adds exp(-inf) = 0 with c = 1.
Value flashAttention(OpBuilder &b, Location loc, Value q, Value k, Value v, double scale,
                     bool causal, int64_t blockRows) {
  Type elt = typeOf(q).getElementType();
  int64_t l = typeOf(q).getDimSize(1), s = typeOf(k).getDimSize(1);
  int64_t e = typeOf(q).getDimSize(2), ev = typeOf(v).getDimSize(2);
  // Blocks of queries and of keys: blockRows, or the whole length when it
  // is shorter. Static sizes where the blocks divide the lengths: a causal
  // block of queries then takes whole blocks of keys, up to the one that
  // holds its last query's key (the keys past it are masked).
  int64_t queryBlock = std::min(l, blockRows), keyBlock = std::min(s, blockRows);
  bool wholeRows = l % queryBlock == 0, wholeKeys = s % keyBlock == 0;
  AttentionBuilder outer{b, loc, /*batch=*/1, q, scale, causal};
  Value out = outer.empty({{q, 1}, {v, 2}}, elt);
  SmallVector<OpFoldResult> upper = {tensor::getMixedSize(b, loc, q, 0),
                                     b.getIndexAttr((l + queryBlock - 1) / queryBlock)};
  auto forall = scf::ForallOp::create(b, loc, upper, ValueRange{out}, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forall.getBody());
  Value n = forall.getInductionVar(0), blockIndex = forall.getInductionVar(1);
  Value queryStep = arith::ConstantIndexOp::create(b, loc, queryBlock);
  Value keyStep = arith::ConstantIndexOp::create(b, loc, keyBlock);
  Value row0 = arith::MulIOp::create(b, loc, blockIndex, queryStep);
  // The size of the block from `first`: `step` where the blocks divide
  // the length, else min(step, end - first).
  auto count = [&](OpBuilder &cb, Value step, bool whole, Value end,
                   Value first) -> OpFoldResult {
    if (whole)
      return getAsOpFoldResult(step);
    return arith::MinUIOp::create(cb, loc, step, arith::SubIOp::create(cb, loc, end, first))
        .getResult();
  };
  // `size` rows from `first` of batch element n of x, as [size, width].
  auto rows = [&](OpBuilder &rb, Value x, Value first, OpFoldResult size,
                  int64_t width) -> Value {
    std::optional<int64_t> known = getConstantIntValue(size);
    auto type = RankedTensorType::get({known ? *known : ShapedType::kDynamic, width}, elt);
    SmallVector<OpFoldResult> offsets = {n, first, rb.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {rb.getIndexAttr(1), size, rb.getIndexAttr(width)};
    SmallVector<OpFoldResult> strides(3, rb.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(rb, loc, type, x, offsets, sizes, strides);
  };
  OpFoldResult queryCount =
      count(b, queryStep, wholeRows, arith::ConstantIndexOp::create(b, loc, l), row0);
  Value qBlock = rows(b, q, row0, queryCount, e);
  Value keysEnd = arith::ConstantIndexOp::create(b, loc, s);
  if (causal) {
    Value seen = arith::AddIOp::create(b, loc, row0,
                                       getValueOrCreateConstantIndexOp(b, loc, queryCount));
    if (wholeKeys) // rounded up to whole blocks of keys
      seen = arith::MulIOp::create(b, loc, arith::CeilDivUIOp::create(b, loc, seen, keyStep),
                                   keyStep);
    keysEnd = arith::MinUIOp::create(b, loc, keysEnd, seen);
  }
  AttentionBuilder bb{b, loc, /*batch=*/0, Value(), scale, causal};
  SmallVector<Value> running = {bb.filled({{qBlock, 0}}, elt, kMinusInf),
                                bb.filled({{qBlock, 0}}, elt, 0.0),
                                bb.filled({{qBlock, 0}, {v, 2}}, elt, 0.0)};
  auto keys = scf::ForOp::create(
      b, loc, arith::ConstantIndexOp::create(b, loc, 0), keysEnd, keyStep, running,
      [&](OpBuilder &lb, Location ll, Value col0, ValueRange state) {
        AttentionBuilder ib{lb, ll, /*batch=*/0, Value(), scale, causal};
        OpFoldResult keyCount = count(lb, keyStep, wholeKeys, keysEnd, col0);
        Value m = state[0], sum = state[1], acc = state[2];
        Value sc = ib.scores(qBlock, ib.transpose(rows(lb, k, col0, keyCount, e)), row0, col0);
        // The running values are updated in place (generics whose init is
        // the loop's), so that bufferization keeps one buffer each across
        // the iterations. c reads m before m is overwritten: a rewrite that
        // moved it after m2 would make bufferization copy m (still right,
        // slower).
        Value blockMax = ib.rowReduce(sc, ib.filled({{sc, 0}}, elt, kMinusInf), /*max=*/true);
        Value c = ib.rowwise(m, blockMax, [&](OpBuilder &nb, Location nl, Value x, Value y) {
          return ib.expOfDifference(nb, nl, x, arith::MaximumFOp::create(nb, nl, x, y, ib.fast()));
        });
        Value m2 = ib.update(m, blockMax, [&](OpBuilder &nb, Location nl, Value x, Value y) -> Value {
          return arith::MaximumFOp::create(nb, nl, x, y, ib.fast());
        });
        Value p = ib.withRows(sc, m2, [&](OpBuilder &nb, Location nl, Value x, Value y) {
          return ib.expOfDifference(nb, nl, x, y);
        });
        auto times = [&](OpBuilder &nb, Location nl, Value x, Value y) -> Value {
          return arith::MulFOp::create(nb, nl, x, y, ib.fast());
        };
        Value sum2 = ib.rowReduce(p, ib.update(sum, c, times), /*max=*/false);
        Value acc2 = ib.product(p, rows(lb, v, col0, keyCount, ev), ib.update(acc, c, times));
        scf::YieldOp::create(lb, ll, ValueRange{m2, sum2, acc2});
      });
  Value result = bb.withRows(keys.getResult(2), keys.getResult(1),
                             [&](OpBuilder &nb, Location nl, Value x, Value r) -> Value {
                               return arith::DivFOp::create(nb, nl, x, r);
                             });
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> offsets = {n, row0, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), queryCount, b.getIndexAttr(ev)};
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  tensor::ParallelInsertSliceOp::create(b, loc, result, forall.getRegionIterArgs()[0], offsets,
                                        sizes, strides);
  return forall.getResult(0);
}

struct AttentionToLinalgPass : impl::AttentionToLinalgBase<AttentionToLinalgPass> {
  using AttentionToLinalgBase::AttentionToLinalgBase;

  void runOnOperation() override {
    SmallVector<mdl::AttentionOp> ops;
    getOperation().walk([&](mdl::AttentionOp op) { ops.push_back(op); });
    for (mdl::AttentionOp op : ops) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      checkBatchSizes(b, loc, op.getQuery(), {op.getKey(), op.getValue()});
      Value q = asBatched(b, loc, op.getQuery()), k = asBatched(b, loc, op.getKey()),
            v = asBatched(b, loc, op.getValue());
      double scale = op.getScale().convertToDouble();
      bool causal = op.getIsCausal();
      // (The verifier has made the lengths and widths static; no blocks of
      // an empty sequence.)
      bool byBlocks = blockRows > 0 && typeOf(q).getDimSize(1) > 0 && typeOf(k).getDimSize(1) > 0;
      Value y = byBlocks ? flashAttention(b, loc, q, k, v, scale, causal, blockRows)
                         : wholeAttention(b, loc, q, k, v, scale, causal);
      op.replaceAllUsesWith(unbatched(b, loc, y, typeOf(op.getResult()), op.getQuery()));
      op.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
