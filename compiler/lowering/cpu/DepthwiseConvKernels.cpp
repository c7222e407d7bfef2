//===- DepthwiseConvKernels.cpp - Depthwise convolutions in vector rows ---===//
//
// Implements -mdl-depthwise-conv-kernels (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "lowering/cpu/CpuTarget.h"
#include "lowering/cpu/KernelFunctions.h"
#include "lowering/cpu/Passes.h"
#include "lowering/shared/LoweringUtils.h"

#include "llvm/ADT/Twine.h"

namespace modelc::lowering {
#define GEN_PASS_DEF_DEPTHWISECONVKERNELS
#include "lowering/cpu/Passes.h.inc"
} // namespace modelc::lowering

using namespace mlir;

namespace modelc::lowering {
namespace {

/// A depthwise convolution the kernel takes: on buffers, images and output
/// rows contiguous, a static filter, a horizontal stride of 1 or 2 (a
/// vector of outputs reads stride * lanes neighbouring inputs).
struct Depthwise {
  DepthwiseForm form;
  int64_t kh, kw;
};

std::optional<Depthwise> matchKernel(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics())
    return std::nullopt;
  std::optional<DepthwiseForm> form = depthwiseKernelForm(op);
  if (!form)
    return std::nullopt;
  auto wType = cast<MemRefType>(op.getDpsInputOperand(1)->get().getType());
  return Depthwise{*form, wType.getDimSize(1), wType.getDimSize(2)};
}

/// out[n, c, oh, ow] += sum over (i, j) of x[n, c, oh*sh + i*dh,
/// ow*sw + j*dw] * w[c, i, j]: each row of outputs a vector at a time, its
/// accumulator in a register across every tap (the taps unrolled), for
/// target.depthwiseChannels channels together; the last partial vector of
/// a row under a mask. The generic loops reloaded and stored the
/// accumulator at each of the 9 taps, and a 14-pixel row was one vector and
/// 6 scalars.
class DepthwiseKernelBuilder : public LoopBuilder {
public:
  DepthwiseKernelBuilder(OpBuilder &b, Location loc, Value x, Value w, Value out,
                         const Depthwise &conv, const CpuTarget &target)
      : LoopBuilder(b, loc), x(x), w(w), out(out), conv(conv), lanes(target.lanes),
        block(target.depthwiseChannels), vec(VectorType::get({target.lanes}, b.getF32Type())) {}

  void build() {
    Value zero = index(0), one = index(1);
    Value images = dim(out, 0), channels = dim(out, 1);
    Value blocksEnd = roundDown(zero, channels, block);
    loop(zero, images, one, [&](Value n) {
      loop(zero, blocksEnd, index(block), [&](Value c) { channelRows(n, c, block); });
      loop(blocksEnd, channels, one, [&](Value c) { channelRows(n, c, 1); });
    });
  }

private:
  Value x, w, out;
  Depthwise conv;
  int64_t lanes, block;
  VectorType vec;

  /// Every row of outputs of channels c .. c + channels - 1: each vector of
  /// a row for all of them at once, so that as many independent chains of
  /// FMAs overlap their latency (one channel's 9 taps are 9 dependent FMAs).
  void channelRows(Value n, Value c, int64_t channels) {
    Value zero = index(0), one = index(1);
    Value rows = dim(out, 2), width = dim(out, 3);
    Value wholeEnd = roundDown(zero, width, lanes);
    Value rest = arith::SubIOp::create(b, loc, width, wholeEnd);
    Value hasRest = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, rest, zero);
    // The block's channels as views of their own, indexed by constants
    // (0 .. channels - 1): each load is the view's base plus a constant
    // offset, not a pointer per channel.
    ChannelBlock views{channelView(x, {n, c}, channels), channelView(w, {c}, channels),
                       channelView(out, {n, c}, channels), channels};
    loop(zero, rows, one, [&](Value oh) {
      loop(zero, wholeEnd, index(lanes), [&](Value ow) { outputs(views, oh, ow, {}); });
      auto last = scf::IfOp::create(b, loc, hasRest);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(last.thenBlock());
      outputs(views, oh, wholeEnd, rest);
    });
  }

  /// A block of channels: x, w and out from its first channel on.
  struct ChannelBlock {
    Value x, w, out;
    int64_t channels;
  };

  /// memref[lead..., c .. c + channels - 1, ...] without the leading
  /// dimensions `lead` indexes (the image n, for x and out).
  Value channelView(Value memref, ArrayRef<Value> lead, int64_t channels) {
    auto type = cast<MemRefType>(memref.getType());
    int64_t rank = type.getRank(), dropped = static_cast<int64_t>(lead.size()) - 1;
    SmallVector<OpFoldResult> offsets(lead.begin(), lead.end()), sizes, strides;
    sizes.append(dropped, b.getIndexAttr(1));
    sizes.push_back(b.getIndexAttr(channels));
    for (int64_t d = lead.size(); d < rank; ++d) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(memref::getMixedSize(b, loc, memref, d));
    }
    strides.assign(rank, b.getIndexAttr(1));
    SmallVector<int64_t> shape = {channels};
    for (int64_t d = lead.size(); d < rank; ++d)
      shape.push_back(type.getDimSize(d));
    auto viewType = memref::SubViewOp::inferRankReducedResultType(shape, type, offsets, sizes,
                                                                  strides);
    return memref::SubViewOp::create(b, loc, cast<MemRefType>(viewType), memref, offsets, sizes,
                                     strides);
  }

  Value mask(int64_t width, Value count) {
    auto type = VectorType::get({width}, b.getI1Type());
    return vector::CreateMaskOp::create(b, loc, type, ValueRange{count});
  }
  Value load(VectorType type, Value memref, ValueRange at, Value m) {
    return vectorLoad(b, type, memref, at, m);
  }

  /// The vectors of outputs (c, oh, ow .. ow + lanes) of each channel c
  /// of the block, or their first `count` lanes when `count` is given.
  void outputs(const ChannelBlock &blk, Value oh, Value ow, Value count) {
    const DepthwiseForm &f = conv.form;
    Value outMask = count ? mask(lanes, count) : Value();
    // Stride 2 reads 2 * lanes inputs and keeps the even ones: the last is
    // past the last input a row needs, so the load stops before it.
    Value wideMask;
    auto wide = VectorType::get({2 * lanes}, b.getF32Type());
    if (f.stride[1] == 2) {
      Value needed = count ? arith::SubIOp::create(b, loc, arith::AddIOp::create(b, loc, count, count),
                                                   index(1))
                                 .getResult()
                           : index(2 * lanes - 1);
      wideMask = mask(2 * lanes, needed);
    }
    SmallVector<int64_t> even;
    for (int64_t l = 0; l < lanes; ++l)
      even.push_back(2 * l);
    SmallVector<Value> accs;
    for (int64_t k = 0; k < blk.channels; ++k)
      accs.push_back(load(vec, blk.out, ValueRange{index(k), oh, ow}, outMask));
    Value row0 = arith::MulIOp::create(b, loc, oh, index(f.stride[0]));
    Value col0 = arith::MulIOp::create(b, loc, ow, index(f.stride[1]));
    for (int64_t i = 0; i < conv.kh; ++i) {
      Value row = plus(row0, i * f.dilation[0]);
      for (int64_t j = 0; j < conv.kw; ++j) {
        Value col = plus(col0, j * f.dilation[1]);
        for (int64_t k = 0; k < blk.channels; ++k) {
          Value from[] = {index(k), row, col};
          Value inputs;
          if (f.stride[1] == 1) {
            inputs = load(vec, blk.x, from, outMask);
          } else {
            Value pairs = load(wide, blk.x, from, wideMask);
            inputs = vector::ShuffleOp::create(b, loc, pairs, pairs, even);
          }
          Value tap = memref::LoadOp::create(b, loc, blk.w, ValueRange{index(k), index(i), index(j)});
          Value taps = vector::BroadcastOp::create(b, loc, vec, tap);
          accs[k] = vector::FMAOp::create(b, loc, inputs, taps, accs[k]);
        }
      }
    }
    for (int64_t k = 0; k < blk.channels; ++k) {
      Value at[] = {index(k), oh, ow};
      if (outMask)
        vector::MaskedStoreOp::create(b, loc, blk.out, at, outMask, accs[k]);
      else
        vector::StoreOp::create(b, loc, accs[k], blk.out, at);
    }
  }
};

/// `@modelc_depthwise_<kh>x<kw>_s<sh>x<sw>_d<dh>x<dw>[_<i>](x, w, out)`:
/// one function per filter shape, stride, dilation and operand types, that
/// every such convolution calls. The types keep the call's static sizes and
/// strides: every load of a block of channels is then one base pointer plus
/// a constant (channel, row and tap offsets), where with strides known only
/// at run time the block's 24 row pointers did not fit in the registers
/// and were reloaded from the stack at every tap (56-pixel rows ran at 4
/// cycles an FMA).
func::FuncOp getOrCreateKernel(ModuleOp module, const Depthwise &conv, TypeRange types,
                               const CpuTarget &target) {
  const DepthwiseForm &f = conv.form;
  std::string base = (llvm::Twine("modelc_depthwise_") + llvm::Twine(conv.kh) + "x" +
                      llvm::Twine(conv.kw) + "_s" + llvm::Twine(f.stride[0]) + "x" +
                      llvm::Twine(f.stride[1]) + "_d" + llvm::Twine(f.dilation[0]) + "x" +
                      llvm::Twine(f.dilation[1]))
                         .str();
  std::string name = base;
  for (int i = 1;; ++i) {
    auto existing = module.lookupSymbol<func::FuncOp>(name);
    if (!existing || TypeRange(existing.getFunctionType().getInputs()) == types)
      break;
    name = base + "_" + std::to_string(i);
  }
  return getOrCreateKernelFunction(
      module, name, types, [&](OpBuilder &b, Location loc, Block &entry) {
        DepthwiseKernelBuilder(b, loc, entry.getArgument(0), entry.getArgument(1),
                               entry.getArgument(2), conv, target)
            .build();
      });
}

struct DepthwiseConvKernelsPass : impl::DepthwiseConvKernelsBase<DepthwiseConvKernelsPass> {
  void runOnOperation() override {
    const CpuTarget target = CpuTarget::of(getOperation());
    SmallVector<std::pair<linalg::GenericOp, Depthwise>> convs;
    getOperation().walk([&](linalg::GenericOp op) {
      if (auto conv = matchKernel(op))
        convs.push_back({op, *conv});
    });
    for (auto &[op, conv] : convs) {
      OpBuilder b(op);
      callKernelFunction(b, op.getLoc(),
                         getOrCreateKernel(getOperation(), conv, op->getOperandTypes(), target),
                         op->getOperands());
      op.erase();
    }
  }
};

} // namespace
} // namespace modelc::lowering
