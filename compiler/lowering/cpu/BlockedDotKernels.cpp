//===- BlockedDotKernels.cpp - Register-blocked f32 contractions ----------===//
//
// Implements -mdl-blocked-dot-kernels (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/DerivedValues.h"
#include "lowering/cpu/KernelFunctions.h"
#include "lowering/shared/LoweringUtils.h"
#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_BLOCKEDDOTKERNELS
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

// The register blocks come from the target description (CpuTarget.h). On
// AVX2: the dot kernel's blocks of 4 rows of A by 3 rows of B keep 12
// accumulators of 8 floats, with 3 rows of B and 1 of A in flight, in the
// 16 vector registers; each step of 8 along k does 12 FMAs for 7 loads, so
// the FMA units, not the loads, set the pace. A lone row of A takes 8 rows
// of B: 8 accumulators, 1 row of A and 1 row of B in flight.

/// C[m, n] += A[m, k] * B[n, k] with k contiguous in A and B, or, with
/// `batched`, C[b, m, n] += A[m, k] * B[b, n, k] (a convolution's weights
/// times its patches).
/// With `outer`, B is [K, N] instead (C[m, n] += A[m, k] * B[k, n], n
/// contiguous in B and C): a convolution's patches as im2col lays them out.
struct DotContraction {
  Value a, b, c;
  bool batched;
  bool outer = false;
};

/// The DotContraction forms (matchDotForm) on buffers, the contiguous
/// dimensions unit-strided.
std::optional<DotContraction> matchDot(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics())
    return std::nullopt;
  std::optional<DotForm> form = matchDotForm(op);
  if (!form)
    return std::nullopt;
  Value A = op.getDpsInputOperand(0)->get(), B = op.getDpsInputOperand(1)->get();
  Value C = op.getDpsInitOperand(0)->get();
  if (!innerStrideOne(B) || !innerStrideOne(form->outer ? C : A))
    return std::nullopt;
  return DotContraction{A, B, C, form->batched, form->outer};
}

class KernelBuilder : public LoopBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, const DotContraction &dot, const CpuTarget &target)
      : LoopBuilder(b, loc), dot(dot), target(target),
        vec(VectorType::get({target.lanes}, b.getF32Type())) {}

  /// The 2-D kernel: NR-row strips of B outside (kept in L1 while every
  /// MR-row block of A passes), MR-row blocks of A inside; then the rows
  /// of A left over, each against 8-row strips of B.
  void buildMatrix() {
    Value zero = index(0), one = index(1);
    Value M = memref::DimOp::create(b, loc, dot.a, 0);
    Value N = memref::DimOp::create(b, loc, dot.b, 0);
    K = memref::DimOp::create(b, loc, dot.a, 1);
    kVector = roundDown(index(0), K, target.lanes);
    Value kTail = arith::SubIOp::create(b, loc, K, kVector);
    tailMask = vector::CreateMaskOp::create(b, loc, VectorType::get({target.lanes}, b.getI1Type()),
                                            ValueRange{kTail});
    Value mFull = roundDown(zero, M, target.dotRowsA);
    Value nFull = roundDown(zero, N, target.dotRowsB);
    auto rowsOfA = [&](Value n0, int64_t nr) {
      loop(zero, mFull, index(target.dotRowsA), [&](Value m0) { block(m0, n0, target.dotRowsA, nr); });
    };
    loop(zero, nFull, index(target.dotRowsB), [&](Value n0) { rowsOfA(n0, target.dotRowsB); });
    loop(nFull, N, one, [&](Value n0) { rowsOfA(n0, 1); });
    // The last M % 4 rows of A (all of them for a batch of 1) one at a
    // time against strips of 8 rows of B: 8 independent accumulators keep
    // both FMA units busy, where a 1 x 3 block would wait on the FMA
    // latency, and each row of A is loaded once per 8 rows of B.
    Value nWide = roundDown(zero, N, target.dotRowsBOneRow);
    loop(mFull, M, one, [&](Value m0) {
      loop(zero, nWide, index(target.dotRowsBOneRow),
           [&](Value n0) { block(m0, n0, 1, target.dotRowsBOneRow); });
      loop(nWide, N, one, [&](Value n0) { block(m0, n0, 1, 1); });
    });
  }

private:
  DotContraction dot;
  const CpuTarget &target;
  VectorType vec;
  Value K, kVector, tailMask;
  /// A block's sums may be taken in any order.
  static constexpr arith::FastMathFlags fast =
      arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

  /// The lane sums of each of `vectors`: four at a time as a tree of
  /// pairwise additions (shuffles that x86 turns into vhaddps), which
  /// shares the work of four reductions; any rest one by one. With short
  /// rows (Linear(100, ...)) the 12 separate reductions of a 4 x 3 block
  /// cost nearly a third of its time.
  SmallVector<Value> horizontalSums(ArrayRef<Value> vectors) {
    assert((target.lanes == 4 || target.lanes == 8 || target.lanes == 16) &&
           "the shuffles below pair up 4 or 8 lanes");
    if (target.lanes == 16) {
      // Halves added first: 16 lanes to 8.
      SmallVector<Value> halves;
      for (Value v : vectors) {
        Value low = vector::ExtractStridedSliceOp::create(b, loc, v, ArrayRef<int64_t>{0},
                                                          ArrayRef<int64_t>{8}, ArrayRef<int64_t>{1});
        Value high = vector::ExtractStridedSliceOp::create(b, loc, v, ArrayRef<int64_t>{8},
                                                           ArrayRef<int64_t>{8}, ArrayRef<int64_t>{1});
        halves.push_back(arith::AddFOp::create(b, loc, low, high, fast));
      }
      return pairwiseSums(halves);
    }
    return pairwiseSums(vectors);
  }

  /// horizontalSums of 8-lane (AVX) or 4-lane (NEON) vectors.
  SmallVector<Value> pairwiseSums(ArrayRef<Value> vectors) {
    int64_t lanes = cast<VectorType>(vectors.front().getType()).getNumElements();
    // For each group of 4 lanes: [a01, a23, c01, c23] for lanes a0..a3,
    // c0..c3 (8 lanes: [a01, a23, c01, c23 | a45, a67, c45, c67]).
    auto pairSums = [&](Value a, Value c) {
      SmallVector<int64_t> even, odd;
      for (int64_t g = 0; g < lanes; g += 4)
        for (int64_t at : {g, g + 2, lanes + g, lanes + g + 2}) {
          even.push_back(at);
          odd.push_back(at + 1);
        }
      Value e = vector::ShuffleOp::create(b, loc, a, c, even);
      Value o = vector::ShuffleOp::create(b, loc, a, c, odd);
      return arith::AddFOp::create(b, loc, e, o, fast).getResult();
    };
    SmallVector<Value> sums;
    size_t i = 0;
    for (; i + 4 <= vectors.size(); i += 4) {
      // [sum0..3 of v0, v1, v2, v3 | sum4..7 of v0, v1, v2, v3] (4 lanes:
      // the first half is the whole sums).
      Value four = pairSums(pairSums(vectors[i], vectors[i + 1]),
                            pairSums(vectors[i + 2], vectors[i + 3]));
      if (lanes == 8) {
        Value low = vector::ShuffleOp::create(b, loc, four, four, ArrayRef<int64_t>{0, 1, 2, 3});
        Value high = vector::ShuffleOp::create(b, loc, four, four, ArrayRef<int64_t>{4, 5, 6, 7});
        four = arith::AddFOp::create(b, loc, low, high, fast);
      }
      for (int64_t lane = 0; lane < 4; ++lane)
        sums.push_back(vector::ExtractOp::create(b, loc, four, lane));
    }
    for (; i < vectors.size(); ++i)
      sums.push_back(
          vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, vectors[i], fast));
    return sums;
  }

  /// C[m0 .. m0+mr, n0 .. n0+nr] += A[m0.., :] B[n0.., :]^T. Each lane
  /// sums chunks of target.sumChunk steps from zero, then adds the chunk
  /// to the block's running vectors: blocked summation, as the outer
  /// kernel's (OuterProductBlocks says why).
  void block(Value m0, Value n0, int64_t mr, int64_t nr) {
    Value zeros = arith::ConstantOp::create(b, loc, vec, DenseElementsAttr::get(vec, 0.0f));
    SmallVector<Value> init(mr * nr, zeros);
    Value chunkSteps = index(target.sumChunk * target.lanes);
    auto chunkLoop = scf::ForOp::create(
        b, loc, index(0), kVector, chunkSteps, init,
        [&](OpBuilder &cb, Location cl, Value k0, ValueRange totals) {
          Value k1 = arith::MinUIOp::create(cb, cl, arith::AddIOp::create(cb, cl, k0, chunkSteps),
                                            kVector);
          auto chunk = chunkSums(cb, cl, m0, n0, mr, nr, k0, k1, zeros);
          SmallVector<Value> next;
          for (int64_t i = 0; i < mr * nr; ++i)
            next.push_back(arith::AddFOp::create(cb, cl, totals[i], chunk.getResult(i)));
          scf::YieldOp::create(cb, cl, next);
        });
    finishBlock(m0, n0, mr, nr, chunkLoop.getResults(), zeros);
  }

  /// The partial sums (vectors) of A[m0.., k0..k1] B[n0.., k0..k1]^T.
  scf::ForOp chunkSums(OpBuilder &cb, Location cl, Value m0, Value n0, int64_t mr, int64_t nr,
                       Value k0, Value k1, Value zeros) {
    SmallVector<Value> init(mr * nr, zeros);
    return scf::ForOp::create(
        cb, cl, k0, k1, index(target.lanes), init,
        [&](OpBuilder &nb, Location l, Value k, ValueRange accs) {
          SmallVector<Value> rowsB, next(accs.begin(), accs.end());
          for (int64_t j = 0; j < nr; ++j)
            rowsB.push_back(vector::LoadOp::create(nb, l, vec, dot.b, ValueRange{plus(n0, j), k}));
          for (int64_t i = 0; i < mr; ++i) {
            Value rowA = vector::LoadOp::create(nb, l, vec, dot.a, ValueRange{plus(m0, i), k});
            for (int64_t j = 0; j < nr; ++j)
              next[i * nr + j] = vector::FMAOp::create(nb, l, rowA, rowsB[j], accs[i * nr + j]);
          }
          scf::YieldOp::create(nb, l, next);
        });
  }

  /// The last K % target.lanes steps, the lanes' sums and C += them.
  void finishBlock(Value m0, Value n0, int64_t mr, int64_t nr, ValueRange totals, Value zeros) {
    // The last K % target.lanes steps as one more, masked (lanes past K load 0).
    SmallVector<Value> accs(totals.begin(), totals.end());
    SmallVector<Value> rowsB;
    for (int64_t j = 0; j < nr; ++j)
      rowsB.push_back(vector::MaskedLoadOp::create(b, loc, vec, dot.b,
                                                   ValueRange{plus(n0, j), kVector}, tailMask,
                                                   zeros));
    for (int64_t i = 0; i < mr; ++i) {
      Value rowA = vector::MaskedLoadOp::create(b, loc, vec, dot.a,
                                                ValueRange{plus(m0, i), kVector}, tailMask, zeros);
      for (int64_t j = 0; j < nr; ++j)
        accs[i * nr + j] = vector::FMAOp::create(b, loc, rowA, rowsB[j], accs[i * nr + j]);
    }
    SmallVector<Value> sums = horizontalSums(accs);
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        SmallVector<Value> at = {plus(m0, i), plus(n0, j)};
        Value c = memref::LoadOp::create(b, loc, dot.c, at);
        Value sum = arith::AddFOp::create(b, loc, c, sums[i * nr + j], fast);
        memref::StoreOp::create(b, loc, sum, dot.c, at);
      }
  }
};

/// Blocks of an outer-product kernel: 6 rows of A by 16 columns (2
/// vectors) of B and C. The 12 accumulators start at zero for every chunk
/// of at most target.sumChunk steps of k and are added into C's block
/// after it, no reduction at the end; each step loads 2 vectors of B and
/// broadcasts 6 scalars of A for 12 FMAs, in 15 of AVX2's 16 vector
/// registers. Leftover rows go 4, then 1 at a time.
///
/// The chunks are blocked summation: a sum of K products accumulated in one
/// register from C's value on grows its rounding error with K (a 3x3
/// convolution of 512 channels sums 4608), summed chunk by chunk with the
/// chunk's length plus their number (CpuTarget::sumChunk).
/// Where B's columns come from is the kernel's: [K, N] (OuterKernelBuilder)
/// or packed panels (PackedKernelBuilder).
class OuterProductBlocks : public LoopBuilder {
protected:
  OuterProductBlocks(OpBuilder &b, Location loc, Value a, Value c, const CpuTarget &target)
      : LoopBuilder(b, loc), a(a), c(c), target(target),
        vec(VectorType::get({target.lanes}, b.getF32Type())) {}

  Value a, c;
  const CpuTarget &target;
  VectorType vec;
  /// The steps of k the blocks take.
  Value kBegin, kEnd;

  /// The vector of B's columns j * 8 .. j * 8 + 7 of the block at step k.
  using ColumnLoader = llvm::function_ref<Value(OpBuilder &, Value k, int64_t j)>;

  Value load(OpBuilder &ob, Value memref, ValueRange at, Value mask) {
    return vectorLoad(ob, vec, memref, at, mask);
  }

  /// Every row of C[:, n0 .. n0 + 8 * masks.size()] += A B, vector j of C
  /// under masks[j] (none: whole).
  void rows(Value n0, ArrayRef<Value> masks, ColumnLoader loadB) {
    Value M = memref::DimOp::create(b, loc, a, 0);
    Value m6 = roundDown(index(0), M, target.outerRows);
    Value m4 = roundDown(m6, M, 4);
    loop(index(0), m6, index(target.outerRows),
         [&](Value m0) { block(m0, n0, target.outerRows, masks, loadB); });
    loop(m6, m4, index(4), [&](Value m0) { block(m0, n0, 4, masks, loadB); });
    loop(m4, M, index(1), [&](Value m0) { block(m0, n0, 1, masks, loadB); });
  }

  /// C[m0 .. m0+mr, n0 .. n0+8*masks.size()] += A[m0.., kBegin..kEnd] B,
  /// chunk by chunk.
  void block(Value m0, Value n0, int64_t mr, ArrayRef<Value> masks, ColumnLoader loadB) {
    loop(kBegin, kEnd, index(target.sumChunk), [&](Value k0) {
      Value k1 = arith::MinUIOp::create(b, loc, plus(k0, target.sumChunk), kEnd);
      chunk(m0, n0, mr, masks, loadB, k0, k1);
    });
  }

  /// C's block += A[m0.., k0..k1] B, summed from zero in registers.
  void chunk(Value m0, Value n0, int64_t mr, ArrayRef<Value> masks, ColumnLoader loadB, Value k0,
             Value k1) {
    int64_t vectors = masks.size();
    Value zeros = arith::ConstantOp::create(b, loc, vec, DenseElementsAttr::get(vec, 0.0f));
    SmallVector<Value> init(mr * vectors, zeros);
    auto kLoop = scf::ForOp::create(
        b, loc, k0, k1, index(1), init,
        [&](OpBuilder &nb, Location l, Value k, ValueRange accs) {
          SmallVector<Value> cols, next(accs.begin(), accs.end());
          for (int64_t j = 0; j < vectors; ++j)
            cols.push_back(loadB(nb, k, j));
          for (int64_t i = 0; i < mr; ++i) {
            Value x = memref::LoadOp::create(nb, l, a, ValueRange{plus(m0, i), k});
            Value xs = vector::BroadcastOp::create(nb, l, vec, x);
            for (int64_t j = 0; j < vectors; ++j)
              next[i * vectors + j] =
                  vector::FMAOp::create(nb, l, xs, cols[j], accs[i * vectors + j]);
          }
          scf::YieldOp::create(nb, l, next);
        });
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < vectors; ++j) {
        SmallVector<Value> at = {plus(m0, i), plus(n0, j * target.lanes)};
        Value sum = arith::AddFOp::create(b, loc, load(b, c, at, masks[j]),
                                          kLoop.getResult(i * vectors + j));
        if (masks[j])
          vector::MaskedStoreOp::create(b, loc, c, at, masks[j], sum);
        else
          vector::StoreOp::create(b, loc, sum, c, at);
      }
  }
};

/// C[m, n] += A[m, k] B[k, n] with n contiguous: OuterProductBlocks over
/// columns of 16, then 8, then the last N % 8 under a mask, the reduction
/// in chunks.
class OuterKernelBuilder : public OuterProductBlocks {
public:
  OuterKernelBuilder(OpBuilder &b, Location loc, const DotContraction &dot,
                     const CpuTarget &target)
      : OuterProductBlocks(b, loc, dot.a, dot.c, target), bMatrix(dot.b) {}

  void build() {
    K = memref::DimOp::create(b, loc, a, 1);
    Value N = memref::DimOp::create(b, loc, bMatrix, 1);
    int64_t wide = target.outerVectors * target.lanes;
    Value nWide = roundDown(index(0), N, wide);
    Value nVector = roundDown(nWide, N, target.lanes);
    Value left = arith::SubIOp::create(b, loc, N, nVector);
    Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, left, index(0));
    Value mask = vector::CreateMaskOp::create(
        b, loc, VectorType::get({target.lanes}, b.getI1Type()), ValueRange{left});
    auto columns = [&](Value n0, ArrayRef<Value> masks) {
      rows(n0, masks, [&](OpBuilder &nb, Value k, int64_t j) {
        return load(nb, bMatrix, ValueRange{k, plus(n0, j * target.lanes)}, masks[j]);
      });
    };
    // The reduction in chunks, so that the panel of B a column block
    // cycles through (target.outerChunk x 16 floats) stays in L1 for every row
    // block of A; C accumulates across chunks.
    loop(index(0), K, index(target.outerChunk), [&](Value k0) {
      kBegin = k0;
      kEnd = arith::MinUIOp::create(b, loc, plus(k0, target.outerChunk), K);
      loop(index(0), nWide, index(wide), [&](Value n0) { columns(n0, {Value(), Value()}); });
      loop(nWide, nVector, index(target.lanes), [&](Value n0) { columns(n0, {Value()}); });
      // The last N % 8 columns under a mask.
      auto tail = scf::IfOp::create(b, loc, any, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(tail.thenBlock());
      columns(nVector, {mask});
    });
  }

private:
  Value bMatrix, K;
};

/// C[m, n] += A[m, k] P[n / 16, k, n % 16]: B packed in panels of 16
/// columns (-mdl-pack-weights), P's first panel C's first column.
/// OuterProductBlocks panel by panel, B's 16 columns one cache line per
/// step, unmasked (the last panel is padded with zeros); C's columns past
/// N are masked off, and a last panel of 8 columns or fewer takes one
/// vector of them. A panel's K rows are contiguous, which the prefetchers
/// stream from L2; the blocks sum them in chunks all the same (precision).
class PackedKernelBuilder : public OuterProductBlocks {
public:
  PackedKernelBuilder(OpBuilder &b, Location loc, Value a, Value packed, Value c,
                      const CpuTarget &target)
      : OuterProductBlocks(b, loc, a, c, target), packed(packed) {}

  void build() {
    kBegin = index(0);
    kEnd = memref::DimOp::create(b, loc, a, 1);
    Value N = memref::DimOp::create(b, loc, c, 1);
    // A panel is a block's width (checked by the pass).
    int64_t width = target.packedPanelColumns;
    Value nWhole = roundDown(index(0), N, width);
    auto panel = [&](Value n0, ArrayRef<Value> masks) {
      Value p = arith::DivUIOp::create(b, loc, n0, index(width));
      rows(n0, masks, [&](OpBuilder &nb, Value k, int64_t j) {
        return vector::LoadOp::create(nb, loc, vec, packed, ValueRange{p, k, index(j * target.lanes)});
      });
    };
    loop(index(0), nWhole, index(width), [&](Value n0) { panel(n0, {Value(), Value()}); });
    // The last N % 16 columns of C under a mask: 1 to 8 as one vector,
    // 9 to 15 as a whole one and a masked one.
    Value left = arith::SubIOp::create(b, loc, N, nWhole);
    Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, left, index(0));
    auto tail = scf::IfOp::create(b, loc, any, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tail.thenBlock());
    Value oneVector = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, left, index(target.lanes));
    auto vectors = scf::IfOp::create(b, loc, oneVector, /*withElseRegion=*/true);
    auto maskType = VectorType::get({target.lanes}, b.getI1Type());
    b.setInsertionPointToStart(vectors.thenBlock());
    panel(nWhole, {vector::CreateMaskOp::create(b, loc, maskType, ValueRange{left})});
    b.setInsertionPointToStart(vectors.elseBlock());
    Value beyond = arith::SubIOp::create(b, loc, left, index(target.lanes));
    panel(nWhole, {Value(), vector::CreateMaskOp::create(b, loc, maskType, ValueRange{beyond})});
  }

private:
  Value packed;
};

/// The type every call passes: any sizes, any offset, any row stride.
MemRefType operandType(MLIRContext *ctx, bool unitInnerStride) {
  int64_t dyn = ShapedType::kDynamic;
  auto layout = StridedLayoutAttr::get(ctx, dyn, {dyn, unitInnerStride ? 1 : dyn});
  return MemRefType::get({dyn, dyn}, Float32Type::get(ctx), layout);
}

/// The module's kernel for `outer` or dot contractions,
/// `@modelc_blocked_outer(A, B, C)` or `@modelc_blocked_dot(A, B, C)`:
/// every contraction calls one of them, so that each is compiled once
/// (expanded at each of ResNet-18's 40 contractions, they tripled the
/// compile time).
func::FuncOp getOrCreateKernel(ModuleOp module, bool outer, const CpuTarget &target) {
  MLIRContext *ctx = module.getContext();
  // Rows of A and B contiguous for the dot form; rows of B and C for the
  // outer form.
  MemRefType a = operandType(ctx, !outer), bt = operandType(ctx, true),
             c = operandType(ctx, outer);
  return getOrCreateKernelFunction(
      module, outer ? "modelc_blocked_outer" : "modelc_blocked_dot", {a, bt, c},
      [&](OpBuilder &b, Location loc, Block &entry) {
        DotContraction dot{entry.getArgument(0), entry.getArgument(1), entry.getArgument(2),
                           false, outer};
        if (outer)
          OuterKernelBuilder(b, loc, dot, target).build();
        else
          KernelBuilder(b, loc, dot, target).buildMatrix();
      });
}

/// `@modelc_blocked_packed(A, P, C)`, the packed kernel (one per module, as
/// the others).
func::FuncOp getOrCreatePackedKernel(ModuleOp module, const CpuTarget &target) {
  MLIRContext *ctx = module.getContext();
  int64_t dyn = ShapedType::kDynamic;
  auto panels = MemRefType::get(
      {dyn, dyn, target.packedPanelColumns}, Float32Type::get(ctx),
      StridedLayoutAttr::get(ctx, dyn, {dyn, target.packedPanelColumns, 1}));
  MemRefType matrix = operandType(ctx, true);
  return getOrCreateKernelFunction(
      module, "modelc_blocked_packed", {matrix, panels, matrix},
      [&](OpBuilder &b, Location loc, Block &entry) {
        PackedKernelBuilder(b, loc, entry.getArgument(0), entry.getArgument(1),
                            entry.getArgument(2), target)
            .build();
      });
}

/// `memref`[i, :, :] as a 2-D memref.
Value dropLeadingDim(OpBuilder &b, Location loc, Value memref, Value i) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<OpFoldResult> offsets = {i, b.getIndexAttr(0), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1)};
  for (int64_t d = 1; d < 3; ++d)
    sizes.push_back(type.isDynamicDim(d)
                        ? OpFoldResult(memref::DimOp::create(b, loc, memref, d).getResult())
                        : OpFoldResult(b.getIndexAttr(type.getDimSize(d))));
  SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
  auto reduced = memref::SubViewOp::inferRankReducedResultType(
      {type.getDimSize(1), type.getDimSize(2)}, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, loc, cast<MemRefType>(reduced), memref, offsets, sizes,
                                   strides);
}

/// Replaces the contraction by calls of the kernel, one per image when
/// batched.
void callKernel(OpBuilder &b, Location loc, func::FuncOp kernel, DotContraction dot) {
  if (!dot.batched)
    return callKernelFunction(b, loc, kernel, {dot.a, dot.b, dot.c});
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value images = memref::DimOp::create(b, loc, dot.b, 0);
  auto loop = scf::ForOp::create(b, loc, zero, images, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value image = loop.getInductionVar();
  Value patches = dropLeadingDim(b, loc, dot.b, image);
  Value result = dropLeadingDim(b, loc, dot.c, image);
  callKernelFunction(b, loc, kernel, {dot.a, patches, result});
}

/// A window of a packed parameter: -mdl-pack-weights' copy of the parameter
/// B is a window of, and the window's first row and column in it.
struct PackedWindow {
  Value packed;
  Value row, column;
};

/// B's packed window, when B is a window of a forward function's parameter
/// that -mdl-pack-weights packed: through memref.cast and same-rank
/// memref.subview with unit strides (the tiles the tile loops cut).
std::optional<PackedWindow> packedWindow(OpBuilder &b, Location loc, Value B) {
  SmallVector<memref::SubViewOp> views;
  Value v = B;
  while (!isa<BlockArgument>(v)) {
    if (auto cast = v.getDefiningOp<memref::CastOp>()) {
      v = cast.getSource();
      continue;
    }
    auto view = v.getDefiningOp<memref::SubViewOp>();
    if (!view || view.getSourceType().getRank() != 2 || view.getType().getRank() != 2 ||
        !llvm::all_of(view.getStaticStrides(), [](int64_t s) { return s == 1; }))
      return std::nullopt;
    views.push_back(view);
    v = view.getSource();
  }
  auto arg = cast<BlockArgument>(v);
  auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  if (!fn || arg.getOwner() != &fn.getBody().front())
    return std::nullopt;
  std::optional<unsigned> packed = derivedArgument(fn, arg.getArgNumber(), "packed");
  if (!packed)
    return std::nullopt;
  Value row = arith::ConstantIndexOp::create(b, loc, 0), column = row;
  for (memref::SubViewOp view : views) {
    SmallVector<OpFoldResult> offsets = view.getMixedOffsets();
    row = arith::AddIOp::create(b, loc, row, getValueOrCreateConstantIndexOp(b, loc, offsets[0]));
    column = arith::AddIOp::create(b, loc, column,
                                   getValueOrCreateConstantIndexOp(b, loc, offsets[1]));
  }
  return PackedWindow{fn.getArgument(*packed), row, column};
}

/// The contraction from its packed weight when the window starts on a
/// panel and A has target.minPackedRows rows or more, from W by the dot kernel
/// otherwise.
void callPackedOrDot(OpBuilder &b, Location loc, ModuleOp module, DotContraction dot,
                     PackedWindow window, const CpuTarget &target) {
  auto index = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value rows = memref::DimOp::create(b, loc, dot.a, 0);
  Value enoughRows =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, rows, index(target.minPackedRows));
  Value onPanel = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::eq,
      arith::RemUIOp::create(b, loc, window.row, index(target.packedPanelColumns)), index(0));
  Value packed = arith::AndIOp::create(b, loc, enoughRows, onPanel);
  auto choice = scf::IfOp::create(b, loc, packed, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(choice.thenBlock());
  Value n = memref::DimOp::create(b, loc, dot.b, 0), k = memref::DimOp::create(b, loc, dot.b, 1);
  Value firstPanel = arith::DivUIOp::create(b, loc, window.row, index(target.packedPanelColumns));
  Value panels = arith::CeilDivUIOp::create(b, loc, n, index(target.packedPanelColumns));
  Value panelWindow = memref::SubViewOp::create(
      b, loc, window.packed,
      ArrayRef<OpFoldResult>{firstPanel, window.column, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{panels, k, b.getIndexAttr(target.packedPanelColumns)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1), b.getIndexAttr(1)});
  callKernelFunction(b, loc, getOrCreatePackedKernel(module, target),
                     {dot.a, panelWindow, dot.c});
  b.setInsertionPointToStart(choice.elseBlock());
  callKernel(b, loc, getOrCreateKernel(module, /*outer=*/false, target), dot);
}

struct BlockedDotKernelsPass : impl::BlockedDotKernelsBase<BlockedDotKernelsPass> {
  void runOnOperation() override {
    const CpuTarget target = CpuTarget::of(getOperation());
    // The kernels' code is written for 4, 8 or 16 lanes (the dot kernel's
    // lane sums pair up 4 or 8) and panels one outer-product block wide.
    if ((target.lanes != 4 && target.lanes != 8 && target.lanes != 16) ||
        target.packedPanelColumns != target.outerVectors * target.lanes) {
      getOperation().emitError("mdl-blocked-dot-kernels: no kernels for ")
          << target.lanes << " lanes and panels of " << target.packedPanelColumns << " columns";
      return signalPassFailure();
    }
    SmallVector<std::pair<linalg::GenericOp, DotContraction>> dots;
    getOperation().walk([&](linalg::GenericOp op) {
      if (auto dot = matchDot(op))
        dots.push_back({op, *dot});
    });
    for (auto &[op, dot] : dots) {
      OpBuilder b(op);
      std::optional<PackedWindow> window;
      // The packed kernel stores whole vectors of C's rows.
      if (!dot.batched && !dot.outer && innerStrideOne(dot.c))
        window = packedWindow(b, op.getLoc(), dot.b);
      if (window)
        callPackedOrDot(b, op.getLoc(), getOperation(), dot, *window, target);
      else
        callKernel(b, op.getLoc(), getOrCreateKernel(getOperation(), dot.outer, target), dot);
      op.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
