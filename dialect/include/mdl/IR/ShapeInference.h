//===- ShapeInference.h - PyTorch shape rules -------------------*- C++ -*-===//
//
// The shape rules of the mdl compute ops as pure functions, shared by the op
// verifiers and by the frontend's own shape inference so that both agree.
//
// A shape is a list of dimension sizes; ShapedType::kDynamic stands for a
// size unknown at compile time (`?`, e.g. the batch size). Every function
// returns the inferred shape, or failure with `why` set to a message in
// PyTorch's words (without a trailing period) that a caller can put in a
// diagnostic. Dynamic sizes are compatible with anything; a rule that cannot
// be checked because a size is dynamic is left to run time.
//
//===----------------------------------------------------------------------===//

#ifndef MDL_IR_SHAPEINFERENCE_H
#define MDL_IR_SHAPEINFERENCE_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>

namespace mlir::mdl::shape {

using Shape = llvm::SmallVector<int64_t>;

/// True if `dim` is ShapedType::kDynamic.
inline bool isDynamic(int64_t dim) { return ShapedType::isDynamic(dim); }

/// Two sizes may be equal at run time (equal, or either is dynamic).
bool compatible(int64_t a, int64_t b);
/// Same rank and every pair of sizes compatible.
bool compatible(ArrayRef<int64_t> a, ArrayRef<int64_t> b);

/// Formats a shape as PyTorch prints a size: "[2, ?, 5]".
std::string format(ArrayRef<int64_t> shape);

/// Product of the sizes, or kDynamic if any size is dynamic. 1 for rank 0.
/// std::nullopt if the product does not fit in int64_t.
std::optional<int64_t> numElements(ArrayRef<int64_t> shape);

/// Maps a possibly negative dimension index into [0, rank). PyTorch treats a
/// rank-0 tensor as rank 1 here (dim 0 and -1 are valid).
FailureOr<int64_t> normalizeDim(int64_t dim, int64_t rank, std::string &why);

/// Elementwise broadcasting (torch.broadcast_shapes).
FailureOr<Shape> broadcast(ArrayRef<int64_t> a, ArrayRef<int64_t> b,
                           std::string &why);

/// torch.matmul: 1-D operands are promoted, batch dimensions broadcast.
FailureOr<Shape> matmul(ArrayRef<int64_t> a, ArrayRef<int64_t> b,
                        std::string &why);

/// Fused attention: query [..., L, E], key [..., S, E], value [..., S, Ev],
/// the same leading dimensions (no broadcasting) -> [..., L, Ev].
FailureOr<Shape> attention(ArrayRef<int64_t> query, ArrayRef<int64_t> key,
                           ArrayRef<int64_t> value, std::string &why);

/// F.linear: input [..., in], weight [out, in], bias [out] -> [..., out].
FailureOr<Shape> linear(ArrayRef<int64_t> input, ArrayRef<int64_t> weight,
                        std::optional<ArrayRef<int64_t>> bias,
                        std::string &why);

/// F.conv2d: input [N, C, H, W] or [C, H, W], weight [O, C/groups, kH, kW],
/// bias [O]. stride, padding, dilation have two entries each.
FailureOr<Shape> conv2d(ArrayRef<int64_t> input, ArrayRef<int64_t> weight,
                        std::optional<ArrayRef<int64_t>> bias,
                        ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                        ArrayRef<int64_t> dilation, int64_t groups,
                        std::string &why);

/// F.max_pool2d / F.avg_pool2d in floor mode: input [N, C, H, W] or
/// [C, H, W]; kernel, stride and padding have two entries each.
FailureOr<Shape> pool2d(ArrayRef<int64_t> input, ArrayRef<int64_t> kernel,
                        ArrayRef<int64_t> stride, ArrayRef<int64_t> padding,
                        std::string &why);

/// F.adaptive_avg_pool2d: the last two dims of a rank 3 or 4 input become
/// `outputSize`.
FailureOr<Shape> adaptiveAvgPool2d(ArrayRef<int64_t> input,
                                   ArrayRef<int64_t> outputSize,
                                   std::string &why);

/// Reduction over `dims` (negative allowed, empty = all dims), as sum/mean.
FailureOr<Shape> reduce(ArrayRef<int64_t> input, ArrayRef<int64_t> dims,
                        bool keepdim, std::string &why);

/// Tensor.permute: result dim i is input dim dims[i].
FailureOr<Shape> permute(ArrayRef<int64_t> input, ArrayRef<int64_t> dims,
                         std::string &why);

/// Tensor.reshape with the shape as written (at most one -1). With a static
/// input the element counts must agree; with a dynamic input the -1 entry
/// becomes dynamic.
FailureOr<Shape> reshape(ArrayRef<int64_t> input, ArrayRef<int64_t> shape,
                         std::string &why);

/// torch.flatten(input, startDim, endDim), bounds inclusive, may be negative.
FailureOr<Shape> flatten(ArrayRef<int64_t> input, int64_t startDim,
                         int64_t endDim, std::string &why);

/// torch.cat along `dim`: same rank, equal sizes except along `dim`.
FailureOr<Shape> cat(ArrayRef<ArrayRef<int64_t>> inputs, int64_t dim,
                     std::string &why);

/// F.embedding: indices of any shape, weight [num, dim] -> indices + [dim].
FailureOr<Shape> embedding(ArrayRef<int64_t> indices, ArrayRef<int64_t> weight,
                           std::string &why);

/// Training-mode BatchNorm statistics: input [N, C], [N, C, L] or
/// [N, C, H, W] -> [C]. Fails, as PyTorch does, when there is statically
/// only one value per channel.
FailureOr<Shape> batchNormStats(ArrayRef<int64_t> input, std::string &why);

/// BatchNorm with given statistics: every per-channel operand (mean, var and
/// the optional weight and bias; pass them all) is [C] where C = input[1].
/// Returns the input shape.
FailureOr<Shape> batchNorm(ArrayRef<int64_t> input,
                           ArrayRef<ArrayRef<int64_t>> perChannel,
                           std::string &why);

/// F.layer_norm: the input's trailing dims equal `normalizedShape`; weight
/// and bias, when given, have shape `normalizedShape`. Returns the input
/// shape.
FailureOr<Shape> layerNorm(ArrayRef<int64_t> input,
                           ArrayRef<int64_t> normalizedShape,
                           std::optional<ArrayRef<int64_t>> weight,
                           std::optional<ArrayRef<int64_t>> bias,
                           std::string &why);

} // namespace mlir::mdl::shape

#endif // MDL_IR_SHAPEINFERENCE_H
