//===- Passes.td - modelc passes of the CUDA back end -*- tablegen -*-===//

#ifndef MODELC_LOWERING_GPU_PASSES
#define MODELC_LOWERING_GPU_PASSES

include "mlir/Pass/PassBase.td"

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

def ChunkSerialSums : Pass<"mdl-chunk-serial-sums", "mlir::func::FuncOp"> {
  let summary = "Sum a reduction loop's terms in chunks, each from zero, before adding to the output";
  let description = [{
    On the GPU a reduction runs serially inside its thread: one chain of
    float32 additions, K long (a Linear of 8192 inputs), strays about 3x
    further from the exact sum than the CPU's kernels, which sum chunks of
    64 terms from zero first (CpuTarget::sumChunk). A loop
    `for k { out[i] = out[i] + x(k) }` whose addition may reassociate (a
    reduction's combiner) becomes a loop over chunks of `chunk-steps`
    iterations, each summing its terms into a register from -0.0 and
    adding the partial to `out[i]` once. It also keeps the accumulator in
    a register rather than in memory.
  }];
  let options = [Option<"chunkSteps", "chunk-steps", "int64_t", "64",
                        "Iterations summed from zero before they meet the output">];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect"];
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

#endif // MODELC_LOWERING_GPU_PASSES
