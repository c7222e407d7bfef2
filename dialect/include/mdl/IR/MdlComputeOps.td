//===- MdlComputeOps.td - tensor compute ops ----------------*- tablegen -*-===//
//
// The compute ops of the mdl dialect. They follow PyTorch semantics; result
// types are explicit and every verifier checks the result shape against the
// shape the operands imply (see ShapeInference.h), `?` matching anything.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_MDLCOMPUTEOPS_TD
#define MDL_IR_MDLCOMPUTEOPS_TD

include "mdl/IR/MdlBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Elementwise binary ops with PyTorch broadcasting
//===----------------------------------------------------------------------===//

class Mdl_BroadcastBinaryOp<string mnemonic, string what>
    : Mdl_Op<mnemonic, [Pure]> {
  let summary = "Elementwise " # what # " with broadcasting";
  let description = [{
    Applies the operation elementwise after broadcasting both operands to a
    common shape with PyTorch's rules (dimensions aligned from the right; a
    dimension of size 1 stretches). Both operands and the result have the
    same element type. A scalar is a rank-0 tensor.

    Example:

    ```mlir
    %c = arith.constant dense<0.9> : tensor<f32>
    %0 = mdl.}] # mnemonic # [{ %x, %c : (tensor<?x5xf32>, tensor<f32>) -> tensor<?x5xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$lhs, Mdl_Tensor:$rhs);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_AddOp : Mdl_BroadcastBinaryOp<"add", "addition">;
def Mdl_SubOp : Mdl_BroadcastBinaryOp<"sub", "subtraction">;
def Mdl_MulOp : Mdl_BroadcastBinaryOp<"mul", "multiplication">;
def Mdl_DivOp : Mdl_BroadcastBinaryOp<"div", "true division">;
def Mdl_PowOp : Mdl_BroadcastBinaryOp<"pow", "power">;
def Mdl_MaximumOp : Mdl_BroadcastBinaryOp<"maximum", "maximum">;
def Mdl_MinimumOp : Mdl_BroadcastBinaryOp<"minimum", "minimum">;

def Mdl_CompareOp : Mdl_Op<"compare", [Pure]> {
  let summary = "Elementwise comparison with broadcasting, giving bools";
  let description = [{
    `predicate` is one of "eq", "ne", "lt", "le", "gt", "ge". The operands
    share an element type and broadcast as the binary ops do; the result is
    i1 (PyTorch's bool). A comparison with NaN is false, except "ne", as in
    PyTorch.

    Example:

    ```mlir
    %0 = mdl.compare %x, %y predicate "lt" : (tensor<4xf32>, tensor<f32>) -> tensor<4xi1>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$lhs, Mdl_Tensor:$rhs, StrAttr:$predicate);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs `predicate` $predicate attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_WhereOp : Mdl_Op<"where", [Pure]> {
  let summary = "Elementwise choice: torch.where(condition, input, other)";
  let description = [{
    `input` where `condition` (i1) is true and `other` where it is false, all
    three broadcast to one shape as the binary ops do. `input` and `other`
    share the result's element type. Differentiated as PyTorch: the gradient
    reaches `input` where the condition holds and `other` elsewhere.

    Example:

    ```mlir
    %0 = mdl.where %c, %x, %y : (tensor<4x4xi1>, tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$condition, Mdl_Tensor:$input, Mdl_Tensor:$other);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $condition `,` $input `,` $other attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary ops
//===----------------------------------------------------------------------===//

class Mdl_UnaryOp<string mnemonic, string what, Type tensor = Mdl_Tensor,
                  list<Trait> traits = [Pure]>
    : Mdl_Op<mnemonic, !listconcat(traits, [SameOperandsAndResultType])> {
  let summary = "Elementwise " # what;
  let description = [{
    Applies the function to every element; the result has the operand's
    type.

    Example:

    ```mlir
    %0 = mdl.}] # mnemonic # [{ %x : tensor<?x200xf32>
    ```
  }];
  let arguments = (ins tensor:$input);
  let results = (outs tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Mdl_ReluOp : Mdl_UnaryOp<"relu", "rectified linear unit, max(x, 0)"> {
  let hasFolder = 1;
}
def Mdl_SigmoidOp : Mdl_UnaryOp<"sigmoid", "logistic sigmoid", Mdl_FloatTensor>;
def Mdl_TanhOp : Mdl_UnaryOp<"tanh", "hyperbolic tangent", Mdl_FloatTensor>;
def Mdl_SiluOp : Mdl_UnaryOp<"silu", "SiLU, x * sigmoid(x)", Mdl_FloatTensor>;
def Mdl_ExpOp : Mdl_UnaryOp<"exp", "exponential", Mdl_FloatTensor>;
def Mdl_LogOp : Mdl_UnaryOp<"log", "natural logarithm", Mdl_FloatTensor>;
def Mdl_SqrtOp : Mdl_UnaryOp<"sqrt", "square root", Mdl_FloatTensor>;
def Mdl_RsqrtOp : Mdl_UnaryOp<"rsqrt", "reciprocal square root", Mdl_FloatTensor>;
def Mdl_AbsOp : Mdl_UnaryOp<"abs", "absolute value">;
def Mdl_NegOp : Mdl_UnaryOp<"neg", "negation">;

def Mdl_GeluOp : Mdl_UnaryOp<"gelu", "GELU", Mdl_FloatTensor> {
  let description = [{
    GELU as `torch.nn.functional.gelu`: `approximate` is `"none"` (the exact
    erf form) or `"tanh"`.

    Example:

    ```mlir
    %0 = mdl.gelu %x approximate "tanh" : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, StrAttr:$approximate);
  let assemblyFormat = [{
    $input `approximate` $approximate attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

def Mdl_LeakyReluOp : Mdl_UnaryOp<"leaky_relu", "leaky ReLU", Mdl_FloatTensor> {
  let description = [{
    `x` where `x >= 0`, else `negative_slope * x`.

    Example:

    ```mlir
    %0 = mdl.leaky_relu %x negative_slope 0.01 : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, F64Attr:$negative_slope);
  let assemblyFormat = [{
    $input `negative_slope` $negative_slope attr-dict `:` type($result)
  }];
}

def Mdl_ClampOp : Mdl_UnaryOp<"clamp", "clamp to [min, max]"> {
  let description = [{
    `torch.clamp`: either bound may be absent, not both.

    Example:

    ```mlir
    %0 = mdl.clamp %x min 0.0 max 6.0 : tensor<?x64xf32>
    %1 = mdl.clamp %x max 1.0 : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, OptionalAttr<F64Attr>:$min,
                       OptionalAttr<F64Attr>:$max);
  let assemblyFormat = [{
    $input (`min` $min^)? (`max` $max^)? attr-dict `:` type($result)
  }];
  let hasVerifier = 1;
}

// Dropout draws random numbers: it has effects (none declared means unknown),
// so it is never hoisted, merged or erased.
def Mdl_DropoutOp : Mdl_UnaryOp<"dropout", "dropout (training mode)",
                                Mdl_FloatTensor, []> {
  let description = [{
    Zeroes each element with probability `p` and scales the others by
    `1 / (1 - p)`. Only `forward_train` contains it: evaluation drops it.
    It is not pure, since every execution draws new random numbers.

    Example:

    ```mlir
    %0 = mdl.dropout %x p 0.5 : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, F64Attr:$p);
  let assemblyFormat = "$input `p` $p attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mdl_FullLikeOp : Mdl_UnaryOp<"full_like", "fill with a constant"> {
  let description = [{
    A tensor of the operand's type filled with `value` (`zeros_like`,
    `ones_like`, `full_like`). Only the operand's shape is used.

    Example:

    ```mlir
    %0 = mdl.full_like %x value 0.0 : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, F64Attr:$value);
  let assemblyFormat = "$input `value` $value attr-dict `:` type($result)";
}

def Mdl_CastOp : Mdl_Op<"cast", [Pure, SameOperandsAndResultShape]> {
  let summary = "Converts the element type";
  let description = [{
    Converts every element to the result's element type (`x.float()`,
    `x.to(i64)`), with PyTorch's conversion rules. The shape is unchanged.

    Example:

    ```mlir
    %0 = mdl.cast %i : tensor<?xi64> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Mdl_MatmulOp : Mdl_Op<"matmul", [Pure]> {
  let summary = "Matrix product with torch.matmul semantics";
  let description = [{
    1-D operands are promoted (a vector on the left gets a leading 1, on the
    right a trailing 1, removed again from the result); batch dimensions
    broadcast.

    Example:

    ```mlir
    %0 = mdl.matmul %a, %b : (tensor<8x?x16xf32>, tensor<16x4xf32>) -> tensor<8x?x4xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$lhs, Mdl_Tensor:$rhs);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_AttentionOp : Mdl_Op<"attention", [Pure]> {
  let summary = "Fused attention, softmax(q kᵀ · scale) v (F.scaled_dot_product_attention)";
  let description = [{
    `query` is `[..., L, E]`, `key` `[..., S, E]`, `value` `[..., S, Ev]`,
    with the same leading (batch) dimensions; the result is `[..., L, Ev]`.
    With `is_causal`, query i attends to keys j <= i only (PyTorch's
    top-left aligned `tril`). One op rather than its matmuls and softmax,
    so that a back end can compute it by blocks of keys with an online
    softmax (flash attention) and never hold the [L, S] scores. The
    frontend emits it in evaluation mode; -mdl-differentiate has its rule
    (a loss trained in evaluation mode). The lengths and widths are
    static; leading dimensions known only at run time are checked where it
    is lowered.

    Example:

    ```mlir
    %0 = mdl.attention %q, %k, %v {scale = 0.125 : f64, is_causal}
        : (tensor<?x8x1024x64xf32>, tensor<?x8x1024x64xf32>, tensor<?x8x1024x64xf32>)
        -> tensor<?x8x1024x64xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$query, Mdl_FloatTensor:$key,
                       Mdl_FloatTensor:$value, F64Attr:$scale,
                       UnitAttr:$is_causal);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_LinearOp : Mdl_Op<"linear", [Pure]> {
  let summary = "Affine map x @ weight^T + bias (F.linear)";
  let description = [{
    `input` is `[..., in]`, `weight` is `[out, in]`, the optional `bias` is
    `[out]`; the result is `[..., out]`.

    Example:

    ```mlir
    %0 = mdl.linear %x, %w, %b : (tensor<?x100xf32>, tensor<200x100xf32>, tensor<200xf32>) -> tensor<?x200xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, Mdl_Tensor:$weight,
                       Optional<Mdl_Tensor>:$bias);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Convolution and pooling (NCHW)
//===----------------------------------------------------------------------===//

def Mdl_Conv2dOp : Mdl_Op<"conv2d", [Pure]> {
  let summary = "2-D convolution (F.conv2d), NCHW";
  let description = [{
    `input` is `[N, C, H, W]` (or unbatched `[C, H, W]`), `weight` is
    `[O, C / groups, kH, kW]`, the optional `bias` is `[O]`.

    Example:

    ```mlir
    %0 = mdl.conv2d %x, %w, %b stride [1, 1] padding [1, 1] dilation [1, 1] groups 1
        : (tensor<?x3x32x32xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x32x32xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, Mdl_Tensor:$weight,
                       Optional<Mdl_Tensor>:$bias, Mdl_I64Pair:$stride,
                       Mdl_I64Pair:$padding, Mdl_I64Pair:$dilation,
                       I64Attr:$groups);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? `stride` $stride `padding` $padding
    `dilation` $dilation `groups` $groups attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_MaxPool2dOp : Mdl_Op<"max_pool2d", [Pure]> {
  let summary = "2-D max pooling (F.max_pool2d, floor mode)";
  let description = [{
    Example:

    ```mlir
    %0 = mdl.max_pool2d %x kernel_size [2, 2] stride [2, 2] padding [0, 0]
        : tensor<?x8x32x32xf32> -> tensor<?x8x16x16xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, Mdl_I64Pair:$kernel_size,
                       Mdl_I64Pair:$stride, Mdl_I64Pair:$padding);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `kernel_size` $kernel_size `stride` $stride `padding` $padding
    attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mdl_AvgPool2dOp : Mdl_Op<"avg_pool2d", [Pure]> {
  let summary = "2-D average pooling (F.avg_pool2d, floor mode)";
  let description = [{
    With `count_include_pad`, padded zeros count in the divisor.

    Example:

    ```mlir
    %0 = mdl.avg_pool2d %x kernel_size [2, 2] stride [2, 2] padding [0, 0] count_include_pad true
        : tensor<?x8x32x32xf32> -> tensor<?x8x16x16xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Mdl_I64Pair:$kernel_size,
                       Mdl_I64Pair:$stride, Mdl_I64Pair:$padding,
                       BoolAttr:$count_include_pad);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `kernel_size` $kernel_size `stride` $stride `padding` $padding
    `count_include_pad` $count_include_pad attr-dict
    `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mdl_AdaptiveAvgPool2dOp : Mdl_Op<"adaptive_avg_pool2d", [Pure]> {
  let summary = "2-D adaptive average pooling (F.adaptive_avg_pool2d)";
  let description = [{
    The input is `[N, C, H, W]` or `[C, H, W]`; the last two dimensions
    become `output_size`.

    Example:

    ```mlir
    %0 = mdl.adaptive_avg_pool2d %x output_size [1, 1] : tensor<?x512x7x7xf32> -> tensor<?x512x1x1xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Mdl_I64Pair:$output_size);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `output_size` $output_size attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Softmax and reductions
//===----------------------------------------------------------------------===//

class Mdl_SoftmaxLikeOp<string mnemonic, string what>
    : Mdl_Op<mnemonic, [Pure, SameOperandsAndResultType]> {
  let summary = what # " along one dimension";
  let description = [{
    `dim` may be negative (counted from the end).

    Example:

    ```mlir
    %0 = mdl.}] # mnemonic # [{ %x dim 1 : tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, I64Attr:$dim);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = "$input `dim` $dim attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Mdl_SoftmaxOp : Mdl_SoftmaxLikeOp<"softmax", "Softmax">;
def Mdl_LogSoftmaxOp : Mdl_SoftmaxLikeOp<"log_softmax", "Log-softmax">;

class Mdl_ReduceOp<string mnemonic, string what, Type tensor = Mdl_Tensor>
    : Mdl_Op<mnemonic, [Pure]> {
  let summary = what # " over dimensions";
  let description = [{
    Reduces over `dims` (negative values count from the end; an empty list
    reduces over every dimension). With `keepdim` the reduced dimensions stay
    as size 1.

    Example:

    ```mlir
    %0 = mdl.}] # mnemonic # [{ %x dims [1] keepdim false : tensor<?x10xf32> -> tensor<?xf32>
    ```
  }];
  let arguments = (ins tensor:$input, DenseI64ArrayAttr:$dims,
                       BoolAttr:$keepdim);
  let results = (outs tensor:$result);
  let assemblyFormat = [{
    $input `dims` $dims `keepdim` $keepdim attr-dict
    `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Mdl_MeanOp : Mdl_ReduceOp<"mean", "Mean", Mdl_FloatTensor>;
def Mdl_SumOp : Mdl_ReduceOp<"sum", "Sum">;
def Mdl_AmaxOp : Mdl_ReduceOp<"amax", "Maximum">;

def Mdl_VarOp : Mdl_Op<"var", [Pure]> {
  let summary = "Variance over dimensions";
  let description = [{
    `torch.var`: with `unbiased` the sum of squares is divided by `n - 1`
    (Bessel's correction), otherwise by `n`.

    Example:

    ```mlir
    %0 = mdl.var %x dims [0] unbiased true keepdim false : tensor<?x10xf32> -> tensor<10xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, DenseI64ArrayAttr:$dims,
                       BoolAttr:$unbiased, BoolAttr:$keepdim);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `dims` $dims `unbiased` $unbiased `keepdim` $keepdim attr-dict
    `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization
//===----------------------------------------------------------------------===//

def Mdl_BatchNormStatsOp : Mdl_Op<"batch_norm_stats", [Pure]> {
  let summary = "Per-channel batch statistics for BatchNorm in training";
  let description = [{
    For an input `[N, C]`, `[N, C, L]` or `[N, C, H, W]`, computes over every
    dimension except 1 the mean, the biased variance (used to normalize) and
    the unbiased variance (used for the running estimate). All three are
    `[C]`. Like PyTorch, it rejects an input with one value per channel.

    Example:

    ```mlir
    %mean, %var, %uvar = mdl.batch_norm_stats %x
        : tensor<?x5xf32> -> (tensor<5xf32>, tensor<5xf32>, tensor<5xf32>)
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input);
  let results = (outs Mdl_FloatTensor:$mean, Mdl_FloatTensor:$var,
                      Mdl_FloatTensor:$unbiased_var);
  let assemblyFormat = [{
    $input attr-dict `:` type($input) `->` `(` type($mean) `,` type($var) `,`
    type($unbiased_var) `)`
  }];
  let hasVerifier = 1;
}

def Mdl_BatchNormOp : Mdl_Op<"batch_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "Normalizes over channel dimension 1 with given statistics";
  let description = [{
    `(x - mean) / sqrt(var + eps) * weight + bias`, with `mean`, `var`,
    `weight` and `bias` of shape `[C]` broadcast along dimension 1. The
    statistics are the batch's (training) or the running ones (evaluation).

    Example:

    ```mlir
    %0 = mdl.batch_norm %x, %mean, %var weight %g bias %b eps 1.0e-05
        : (tensor<?x5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>) -> tensor<?x5xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Mdl_FloatTensor:$mean,
                       Mdl_FloatTensor:$var, Optional<Mdl_FloatTensor>:$weight,
                       Optional<Mdl_FloatTensor>:$bias, F64Attr:$eps);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $mean `,` $var (`weight` $weight^)? (`bias` $bias^)?
    `eps` $eps attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_AllReduceOp : Mdl_Op<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "Sum over the ranks of data-parallel training (SyncBatchNorm)";
  let description = [{
    Every rank's `input`, summed element by element; in one process (no
    communicator installed by the runtime: `set_all_reduce`) the input
    itself. Ranks run the same code, so their all-reduces pair up in order.
    It communicates, so it has effects: never removed, merged or moved past
    another. Its gradient is the all-reduce of the result's gradient.
    Created by the frontend for `modelc --sync-batchnorm`; bufferized into a
    call of the runtime's `modelc_all_reduce_f32` on a copy of the input.

    Example:

    ```mlir
    %0 = mdl.all_reduce %x : tensor<8xf32>
    ```
  }];
  let arguments = (ins F32Tensor:$input);
  let results = (outs F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Mdl_LayerNormOp : Mdl_Op<"layer_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "Normalizes over the trailing dimensions (F.layer_norm)";
  let description = [{
    Statistics are taken over the last `normalized_shape.size()` dimensions,
    which must equal `normalized_shape`; `weight` and `bias` have that shape.

    Example:

    ```mlir
    %0 = mdl.layer_norm %x weight %g bias %b normalized_shape [64] eps 1.0e-05
        : (tensor<?x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x16x64xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Optional<Mdl_FloatTensor>:$weight,
                       Optional<Mdl_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$normalized_shape, F64Attr:$eps);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`weight` $weight^)? (`bias` $bias^)?
    `normalized_shape` $normalized_shape `eps` $eps attr-dict
    `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Embedding and shape manipulation
//===----------------------------------------------------------------------===//

def Mdl_EmbeddingOp : Mdl_Op<"embedding", [Pure]> {
  let summary = "Looks up rows of a table (F.embedding)";
  let description = [{
    `indices` is an integer tensor of any shape, `weight` is
    `[num_embeddings, embedding_dim]`; the result is
    `indices.shape + [embedding_dim]` with the weight's element type. The
    row `padding_idx` (in [0, num_embeddings)), when given, is looked up as
    any other but gets no gradient, as torch.nn.Embedding's.

    Example:

    ```mlir
    %0 = mdl.embedding %ids, %table : (tensor<?x16xi64>, tensor<1000x64xf32>) -> tensor<?x16x64xf32>
    ```
  }];
  let arguments = (ins Mdl_IndexTensor:$indices, Mdl_Tensor:$weight,
                       OptionalAttr<I64Attr>:$padding_idx);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $indices `,` $weight attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Mdl_ReshapeOp : Mdl_Op<"reshape", [Pure]> {
  let summary = "Reshapes a tensor (Tensor.reshape / view)";
  let description = [{
    `shape` is the shape as written in the program and may hold one `-1`,
    inferred from the element count. The result type carries the resolved
    shape (dynamic where it depends on a dynamic input dimension).

    Example:

    ```mlir
    %0 = mdl.reshape %x shape [-1, 16] : tensor<?x4x4xf32> -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, DenseI64ArrayAttr:$shape);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `shape` $shape attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Mdl_FlattenOp : Mdl_Op<"flatten", [Pure]> {
  let summary = "Merges dimensions start_dim..end_dim (torch.flatten)";
  let description = [{
    Both bounds are inclusive and may be negative.

    Example:

    ```mlir
    %0 = mdl.flatten %x start_dim 1 end_dim -1 : tensor<?x8x4x4xf32> -> tensor<?x128xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, I64Attr:$start_dim, I64Attr:$end_dim);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `start_dim` $start_dim `end_dim` $end_dim attr-dict
    `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Mdl_PermuteOp : Mdl_Op<"permute", [Pure]> {
  let summary = "Reorders dimensions (Tensor.permute, .t(), .transpose)";
  let description = [{
    Result dimension `i` is input dimension `dims[i]`; `dims` is a
    permutation (negative entries count from the end).

    Example:

    ```mlir
    %0 = mdl.permute %x dims [1, 0] : tensor<?x10xf32> -> tensor<10x?xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, DenseI64ArrayAttr:$dims);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `dims` $dims attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Mdl_CatOp : Mdl_Op<"cat", [Pure]> {
  let summary = "Concatenates tensors along a dimension (torch.cat)";
  let description = [{
    All inputs have the same rank and element type and agree on every
    dimension except `dim`.

    Example:

    ```mlir
    %0 = mdl.cat %a, %b dim 1 : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Variadic<Mdl_Tensor>:$inputs, I64Attr:$dim);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $inputs `dim` $dim attr-dict `:` functional-type($inputs, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradient ops: what -mdl-differentiate emits where no forward op composes
// the vector-Jacobian product (spec/TRAINING.md). Their result types are
// given; nothing but that pass creates them.
//===----------------------------------------------------------------------===//

def Mdl_OneHotOp : Mdl_Op<"one_hot", [Pure]> {
  let summary = "One-hot rows of class indices, as float (F.one_hot)";
  let description = [{
    `result[..., c] = (indices[...] == c)`, in the result's float type; an
    index equal to `ignore_index` gives a row of zeros (cross_entropy's and
    nll_loss's ignored targets). Appends one dimension of `num_classes`.

    Example:

    ```mlir
    %0 = mdl.one_hot %y num_classes 10 ignore_index -100 : tensor<?xi64> -> tensor<?x10xf32>
    ```
  }];
  let arguments = (ins Mdl_IndexTensor:$indices, I64Attr:$num_classes, I64Attr:$ignore_index);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $indices `num_classes` $num_classes `ignore_index` $ignore_index attr-dict
    `:` type($indices) `->` type($result)
  }];
}

def Mdl_ElementwiseGradOp : Mdl_Op<"elementwise_grad", [Pure]> {
  let summary = "grad * f'(input) for an elementwise f with PyTorch's edge rules";
  let description = [{
    `kind` names f: "relu" (f'(0) = 0), "abs" (f'(0) = 0), "clamp"
    (1 where min < x < max, 0 on a bound as PyTorch; the optional `a` =
    min, `b` = max),
    "leaky_relu" (slope `a`; x > 0 ? 1 : slope), "gelu" and "gelu_tanh";
    "maximum" and "minimum" give the part of `other`'s partner `input`: 1
    where input wins, 0.5 on a tie, 0 where other wins; "equal" passes the
    gradient where input == other (amax's maxima), "unequal" where it is not;
    "pow_exponent" passes it except where input (a base) is 0 and other (the
    exponent) >= 0; "bce" is binary_cross_entropy's d/d input, grad · (x -
    other) / max(x (1 - x), 1e-12) with other the target. Broadcasts as the
    binary ops do: the result has the operands' broadcast shape.

    Example:

    ```mlir
    %0 = mdl.elementwise_grad %g, %x kind "relu" : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$input,
                       Optional<Mdl_FloatTensor>:$other, StrAttr:$kind,
                       OptionalAttr<F64Attr>:$a, OptionalAttr<F64Attr>:$b);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input (`,` $other^)? `kind` $kind (`a` $a^)? (`b` $b^)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def Mdl_MaxPool2dGradOp : Mdl_Op<"max_pool2d_grad", [Pure]> {
  let summary = "Gradient of max_pool2d with respect to its input";
  let description = [{
    Routes each element of `grad` to the first maximal element of its
    window in the forward's `input` (row-major window order), as PyTorch
    does; windows that overlap add up.
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$input,
                       Mdl_I64Pair:$kernel_size, Mdl_I64Pair:$stride, Mdl_I64Pair:$padding);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input `kernel_size` $kernel_size `stride` $stride `padding` $padding attr-dict
    `:` functional-type(operands, results)
  }];
}

def Mdl_Conv2dGradInputOp : Mdl_Op<"conv2d_grad_input", [Pure]> {
  let summary = "Gradient of conv2d with respect to its input; ConvTranspose2d";
  let description = [{
    The transposed convolution of `grad` [N, F, Ho, Wo] with `weight`
    [F, C/groups, kh, kw]: the gradient of a conv2d with that weight whose
    input has the result's shape [N, C, H, W]. The result's H and W, which
    must be static, select among the input sizes that give Ho and Wo (a
    ConvTranspose2d's output_padding). It is also torch.nn.ConvTranspose2d's
    forward, and differentiated as one.
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$weight,
                       Mdl_I64Pair:$stride, Mdl_I64Pair:$padding, Mdl_I64Pair:$dilation,
                       I64Attr:$groups);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $weight `stride` $stride `padding` $padding `dilation` $dilation
    `groups` $groups attr-dict `:` functional-type(operands, results)
  }];
}

def Mdl_Conv2dGradWeightOp : Mdl_Op<"conv2d_grad_weight", [Pure]> {
  let summary = "Gradient of a grouped conv2d with respect to its weight";
  let description = [{
    `result[f, c, kh, kw] = sum over n, oh, ow of grad[n, f, oh, ow] *
    padded_input[n, g * C/groups + c, oh * stride + kh * dilation, ...]` with g
    the group of f.
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$input,
                       Mdl_I64Pair:$stride, Mdl_I64Pair:$padding, Mdl_I64Pair:$dilation,
                       I64Attr:$groups);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input `stride` $stride `padding` $padding `dilation` $dilation
    `groups` $groups attr-dict `:` functional-type(operands, results)
  }];
}

def Mdl_AvgPool2dGradOp : Mdl_Op<"avg_pool2d_grad", [Pure]> {
  let summary = "Gradient of avg_pool2d with respect to its input";
  let description = [{
    Each element of `grad` spread evenly over its window's elements (the
    padding's excluded), divided by the window's divisor: the kernel's area,
    or with `count_include_pad` false the number of unpadded elements.
    `input` gives only the shape.
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$input,
                       Mdl_I64Pair:$kernel_size, Mdl_I64Pair:$stride, Mdl_I64Pair:$padding,
                       BoolAttr:$count_include_pad);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input `kernel_size` $kernel_size `stride` $stride `padding` $padding
    `count_include_pad` $count_include_pad attr-dict `:` functional-type(operands, results)
  }];
}

def Mdl_SliceOp : Mdl_Op<"slice", [Pure]> {
  let summary = "A contiguous range along one dimension (torch.narrow)";
  let description = [{
    `result = input.narrow(dim, start, length)`, the length being the
    result's size along `dim`. -mdl-differentiate uses it for cat's
    gradient.

    Example:

    ```mlir
    %0 = mdl.slice %x dim 1 start 2 : tensor<?x8xf32> -> tensor<?x3xf32>
    ```
  }];
  let arguments = (ins Mdl_Tensor:$input, I64Attr:$dim, I64Attr:$start);
  let results = (outs Mdl_Tensor:$result);
  let assemblyFormat = [{
    $input `dim` $dim `start` $start attr-dict `:` type($input) `->` type($result)
  }];
}

def Mdl_AdaptiveAvgPool2dGradOp : Mdl_Op<"adaptive_avg_pool2d_grad", [Pure]> {
  let summary = "Gradient of adaptive_avg_pool2d with respect to its input";
  let description = [{
    Each element of `grad` spread evenly over its window, rows
    [floor(oh·H/Ho), ceil((oh+1)·H/Ho)) and the same for columns, as
    PyTorch's windows. `input` gives only the shape.
  }];
  let arguments = (ins Mdl_FloatTensor:$grad, Mdl_FloatTensor:$input);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $grad `,` $input attr-dict `:` functional-type(operands, results)
  }];
}

def Mdl_BinaryCrossEntropyOp : Mdl_Op<"binary_cross_entropy", [Pure]> {
  let summary = "Elementwise binary cross-entropy of probabilities (F.binary_cross_entropy, reduction none)";
  let description = [{
    `(target - 1) · max(log(1 - input), -100) - target · max(log(input), -100)`,
    as ATen computes it; its gradient with respect to the input is ATen's
    closed form (elementwise_grad "bce"), finite where the input is exactly
    0 or 1.

    Example:

    ```mlir
    %0 = mdl.binary_cross_entropy %p, %t : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
    ```
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Mdl_FloatTensor:$target);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $target attr-dict `:` functional-type(operands, results)
  }];
}

def Mdl_Im2colOp : Mdl_Op<"im2col", [Pure]> {
  let summary = "The patches of a convolution's input, one row per output pixel";
  let description = [{
    `result[(n, oh, ow), (c, i, j)] = padded_input[n, c, oh·stride + i·dilation,
    ow·stride + j·dilation]` for an NCHW input: rows in (image, output row,
    output column) order, columns in (channel, kernel row, kernel column)
    order. -mdl-differentiate uses it for conv2d's weight gradient,
    `gradᵀ · patches`, a GEMM whose reduction is the batch's pixels.
  }];
  let arguments = (ins Mdl_FloatTensor:$input, Mdl_I64Pair:$kernel_size, Mdl_I64Pair:$stride,
                       Mdl_I64Pair:$padding, Mdl_I64Pair:$dilation);
  let results = (outs Mdl_FloatTensor:$result);
  let assemblyFormat = [{
    $input `kernel_size` $kernel_size `stride` $stride `padding` $padding `dilation` $dilation
    attr-dict `:` type($input) `->` type($result)
  }];
}

#endif // MDL_IR_MDLCOMPUTEOPS_TD
