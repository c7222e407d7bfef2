//===- BlockedDotKernels.cpp - Register-blocked f32 contractions ----------===//
//
// Implements -mdl-blocked-dot-kernels (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/Passes.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_BLOCKEDDOTKERNELS
#include "lowering/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// Rows of A and of B per block: MR x NR accumulators of kLanes floats.
/// 4 x 3 = 12 accumulators, 3 rows of B and 1 of A in flight: the 16
/// vector registers of AVX2. Each step of kLanes along k does 12 FMAs for
/// 7 loads, so the FMA units, not the loads, set the pace.
constexpr int64_t kRowsA = 4;
constexpr int64_t kRowsB = 3;
constexpr int64_t kLanes = 8;
/// Rows of B per block for a lone row of A: 8 accumulators, 1 row of A and
/// 1 row of B in flight.
constexpr int64_t kRowsBForOneRow = 8;

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

bool innerStrideOne(Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return !strides.empty() && strides.back() == 1;
}

/// Recognizes the DotContraction forms (x W^T as Linear makes it, its
/// batched form and the [K, N] outer form as -mdl-conv-to-gemm makes them)
/// in any loop order: f32 operands on buffers, the body out + a * b.
std::optional<DotContraction> matchDot(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() < 3 || op.getNumLoops() > 4 || op.getNumReductionLoops() != 1)
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
  // The body: yield(out + in0 * in1), operands in either order.
  Block &body = op.getRegion().front();
  if (body.getOperations().size() != 3)
    return std::nullopt;
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  auto add = dyn_cast<arith::AddFOp>(mul ? mul->getNextNode() : nullptr);
  if (!mul || !add || add->getNextNode() != body.getTerminator() ||
      body.getTerminator()->getOperand(0) != add.getResult())
    return std::nullopt;
  BlockArgument in0 = body.getArgument(0), in1 = body.getArgument(1), out = body.getArgument(2);
  bool mulOk = (mul.getLhs() == in0 && mul.getRhs() == in1) ||
               (mul.getLhs() == in1 && mul.getRhs() == in0);
  bool addOk = (add.getLhs() == out && add.getRhs() == mul.getResult()) ||
               (add.getRhs() == out && add.getLhs() == mul.getResult());
  if (!mulOk || !addOk || !in0.getType().isF32() || !in1.getType().isF32() ||
      !out.getType().isF32())
    return std::nullopt;
  Value A = op.getDpsInputOperand(0)->get(), B = op.getDpsInputOperand(1)->get();
  Value C = op.getDpsInitOperand(0)->get();
  if (!innerStrideOne(B) || !innerStrideOne(outer ? C : A))
    return std::nullopt;
  return DotContraction{A, B, C, batched, outer};
}

/// What both kernel builders build with: index constants and arithmetic,
/// and scf.for loops whose bodies a callback fills.
class LoopBuilder {
protected:
  LoopBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}
  OpBuilder &b;
  Location loc;

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value plus(Value v, int64_t c) {
    return c == 0 ? v : arith::AddIOp::create(b, loc, v, index(c)).getResult();
  }
  /// from + ((to - from) rounded down to a multiple of `step`).
  Value roundDown(Value from, Value to, int64_t step) {
    Value span = arith::SubIOp::create(b, loc, to, from);
    return arith::SubIOp::create(b, loc, to, arith::RemUIOp::create(b, loc, span, index(step)));
  }
  void loop(Value lower, Value upper, Value step, llvm::function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(b, loc, lower, upper, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forOp.getBody());
    body(forOp.getInductionVar());
  }
};

class KernelBuilder : public LoopBuilder {
public:
  KernelBuilder(OpBuilder &b, Location loc, const DotContraction &dot)
      : LoopBuilder(b, loc), dot(dot),
        vec(VectorType::get({kLanes}, b.getF32Type())) {}

  /// The 2-D kernel: NR-row strips of B outside (kept in L1 while every
  /// MR-row block of A passes), MR-row blocks of A inside; then the rows
  /// of A left over, each against 8-row strips of B.
  void buildMatrix() {
    Value zero = index(0), one = index(1);
    Value M = memref::DimOp::create(b, loc, dot.a, 0);
    Value N = memref::DimOp::create(b, loc, dot.b, 0);
    K = memref::DimOp::create(b, loc, dot.a, 1);
    kVector = roundDown(index(0), K, kLanes);
    Value kTail = arith::SubIOp::create(b, loc, K, kVector);
    tailMask = vector::CreateMaskOp::create(b, loc, VectorType::get({kLanes}, b.getI1Type()),
                                            ValueRange{kTail});
    Value mFull = roundDown(zero, M, kRowsA);
    Value nFull = roundDown(zero, N, kRowsB);
    auto rowsOfA = [&](Value n0, int64_t nr) {
      loop(zero, mFull, index(kRowsA), [&](Value m0) { block(m0, n0, kRowsA, nr); });
    };
    loop(zero, nFull, index(kRowsB), [&](Value n0) { rowsOfA(n0, kRowsB); });
    loop(nFull, N, one, [&](Value n0) { rowsOfA(n0, 1); });
    // The last M % 4 rows of A (all of them for a batch of 1) one at a
    // time against strips of 8 rows of B: 8 independent accumulators keep
    // both FMA units busy, where a 1 x 3 block would wait on the FMA
    // latency, and each row of A is loaded once per 8 rows of B.
    Value nWide = roundDown(zero, N, kRowsBForOneRow);
    loop(mFull, M, one, [&](Value m0) {
      loop(zero, nWide, index(kRowsBForOneRow),
           [&](Value n0) { block(m0, n0, 1, kRowsBForOneRow); });
      loop(nWide, N, one, [&](Value n0) { block(m0, n0, 1, 1); });
    });
  }

private:
  DotContraction dot;
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
    static_assert(kLanes == 8, "the shuffles below pair up 8 lanes");
    // [a01, a23, b01, b23 | a45, a67, b45, b67] for lanes a0..a7, b0..b7.
    auto pairSums = [&](Value a, Value c) {
      Value even =
          vector::ShuffleOp::create(b, loc, a, c, ArrayRef<int64_t>{0, 2, 8, 10, 4, 6, 12, 14});
      Value odd =
          vector::ShuffleOp::create(b, loc, a, c, ArrayRef<int64_t>{1, 3, 9, 11, 5, 7, 13, 15});
      return arith::AddFOp::create(b, loc, even, odd, fast).getResult();
    };
    SmallVector<Value> sums;
    size_t i = 0;
    for (; i + 4 <= vectors.size(); i += 4) {
      // [sum0..3 of v0, v1, v2, v3 | sum4..7 of v0, v1, v2, v3].
      Value quads = pairSums(pairSums(vectors[i], vectors[i + 1]),
                             pairSums(vectors[i + 2], vectors[i + 3]));
      Value low = vector::ShuffleOp::create(b, loc, quads, quads, ArrayRef<int64_t>{0, 1, 2, 3});
      Value high = vector::ShuffleOp::create(b, loc, quads, quads, ArrayRef<int64_t>{4, 5, 6, 7});
      Value four = arith::AddFOp::create(b, loc, low, high, fast);
      for (int64_t lane = 0; lane < 4; ++lane)
        sums.push_back(vector::ExtractOp::create(b, loc, four, lane));
    }
    for (; i < vectors.size(); ++i)
      sums.push_back(
          vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, vectors[i], fast));
    return sums;
  }

  /// C[m0 .. m0+mr, n0 .. n0+nr] += A[m0.., :] B[n0.., :]^T.
  void block(Value m0, Value n0, int64_t mr, int64_t nr) {
    Value zeros = arith::ConstantOp::create(b, loc, vec, DenseElementsAttr::get(vec, 0.0f));
    SmallVector<Value> init(mr * nr, zeros);
    auto vectorLoop = scf::ForOp::create(
        b, loc, index(0), kVector, index(kLanes), init,
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
    // The last K % kLanes steps as one more, masked (lanes past K load 0).
    SmallVector<Value> accs(vectorLoop.getResults());
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

/// C[m, n] += A[m, k] B[k, n] with n contiguous: blocks of 6 rows of A by
/// 16 columns (2 vectors) of B and C. The 12 accumulators are C's block
/// itself, loaded before the k loop and stored after it, no reduction at
/// the end; each step loads 2 vectors of B and broadcasts 6 scalars of A
/// for 12 FMAs, in 15 of AVX2's 16 vector registers. Leftover rows go 4,
/// then 1 at a time; leftover columns 8 at a time, then under a mask.
class OuterKernelBuilder : public LoopBuilder {
public:
  OuterKernelBuilder(OpBuilder &b, Location loc, const DotContraction &dot)
      : LoopBuilder(b, loc), dot(dot), vec(VectorType::get({kLanes}, b.getF32Type())) {}

  void build() {
    Value M = memref::DimOp::create(b, loc, dot.a, 0);
    K = memref::DimOp::create(b, loc, dot.a, 1);
    Value N = memref::DimOp::create(b, loc, dot.b, 1);
    int64_t wide = kOuterVectors * kLanes;
    Value nWide = roundDown(index(0), N, wide);
    Value nVector = roundDown(nWide, N, kLanes);
    auto rows = [&](Value n0, int64_t vectors, Value mask) {
      Value m6 = roundDown(index(0), M, kOuterRows);
      Value m4 = roundDown(m6, M, 4);
      loop(index(0), m6, index(kOuterRows), [&](Value m0) { block(m0, n0, kOuterRows, vectors, mask); });
      loop(m6, m4, index(4), [&](Value m0) { block(m0, n0, 4, vectors, mask); });
      loop(m4, M, index(1), [&](Value m0) { block(m0, n0, 1, vectors, mask); });
    };
    Value left = arith::SubIOp::create(b, loc, N, nVector);
    Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, left, index(0));
    Value mask = vector::CreateMaskOp::create(
        b, loc, VectorType::get({kLanes}, b.getI1Type()), ValueRange{left});
    // The reduction in chunks, so that the panel of B a column block
    // cycles through (kOuterChunk x 16 floats) stays in L1 for every row
    // block of A; C accumulates across chunks.
    loop(index(0), K, index(kOuterChunk), [&](Value k0) {
      kBegin = k0;
      kEnd = arith::MinUIOp::create(b, loc, plus(k0, kOuterChunk), K);
      loop(index(0), nWide, index(wide), [&](Value n0) { rows(n0, kOuterVectors, Value()); });
      loop(nWide, nVector, index(kLanes), [&](Value n0) { rows(n0, 1, Value()); });
      // The last N % 8 columns under a mask.
      auto tail = scf::IfOp::create(b, loc, any, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(tail.thenBlock());
      rows(nVector, 1, mask);
    });
  }

private:
  static constexpr int64_t kOuterRows = 6;
  static constexpr int64_t kOuterVectors = 2;
  static constexpr int64_t kOuterChunk = 128;
  DotContraction dot;
  VectorType vec;
  Value K, kBegin, kEnd;

  Value load(OpBuilder &ob, Value memref, ValueRange at, Value mask) {
    if (!mask)
      return vector::LoadOp::create(ob, loc, vec, memref, at);
    Value zeros = arith::ConstantOp::create(ob, loc, vec, DenseElementsAttr::get(vec, 0.0f));
    return vector::MaskedLoadOp::create(ob, loc, vec, memref, at, mask, zeros);
  }

  /// C[m0 .. m0+mr, n0 .. n0+8*vectors] += A[m0.., :] B[:, n0..].
  void block(Value m0, Value n0, int64_t mr, int64_t vectors, Value mask) {
    SmallVector<Value> init;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < vectors; ++j)
        init.push_back(load(b, dot.c, ValueRange{plus(m0, i), plus(n0, j * kLanes)}, mask));
    auto kLoop = scf::ForOp::create(
        b, loc, kBegin, kEnd, index(1), init,
        [&](OpBuilder &nb, Location l, Value k, ValueRange accs) {
          SmallVector<Value> cols, next(accs.begin(), accs.end());
          for (int64_t j = 0; j < vectors; ++j)
            cols.push_back(load(nb, dot.b, ValueRange{k, plus(n0, j * kLanes)}, mask));
          for (int64_t i = 0; i < mr; ++i) {
            Value x = memref::LoadOp::create(nb, l, dot.a, ValueRange{plus(m0, i), k});
            Value xs = vector::BroadcastOp::create(nb, l, vec, x);
            for (int64_t j = 0; j < vectors; ++j)
              next[i * vectors + j] = vector::FMAOp::create(nb, l, xs, cols[j], accs[i * vectors + j]);
          }
          scf::YieldOp::create(nb, l, next);
        });
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < vectors; ++j) {
        SmallVector<Value> at = {plus(m0, i), plus(n0, j * kLanes)};
        if (mask)
          vector::MaskedStoreOp::create(b, loc, dot.c, at, mask, kLoop.getResult(i * vectors + j));
        else
          vector::StoreOp::create(b, loc, kLoop.getResult(i * vectors + j), dot.c, at);
      }
  }
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
func::FuncOp getOrCreateKernel(ModuleOp module, bool outer) {
  StringRef name = outer ? "modelc_blocked_outer" : "modelc_blocked_dot";
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = b.getUnknownLoc();
  // Rows of A and B contiguous for the dot form; rows of B and C for the
  // outer form.
  MemRefType a = operandType(ctx, !outer), bt = operandType(ctx, true),
             c = operandType(ctx, outer);
  auto fn = func::FuncOp::create(b, loc, name, b.getFunctionType({a, bt, c}, {}));
  fn.setPrivate();
  fn->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noinline")}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  DotContraction dot{entry->getArgument(0), entry->getArgument(1), entry->getArgument(2), false,
                     outer};
  if (outer)
    OuterKernelBuilder(b, loc, dot).build();
  else
    KernelBuilder(b, loc, dot).buildMatrix();
  func::ReturnOp::create(b, loc);
  return fn;
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
  auto call = [&](Value a, Value bm, Value c) {
    FunctionType type = kernel.getFunctionType();
    SmallVector<Value> operands = {a, bm, c}, args;
    for (auto [v, t] : llvm::zip(operands, type.getInputs()))
      args.push_back(memref::CastOp::create(b, loc, t, v));
    func::CallOp::create(b, loc, kernel, args);
  };
  if (!dot.batched)
    return call(dot.a, dot.b, dot.c);
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value images = memref::DimOp::create(b, loc, dot.b, 0);
  auto loop = scf::ForOp::create(b, loc, zero, images, one);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value image = loop.getInductionVar();
  Value patches = dropLeadingDim(b, loc, dot.b, image);
  Value result = dropLeadingDim(b, loc, dot.c, image);
  call(dot.a, patches, result);
}

struct BlockedDotKernelsPass : impl::BlockedDotKernelsBase<BlockedDotKernelsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, DotContraction>> dots;
    getOperation().walk([&](linalg::GenericOp op) {
      if (auto dot = matchDot(op))
        dots.push_back({op, *dot});
    });
    for (auto &[op, dot] : dots) {
      OpBuilder b(op);
      callKernel(b, op.getLoc(), getOrCreateKernel(getOperation(), dot.outer), dot);
      op.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
