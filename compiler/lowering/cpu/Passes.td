//===- Passes.td - modelc passes of the CPU back end -*- tablegen -*-===//

#ifndef MODELC_LOWERING_CPU_PASSES
#define MODELC_LOWERING_CPU_PASSES

include "mlir/Pass/PassBase.td"

def TrimConvTaps : Pass<"mdl-trim-conv-taps", "mlir::ModuleOp"> {
  let summary = "Drop the filter taps of a convolution that only ever read padding";
  let description = [{
    A `linalg.conv_2d_nchw_fchw` with dilation 1 whose input is a
    `tensor.pad` by zero, with static spatial sizes: a filter row (or
    column) r is read against the image only if some output row o has
    low <= o * stride + r < low + H; on a small image the others meet
    padding at every output. ResNet-18 on CIFAR's 32x32 images ends on 1x1
    images, where a 3x3 convolution padded by 1 reads the image only with
    its centre tap: 8 of its 9 multiplications were of zeros (and 5 of 9
    for the 3x3 stride-2 convolution before them). Such a convolution
    becomes one over the filter's used rows and columns (a slice) and the
    input window they read: a slice of the pad's source, padded only where
    the window still reaches padding, and the kept taps copied into a
    filter of their own (dense, for the kernels: as a slice, the 1x1
    products read a row every 9 floats and ran as scalar loops, slower than
    the 3x3 convolutions). For a parameter's filter that copy is a derived
    value (`taps_<row>_<col>_<rows>x<cols>(<parameter>)`), made once per
    state by `modelc_prepare` through `modelc_conv_taps_<filter>_<kind>`;
    a filter computed in the call is copied in the call (at 512x512, 1 ms
    a copy). The result is the same (the dropped taps added 0 * w). Before -mdl-winograd-conv and -mdl-conv-to-gemm,
    which then see the smaller convolution (a 1x1 one: a product).
  }];
  let dependentDialects = ["mlir::bufferization::BufferizationDialect",
                           "mlir::func::FuncDialect", "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def WinogradConv : Pass<"mdl-winograd-conv", "mlir::ModuleOp"> {
  let summary = "Compute 3x3 stride-1 convolutions as Winograd F(2x2, 3x3)";
  let description = [{
    A `linalg.conv_2d_nchw_fchw` on f32 with a static 3x3 filter, stride
    and dilation 1, and even output sizes of at least 14x14 pixels (or
    any sizes of 16 to 63 pixels, convolved for the whole batch at once:
    [CO, CI] x [CI, N*tiles], odd sizes computed one row and column larger
    and cropped) becomes
    Winograd's F(2x2, 3x3): the filter transformed into 16 [CO, CI]
    matrices (G g G^T; for a parameter's filter in a forward function, once
    per state by a new `modelc_prepare(states..., derived...)` into a
    derived value that the forward functions take after their inputs, see
    docs/ABI.md; otherwise on every call), then image by image the 4x4 input
    tiles under each 2x2 block of output pixels transformed into 16
    [CI, tiles] matrices (B^T d B), 16 contractions of the form
    -mdl-conv-to-gemm makes ([CO, CI] x [CI, P] -> [CO, P], for the
    outer-product kernel), and the output transform A^T m A added to the
    convolution's output (or written over it when that starts as zeros:
    no bias). 2.25x fewer multiplications than im2col; the
    rest stay for -mdl-conv-to-gemm. The ops carry `mdl.tile_sizes` for
    -mdl-tile-and-fuse: 16 output channels per tile of the contractions
    and the output transform (the contractions fuse into it), one channel
    per tile of the input transform. Each shape of convolution is computed
    by one private function, `modelc_winograd_<N>x<CI>x<OH>x<OW>_<CO>`
    (`_acc` when it adds to the output), that every convolution of that
    shape calls; each filter shape's transform by
    `modelc_winograd_filter_<CO>x<CI>`. Forward functions are those that
    -mdl-lower-state marked with `mdl.parameter_args`.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect", "mlir::func::FuncDialect",
                           "mlir::linalg::LinalgDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def PackWeights : Pass<"mdl-pack-weights", "mlir::ModuleOp"> {
  let summary = "Pack Linear weights into panels of 16 columns, once per state";
  let description = [{
    For each parameter W ([N, K], N >= 8, static) that a forward function
    reads as B of a contraction C[m, n] += A[m, k] * B[n, k] (Linear's
    x W^T; not with a static batch under 4, which the packed kernel does
    not take), the forward functions take a derived value P of shape
    [ceil(N / 16), K, 16], P[p, k, j] = W[16 p + j, k] and zero past row N,
    which `modelc_prepare` computes once per state with
    `modelc_pack_weight_<N>x<K>` (docs/ABI.md; the description names it
    `packed(<parameter>)`). The contraction itself is left as it is, reading
    W: -mdl-blocked-dot-kernels finds W's packed copy by its argument and
    computes the contraction from it when the tile allows, from W otherwise.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::bufferization::BufferizationDialect", "mlir::func::FuncDialect",
                           "mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def ConvToGemm : Pass<"mdl-conv-to-gemm", "mlir::func::FuncOp"> {
  let summary = "Compute 2-D convolutions as patches (im2col) times weights";
  let description = [{
    A `linalg.conv_2d_nchw_fchw` on f32 becomes a copy of its input
    patches and a contraction of them with the weight's rows, which
    -mdl-blocked-dot-kernels computes in register blocks: [CO, K] x
    [N, K, P] -> [N, CO, P] (a row of P pixels per reduction step, for the
    outer-product kernel) for images of 64 output pixels or more,
    [CO, K] x [N, P, K] (a row of K values per pixel, for the dot kernel)
    below that. The copy costs one pass over K times the output; the direct
    convolution's inner loops run over 3 or 7 taps and cannot keep a
    register block busy. Images go one at a time (their patches stay in
    L3), except images of 16 output pixels or fewer: those are convolved
    as one batch, [N*P, K] patches times the [CO, K] weight rows into
    [N*P, CO], added to the output transposed, so that the weights are
    read once rather than once per image. The ops carry `mdl.tile_sizes`
    for -mdl-tile-and-fuse: a row of output pixels per tile of patches,
    16 output channels per tile of the contraction (by 64 patch rows in
    the batched form).
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def SplitBatchedMatmul : Pass<"mdl-split-batched-matmul", "mlir::func::FuncOp"> {
  let summary = "Compute a batched matmul as one matrix product per batch element";
  let description = [{
    A `linalg.generic` contraction on f32 tensors with leading batch loops,
    C[b..., m, n] += A[b..., m, k] * B[b..., k, n] (or B[b..., n, k]), each
    batch index of A and B a loop or 0 (broadcast), as torch.matmul of two
    batched operands (attention's q kᵀ and its weights times v) lowers,
    becomes an `scf.forall` over the batch whose body is the 2-D
    contraction of one batch element's slices: a form that
    -mdl-tile-and-fuse tiles by rows and -mdl-blocked-dot-kernels computes
    with its register-blocked kernels, and the batch elements run on the
    thread pool.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def ApproximateMath : Pass<"mdl-approximate-math", "mlir::func::FuncOp"> {
  let summary = "Compute tanh, erf and exp by polynomials that vectorize";
  let description = [{
    `math.tanh`, `math.erf` and `math.exp` on f32 become MLIR's polynomial
    approximations (populateMathPolynomialApproximationPatterns):
    arithmetic that LLVM vectorizes, where libm's tanhf, erff and expf are
    scalar calls. GELU's tanh alone took a third of a GPT's time, softmax's
    exp a tenth of attention's. The approximations are within a few ulp in
    f32 (exp(-inf) is 0); every PyTorch parity test holds at its tolerance.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::vector::VectorDialect"];
}

def PadsInPlace : Pass<"mdl-pads-in-place", "mlir::func::FuncOp"> {
  let summary = "Pad by filling the border of the padded tensor and writing the interior in place";
  let description = [{
    A `tensor.pad` by a constant with static padding and static sizes (but
    for an unpadded leading one) becomes a `tensor.empty` of the padded
    shape, fills of the border slabs only, and a `tensor.insert_slice` of
    the source into the interior. Where the source's producer (the tile
    loops of a BatchNorm + ReLU6 before a depthwise convolution, any
    destination-style op) writes into a `tensor.empty`, the border is built
    before it and its destination becomes the interior's slice, so that
    bufferization writes it straight into the padded buffer and the insert
    copies nothing. Bufferized as it was, a pad filled the whole padded
    buffer and copied the source into it: two serial passes over memory
    per padded activation.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def TileAndFuse : Pass<"mdl-tile-and-fuse", "mlir::func::FuncOp"> {
  let summary = "Tile each fusion group's last op and fuse its producers into the tile loops";
  let description = [{
    The last op of each chain (an activation after a matmul, BatchNorm and
    ReLU after a convolution, the division of a softmax) is tiled along its
    parallel dimensions, and every producer used only by it (the
    contraction, its bias accumulator, the padding) is computed tile by tile
    inside the same loop nest, so no intermediate tensor is materialized
    whole. Tiles are one element of the first and the second-to-last
    parallel dimensions (a batch element and an output row); matrices take
    blocks of 16 rows, or of 64 columns when their weight passes 1 MiB; an
    op carrying `mdl.tile_sizes` (-mdl-conv-to-gemm's) takes those sizes.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def VectorizableLoopOrder : Pass<"mdl-vectorizable-loop-order", "mlir::func::FuncOp"> {
  let summary = "Put the output's contiguous dimension innermost where inputs allow it";
  let description = [{
    A convolution or pooling lowers to loops with the window (kh, kw)
    innermost: three or nine iterations of a reduction, which no vectorizer
    can use. Moving the output's last dimension (ow) innermost instead makes
    the inner loop a contiguous, reduction-free multiply-add over a row,
    which LLVM vectorizes to the host's vector width. The move is made when
    that loop indexes, in every input that uses it, only the last (fastest)
    dimension: x @ W qualifies, x @ W^T (Linear, with k innermost in both
    operands) does not. Named ops are generalized first.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def OutlineLongBodies : Pass<"mdl-outline-long-bodies", "mlir::ModuleOp"> {
  let summary = "Cut long sequences of loops into private functions, so that compile time grows linearly with depth";
  let description = [{
    Runs on tensors, before bufferization. A block of a forward function
    (a tile loop's body, the function's own) whose ops hold more than
    `max-ops` loop nests (linalg ops and loops) is cut into parts of
    about `max-ops` each, and each part becomes a private function
    `<forward>_part<i>`, `noinline`, called where the part was. One-shot
    bufferization's analysis and LLVM's loop passes cost the square of a
    function's length; parts of a bounded length make both linear in depth
    (a Sequential of 200 Linear + ReLU layers: 45 s before).

    A part takes the values it reads as arguments, except constants and
    `tensor.empty`s, which it recomputes, and tensors read from a forward
    function's buffer argument (`bufferization.to_tensor`), for which it
    takes the buffer itself and the values derived from it (a packed
    weight), marked with `mdl.outlined_from` and `mdl.outlined_args` so
    that `derivedArgument` finds them. A part ends only where every tensor
    used after it is new in the part or the same buffer as one of its
    arguments (one-shot bufferization writes that one in place): never a
    view of another buffer, which a function cannot return without a copy.
    Stack allocations end a part and stay in the caller.
  }];
  let options = [
    Option<"maxOps", "max-ops", "int64_t", /*default=*/"32",
           "Loop nests per part: a block with more is cut">,
  ];
  let dependentDialects = ["mlir::func::FuncDialect"];
}

def BlockedDotKernels : Pass<"mdl-blocked-dot-kernels", "mlir::ModuleOp"> {
  let summary = "Compute Linear's and convolutions' contractions in register blocks";
  let description = [{
    A contraction C[m, n] += A[m, k] * B[n, k] on buffers, with k
    contiguous in both (Linear's x W^T), becomes explicit vector code: a
    block of 4 rows of A by 3 rows of B keeps 12 vector accumulators along
    k in registers, each loaded row serving 3 or 4 of them, reduced once at
    the end. LLVM's vectorizer, given the scalar loops, reduces one output
    at a time with two loads per multiply-add. Edges are done in smaller
    blocks, the last k % 8 steps as one masked step.

    C[m, n] += A[m, k] * B[k, n] with n contiguous in B and C (a
    convolution's [N, K, P] patches) takes the outer-product form: 6 rows
    of A by 16 columns, C's block itself as the accumulators, a broadcast
    element of A times a vector of B, the reduction in chunks of 128.

    A contraction of the first form whose B is a window of a parameter that
    -mdl-pack-weights packed (found by the forward function's argument and
    the module's `mdl.derived`) takes the packed kernel when A has 4 rows or
    more and the window starts on a panel: the outer-product blocks again,
    B's 16 columns of each step one contiguous cache line of the panel, the
    reduction unchunked; C's columns past N under masks. Otherwise (a batch
    of 1 to 3, a last tile of rows under 4, a window off the panels, a C
    whose rows are not contiguous) the dot kernel reads W. The two sum in
    different orders: a row's result may differ in the last bits between a
    tile that takes one and a tile that takes the other.

    Each form is one function of the module (`@modelc_blocked_dot`,
    `@modelc_blocked_outer`, `@modelc_blocked_packed`) that every such
    contraction calls, once per image when batched, so that it is compiled
    once.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
}

def DepthwiseConvKernels : Pass<"mdl-depthwise-conv-kernels", "mlir::ModuleOp"> {
  let summary = "Compute depthwise convolutions a vector of output pixels at a time";
  let description = [{
    A depthwise convolution on f32 buffers (matchDepthwiseForm: Conv2d
    with groups == channels, out[n, c, oh, ow] += x[n, c, oh*sh + kh*dh,
    ow*sw + kw*dw] * w[c, kh, kw]), with contiguous rows, a static filter and
    a horizontal stride of 1 or 2, becomes a call of
    `@modelc_depthwise_<KH>x<KW>_s<SH>x<SW>_d<DH>x<DW>[_<i>](x, w, out)`,
    one function per form and operand types (their static sizes and
    strides) that every such convolution (a tile of one, as
    -mdl-tile-and-fuse cut it) calls: each row of outputs a vector at a
    time for a block of CpuTarget::depthwiseChannels channels (as many
    independent chains of FMAs), the vectors' accumulators kept in
    registers across the unrolled taps, each tap one load of neighbouring
    inputs (stride 2: twice as many, the even ones kept) and one FMA with
    the channel's broadcast weight; a row's last partial vector under
    masks. Each channel's taps are summed in the generic op's order. As
    generic loops (-mdl-vectorizable-loop-order cannot help a 14-pixel
    row) MobileNetV2's 14x14 depthwise layers ran at 3 GFLOP/s.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
}

def ParallelIfManyIterations : Pass<"mdl-parallel-if-many-iterations", "mlir::func::FuncOp"> {
  let summary = "Fork a parallel loop onto the thread pool only when it has several iterations";
  let description = [{
    A batch of one has one tile: waking the thread pool for it costs more
    than the tile itself (tens of microseconds against a few). Each
    `omp.parallel` around a loop nest whose bounds are known before it
    gets `if(trip count > 1)`: with one iteration the runtime calls the
    region's outlined function on the calling thread
    (`__kmpc_fork_call_if`). The loop body exists once, in the outlined
    function; a serial copy beside it doubled the code LLVM compiles.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::omp::OpenMPDialect"];
}

#endif // MODELC_LOWERING_CPU_PASSES
