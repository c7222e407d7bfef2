//===- Passes.td - modelc passes every target runs: state, mdl to linalg, fusion -*- tablegen -*-===//

#ifndef MODELC_LOWERING_SHARED_PASSES
#define MODELC_LOWERING_SHARED_PASSES

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

def DifferentiateLoss : Pass<"mdl-differentiate", "mlir::ModuleOp"> {
  let summary = "Build each loss's joint forward-backward function in the mdl dialect";
  let description = [{
    For each `func.func @loss_eval` / `@loss_train` of an `mdl.model` (the
    model's `loss` method, traced per mode) this adds
    `@loss_backward_eval` / `_train`: the loss's ops, then their
    vector-Jacobian products in reverse order, returning the loss and
    d loss / d p for every parameter p in declaration order (frozen ones
    included: the runtime decides what trains). Only values that depend on a
    parameter are differentiated; buffers' updates (`mdl.write`) are not
    differentiated through. An op that a parameter's gradient must pass and
    that has no rule is an error at its location. The `@loss_*` functions
    themselves are erased: the joint function is the library's entry.
    With `mdl.forward_backward` on the module (`modelc --forward-backward`),
    a model with a loss also gets `@forward_backward_<mode>`: its forward
    with one more argument per output (the output's cotangent), returning
    the outputs and then every parameter's gradient (`y.backward(g)`).
    Runs before -mdl-lower-state, so the result is lowered as any forward.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect"];
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
    which -mdl-tile-and-fuse then fuses by tiles. Nor is a producer that
    the consumer broadcasts (fewer dimensions than the consumer's loops:
    BatchNorm's per-channel scale): fused, it would be computed again for
    every element it is broadcast to.

    A splat constant read by an elementwise op becomes a scalar in its body;
    a large one left after fusion (more than 4096 elements: a constant
    `ones()` read by a matmul or a cat) becomes a `linalg.fill` of a
    `tensor.empty`, so that it is never a global of copies of one value.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def AttentionToLinalg : Pass<"mdl-attention-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower mdl.attention to linalg: whole, or as flash attention by blocks";
  let description = [{
    -convert-mdl-to-linalg leaves `mdl.attention` (softmax(q kᵀ · scale) v,
    causal or not) to this pass, which each back end runs where it wants it.

    With `block-rows=0` (the GPU): batched generics over whole sequences,
    the [L, S] scores materialized, a standard softmax.

    With `block-rows=B` (the CPU, after tiling): flash attention. An
    `scf.forall` over the batch and blocks of queries, and in each an
    `scf.for` over blocks of keys that keeps a running row max, row sum and
    accumulator (the online softmax), so that a thread holds one [B, B]
    tile of scores at a time and memory grows with L, not L · S. Blocks
    are B long (the whole length when shorter); a last, shorter block has
    its size computed at run time. A causal block of queries stops at its
    last query's key. Both products are the
    blocked kernels' outer-product form (q kᵀ with the block of keys
    transposed first). Leading dimensions known only at run time are
    checked one by one against the query's.
  }];
  let options = [Option<"blockRows", "block-rows", "int64_t", "0",
                        "Queries and keys per block (0: whole sequences)">];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::math::MathDialect", "mlir::scf::SCFDialect",
                           "mlir::tensor::TensorDialect"];
}

def CanonicalGlobalOrder : Pass<"mdl-canonical-global-order", "mlir::ModuleOp"> {
  let summary = "Name and order a module's memref.globals by their contents";
  let description = [{
    One-shot bufferization makes a `memref.global` for each constant tensor,
    named after its type (`__constant_4xf32`, then `__constant_4xf32_0`, ...)
    in the order it visits the functions, which changes from run to run: the
    same model compiled twice gave libraries with the constants at other
    addresses, and the same name for other data (a GPT's position table and
    causal mask swapped places). This pass gives each group of globals named
    after one type its names in the order of their contents (their bytes),
    and puts every global at the module's start in the order of its
    name, so that a model's library is the same bytes on every compile.
    Runs after bufferization.
  }];
}

def FlattenConstantGlobals : Pass<"mdl-flatten-constant-globals", "mlir::ModuleOp"> {
  let summary = "Give every llvm.mlir.global with dense data one flat array type";
  let description = [{
    The memref lowering gives the global of a constant `memref<AxBxf32>` the
    type `!llvm.array<A x array<B x f32>>`, which LLVM IR holds as one
    constant per row of B values: a constant `f32[4194304, 1]` was 4 million
    LLVM constants, 34 s and 2 GB to compile (issue 17). As one
    `!llvm.array<A*B x f32>` the data is one LLVM constant, whatever its
    shape. The bytes and their address are the same, and every use reaches
    them through a pointer, so nothing else changes. Runs on the LLVM
    dialect, after the memref lowering.
  }];
}

#endif // MODELC_LOWERING_SHARED_PASSES
