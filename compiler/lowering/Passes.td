//===- Passes.td - modelc lowering passes ------------------*- tablegen -*-===//

#ifndef MODELC_LOWERING_PASSES
#define MODELC_LOWERING_PASSES

include "mlir/Pass/PassBase.td"

def LowerModelState : Pass<"mdl-lower-state", "mlir::ModuleOp"> {
  let summary = "Turn each mdl.model into plain functions over state memrefs";
  let description = [{
    Each `func.func @forward_eval` / `@forward_train` of an `mdl.model`
    becomes a top-level `func.func @modelc_forward_eval` / `_train` whose
    leading arguments are one memref per parameter and buffer (in state-dict
    order), followed by the original inputs. This is the calling convention
    of the runtime, which owns all state memory:

    - `mdl.read` of a parameter or buffer becomes a `bufferization.to_tensor`
      of its memref (copied first when the function also writes the buffer,
      so that later uses of the old value cannot see the new one);
    - `mdl.read` of a constant becomes an `arith.constant` whose values are
      drawn at compile time from the constant's initializer;
    - the last `mdl.write` of each buffer becomes a
      `bufferization.materialize_in_destination` into its memref just before
      the return.

    The `mdl.model` is erased. When a reshape of a size known only at run
    time may fail its check, the runtime's `modelc_shape_check_failed` is
    declared.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::bufferization::BufferizationDialect",
                           "mlir::func::FuncDialect", "mlir::memref::MemRefDialect",
                           "mlir::tensor::TensorDialect"];
}

def ConvertMdlToLinalg : Pass<"convert-mdl-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower mdl compute ops to linalg, tensor, arith and math on tensors";
  let description = [{
    Every mdl compute op becomes linalg (named ops for convolution and
    pooling, generics otherwise), tensor, arith and math ops on tensors, with
    PyTorch's numerics. Elementwise chains are left for linalg's elementwise
    fusion; biases start the accumulators of contractions. A reshape of a
    size known only at run time checks its element count there, and an
    elementwise op the sizes of its operands that one loop takes where one
    is known only at run time; a failure calls the runtime's
    `modelc_shape_check_failed`, which -mdl-lower-state declares: run it
    first.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::linalg::LinalgDialect", "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def ExpandStridedCopies : Pass<"mdl-expand-strided-copies", "mlir::func::FuncOp"> {
  let summary = "Turn memref.copy between non-contiguous memrefs into linalg.copy";
  let description = [{
    Bufferization copies into strided views (the interior of a padded
    tensor, say). The LLVM lowering would call the `memrefCopy` function of
    MLIR's C runner utilities for those, which a self-contained model.so does
    not have; as linalg.copy they become loops like everything else.

    With `all-copies`, every copy is expanded: on the GPU the host cannot
    memcpy device memory, so copies become loops, and kernels, too.
  }];
  let options = [Option<"allCopies", "all-copies", "bool", "false",
                        "Expand contiguous copies as well">];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def FuseElementwise : Pass<"mdl-fuse-elementwise", "mlir::func::FuncOp"> {
  let summary = "Fuse elementwise chains into their consumers, never into reductions";
  let description = [{
    linalg's elementwise fusion, restricted to what pays off here: a
    producer used once is fused into an all-parallel consumer. Fusing an
    activation into the matmul that consumes it would recompute it once per
    reduction step; it stays behind as the epilogue of its own producer,
    which -mdl-tile-and-fuse then fuses by tiles.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
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

def ParallelLoopsOutermost : Pass<"mdl-parallel-loops-outermost", "mlir::func::FuncOp"> {
  let summary = "Order every linalg op's loops as parallel first, reductions last";
  let description = [{
    On the GPU each element of a parallel loop nest becomes a thread. A
    reduction that comes first in the iteration order (BatchNorm's
    statistics reduce over N before C) would lower to a host loop around
    many tiny kernels; moved innermost, it is a serial loop inside each
    thread. Named ops are generalized first.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def MapToGpu : Pass<"mdl-map-to-gpu", "mlir::func::FuncOp"> {
  let summary = "Run a bufferized function's loops as GPU kernels on device memory";
  let description = [{
    For a function whose memref arguments live in device memory:

    - each `memref.alloc` / `memref.dealloc` becomes `gpu.alloc` /
      `gpu.dealloc`;
    - each `memref.get_global` (a constant in host memory) is copied into a
      device buffer with `gpu.memcpy`;
    - each top-level `scf.parallel` becomes a `gpu.launch` of one thread per
      iteration (linearized, 256 threads a block, guarded against the
      rounded-up grid); parallel loops nested in it run serially per thread;
    - every other run of operations that reads or writes memory (a scalar
      update such as `num_batches_tracked += 1`) becomes a one-thread
      `gpu.launch`.

    What remains on the host is allocation, shape arithmetic and views, and
    the calls of a reshape's element-count check into the runtime (with the
    ifs around them, inside which the rest is mapped).
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::gpu::GPUDialect",
                           "mlir::scf::SCFDialect"];
}

def GpuLaunchToLoops : Pass<"mdl-gpu-launch-to-loops", "mlir::func::FuncOp"> {
  let summary = "Run gpu.launch bodies as host loops (a test of the GPU mapping)";
  let description = [{
    The inverse of the GPU runtime: every `gpu.launch` becomes loops over
    its blocks and threads on the host, `gpu.alloc`/`gpu.dealloc`/
    `gpu.memcpy` become their memref counterparts. With it, the code that
    -mdl-map-to-gpu produced runs through the CPU back end, so the
    end-to-end tests check the mapping on machines without a GPU
    (`modelc --target=cuda --cuda-emulate`).
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect", "mlir::scf::SCFDialect"];
}

def MergeGpuModules : Pass<"mdl-merge-gpu-modules", "mlir::ModuleOp"> {
  let summary = "Put every outlined kernel into one gpu.module";
  let description = [{
    Kernel outlining makes one gpu.module per kernel. One module means one
    PTX file, one ptxas run per architecture and one fatbinary in the
    library, instead of as many as there are kernels.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect"];
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

def SplitOuterReductions : Pass<"mdl-split-outer-reductions", "mlir::func::FuncOp"> {
  let summary = "Reduce over several loops in two stages: partials per outer index, then their sum";
  let description = [{
    On the GPU each output element of a reduction is one thread, reducing
    serially: BatchNorm's statistics over (N, H, W) would be one thread per
    channel. A sum, max or min over two or more loops becomes two ops: the
    first reduction loop (N) turns parallel and each of its iterations
    reduces the others into its own partial (N x C threads), then a second
    op combines the partials into the original accumulator.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

#endif // MODELC_LOWERING_PASSES
