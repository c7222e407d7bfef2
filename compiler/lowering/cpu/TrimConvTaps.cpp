//===- TrimConvTaps.cpp - Convolutions without the taps that read padding -===//
//
// Implements -mdl-trim-conv-taps (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/DerivedValues.h"
#include "lowering/cpu/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>

namespace modelc::lowering {
#define GEN_PASS_DEF_TRIMCONVTAPS
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// One spatial dimension of a convolution on a padded image: the filter
/// taps [lo, hi] that ever read the image, and the window of the padded
/// image they read, as a slice of the image and the padding around it.
struct TapRange {
  int64_t lo, hi;
  int64_t sliceOffset, sliceSize; // of the image (the pad's source)
  int64_t padLow, padHigh;        // around that slice

  /// `image` pixels padded by `low` before them, a filter of `taps`,
  /// `outputs` pixels `stride` apart.
  static TapRange of(int64_t image, int64_t low, int64_t taps, int64_t outputs, int64_t stride) {
    TapRange r;
    // Tap t reads padded rows t .. (outputs-1)*stride + t; the image is
    // padded rows [low, low + image).
    r.lo = std::max<int64_t>(0, low - (outputs - 1) * stride);
    r.hi = std::min<int64_t>(taps - 1, low + image - 1);
    int64_t window = (outputs - 1) * stride + (r.hi - r.lo) + 1;
    int64_t begin = std::max(r.lo, low), end = std::min(r.lo + window, low + image);
    r.sliceOffset = begin - low;
    r.sliceSize = end - begin;
    r.padLow = std::max<int64_t>(0, low - r.lo);
    r.padHigh = std::max<int64_t>(0, r.lo + window - (low + image));
    return r;
  }

  bool trims(int64_t taps) const { return lo > 0 || hi < taps - 1; }
};

/// A convolution whose filter keeps rows [rows.lo, rows.hi] and columns
/// [cols.lo, cols.hi] of its taps.
struct Trim {
  linalg::Conv2DNchwFchwOp conv;
  tensor::PadOp pad;
  TapRange rows, cols;
  RankedTensorType keptType;
  func::FuncOp fn;
  std::optional<unsigned> parameter; // the filter's argument, if a parameter

  /// Names the kept taps as a derived value's kind: offsets and sizes.
  std::string kind() const {
    return fmt::format("taps_{}_{}_{}x{}", rows.lo, cols.lo, keptType.getDimSize(2),
                       keptType.getDimSize(3));
  }
};

std::optional<Trim> match(linalg::Conv2DNchwFchwOp conv) {
  auto pad = conv.getInputs()[0].getDefiningOp<tensor::PadOp>();
  if (!pad || !llvm::all_of(conv.getDilations(), [](const APInt &d) { return d == 1; }))
    return std::nullopt;
  // Only a zero padding adds nothing through the dropped taps.
  Value padValue = pad.getConstantPaddingValue();
  if (!padValue || !matchPattern(padValue, m_AnyZeroFloat()))
    return std::nullopt;
  auto image = cast<RankedTensorType>(pad.getSource().getType());
  auto filter = cast<RankedTensorType>(conv.getInputs()[1].getType());
  auto output = cast<RankedTensorType>(conv.getOutputs()[0].getType());
  if (image.isDynamicDim(2) || image.isDynamicDim(3) || !filter.hasStaticShape() ||
      output.isDynamicDim(2) || output.isDynamicDim(3) ||
      ShapedType::isDynamicShape(pad.getStaticLow()) ||
      ShapedType::isDynamicShape(pad.getStaticHigh()) || pad.getStaticLow()[0] != 0 ||
      pad.getStaticLow()[1] != 0 || pad.getStaticHigh()[0] != 0 || pad.getStaticHigh()[1] != 0)
    return std::nullopt;
  SmallVector<int64_t> strides(conv.getStrides().getValues<int64_t>());
  Trim t;
  t.conv = conv;
  t.pad = pad;
  t.rows = TapRange::of(image.getDimSize(2), pad.getStaticLow()[2], filter.getDimSize(2),
                        output.getDimSize(2), strides[0]);
  t.cols = TapRange::of(image.getDimSize(3), pad.getStaticLow()[3], filter.getDimSize(3),
                        output.getDimSize(3), strides[1]);
  if (!t.rows.trims(filter.getDimSize(2)) && !t.cols.trims(filter.getDimSize(3)))
    return std::nullopt;
  // A filter of which no tap ever reads the image: left as it is.
  if (t.rows.lo > t.rows.hi || t.cols.lo > t.cols.hi)
    return std::nullopt;
  t.keptType = RankedTensorType::get({filter.getDimSize(0), filter.getDimSize(1),
                                      t.rows.hi - t.rows.lo + 1, t.cols.hi - t.cols.lo + 1},
                                     filter.getElementType());
  t.fn = conv->getParentOfType<func::FuncOp>();
  t.parameter = parameterArgument(t.fn, conv.getInputs()[1]);
  return t;
}

/// A slice of NCHW `v`: all of N and C, the spatial `offsets` and `sizes`.
Value spatialSlice(OpBuilder &b, Location loc, Value v, ArrayRef<int64_t> offsets,
                   ArrayRef<int64_t> sizes) {
  SmallVector<OpFoldResult> mixedSizes = tensor::getMixedSizes(b, loc, v);
  SmallVector<OpFoldResult> mixedOffsets(4, b.getIndexAttr(0)), ones(4, b.getIndexAttr(1));
  for (int d = 0; d < 2; ++d) {
    mixedOffsets[2 + d] = b.getIndexAttr(offsets[d]);
    mixedSizes[2 + d] = b.getIndexAttr(sizes[d]);
  }
  return tensor::ExtractSliceOp::create(b, loc, v, mixedOffsets, mixedSizes, ones);
}

/// The kept taps of `filter` copied into `into`, dense: as a slice their
/// rows lie a whole filter's width apart, which no kernel reads at speed.
Value copyTaps(OpBuilder &b, Location loc, Trim &t, Value filter, Value into) {
  Value kept = spatialSlice(b, loc, filter, {t.rows.lo, t.cols.lo},
                            {t.keptType.getDimSize(2), t.keptType.getDimSize(3)});
  return linalg::CopyOp::create(b, loc, kept, into).getResult(0);
}

/// `modelc_conv_taps_<F>x<C>x<KH>x<KW>_<kind>(filter, into) -> kept`:
/// copyTaps as a function, which `modelc_prepare` calls once per state for
/// a parameter's filter.
func::FuncOp getOrCreateTapsCopy(ModuleOp module, Trim &t) {
  auto filterType = cast<RankedTensorType>(t.conv.getInputs()[1].getType());
  std::string name =
      fmt::format("modelc_conv_taps_{}x{}x{}x{}_{}", filterType.getDimSize(0),
                  filterType.getDimSize(1), filterType.getDimSize(2), filterType.getDimSize(3),
                  t.kind());
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = t.conv.getLoc();
  auto fn = func::FuncOp::create(
      b, loc, name, b.getFunctionType({filterType, t.keptType}, {t.keptType}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  func::ReturnOp::create(b, loc,
                         copyTaps(b, loc, t, entry->getArgument(0), entry->getArgument(1)));
  return fn;
}

/// `t.conv` on the window of the image its kept taps read, with `taps`.
void rewrite(RewriterBase &rewriter, Trim &t, Value taps) {
  Location loc = t.conv.getLoc();
  auto image = cast<RankedTensorType>(t.pad.getSource().getType());
  Value input = t.pad.getSource();
  if (t.rows.sliceOffset != 0 || t.rows.sliceSize != image.getDimSize(2) ||
      t.cols.sliceOffset != 0 || t.cols.sliceSize != image.getDimSize(3))
    input = spatialSlice(rewriter, loc, input, {t.rows.sliceOffset, t.cols.sliceOffset},
                         {t.rows.sliceSize, t.cols.sliceSize});
  if (t.rows.padLow || t.rows.padHigh || t.cols.padLow || t.cols.padHigh) {
    SmallVector<OpFoldResult> low(4, rewriter.getIndexAttr(0)), high(low);
    low[2] = rewriter.getIndexAttr(t.rows.padLow);
    low[3] = rewriter.getIndexAttr(t.cols.padLow);
    high[2] = rewriter.getIndexAttr(t.rows.padHigh);
    high[3] = rewriter.getIndexAttr(t.cols.padHigh);
    input = tensor::PadOp::create(rewriter, loc, Type(), input, low, high,
                                  t.pad.getConstantPaddingValue());
  }
  rewriter.modifyOpInPlace(t.conv, [&] {
    t.conv->setOperand(0, input);
    t.conv->setOperand(1, taps);
  });
  if (t.pad->use_empty())
    rewriter.eraseOp(t.pad);
}

struct TrimConvTapsPass : impl::TrimConvTapsBase<TrimConvTapsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<Trim> trims;
    module.walk([&](linalg::Conv2DNchwFchwOp conv) {
      if (std::optional<Trim> t = match(conv))
        trims.push_back(*t);
    });
    if (trims.empty())
      return;

    // A parameter's kept taps: copied once per state by modelc_prepare, one
    // derived value per parameter and kind of trim, shared by the forward
    // functions. (The copies are functions of the module the walk saw.)
    SmallVector<DerivedValue> derived;
    std::set<std::pair<unsigned, std::string>> seen;
    for (Trim &t : trims) {
      if (!t.parameter || !seen.insert({*t.parameter, t.kind()}).second)
        continue;
      // The kind lives as long as the context.
      StringRef kind = StringAttr::get(ctx, t.kind()).getValue();
      derived.push_back({*t.parameter, t.keptType, kind, getOrCreateTapsCopy(module, t)});
    }
    if (!derived.empty())
      appendDerivedValues(module, derived);

    IRRewriter rewriter(ctx);
    for (Trim &t : trims) {
      Location loc = t.conv.getLoc();
      rewriter.setInsertionPoint(t.conv);
      Value taps;
      if (t.parameter) {
        Value buffer = t.fn.getArgument(*derivedArgument(t.fn, *t.parameter, t.kind()));
        taps = bufferization::ToTensorOp::create(rewriter, loc, t.keptType, buffer,
                                                 /*restrict=*/true, /*writable=*/false);
      } else {
        // A filter computed in the call: its taps copied in the call.
        Value into = tensor::EmptyOp::create(rewriter, loc, t.keptType.getShape(),
                                             t.keptType.getElementType());
        taps = copyTaps(rewriter, loc, t, t.conv.getInputs()[1], into);
      }
      rewrite(rewriter, t, taps);
    }
  }
};

} // namespace
} // namespace modelc::lowering
