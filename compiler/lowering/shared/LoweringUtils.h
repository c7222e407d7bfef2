//===- LoweringUtils.h - Shared helpers of the mdl-to-linalg lowering -----===//
//
// Building blocks for the patterns in *ToLinalg.cpp: empty tensors with their
// dynamic sizes, PyTorch broadcasting as indexing maps, reductions along a set
// of dimensions, and scalar constants of a given element type.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_LOWERINGUTILS_H
#define MODELC_LOWERING_LOWERINGUTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

#include <functional>

namespace modelc::lowering {

using BodyBuilder =
    std::function<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

/// A constant of element type `type` (float or integer) with value `v`.
mlir::Value scalarConstant(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type, double v);

/// tensor.empty of `type` with `dynamicSizes`, one per dynamic dimension of
/// `type`, in order.
mlir::Value emptyTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                        mlir::ValueRange dynamicSizes);

/// The dynamic sizes of `type` when it is `value`'s shape with the dims in
/// `map` (result dim i comes from value dim map[i], -1 for static dims).
llvm::SmallVector<mlir::Value> dynamicSizesFrom(mlir::OpBuilder &b, mlir::Location loc,
                                                mlir::RankedTensorType type, mlir::Value value,
                                                llvm::ArrayRef<int64_t> map);

/// An elementwise linalg.generic producing `resultType` from `inputs` that
/// broadcast to it as in PyTorch (aligned on the right; size-1 dims
/// broadcast). Each dynamic result size is taken from an input that has it.
/// A dynamic size is assumed to equal, not to broadcast against, the sizes it
/// meets.
mlir::Value elementwise(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::RankedTensorType resultType, mlir::ValueRange inputs,
                        const BodyBuilder &body);

/// `x` (NCHW) with its spatial dimensions (2, 3) padded by `padding` on
/// both sides with `value`; `x` itself when there is no padding.
mlir::Value padSpatial(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                       llvm::ArrayRef<int64_t> padding, double value);

/// The inverse of padSpatial: `padded` without `padding` on both sides of
/// its spatial dimensions, as `type`; `padded` itself when there is none.
mlir::Value cropSpatial(mlir::OpBuilder &b, mlir::Location loc, mlir::Value padded,
                        mlir::RankedTensorType type, llvm::ArrayRef<int64_t> padding);

/// The dynamic sizes of a sliding-window op's NCHW result `type` over the
/// (padded) input `x`: N and C are x's, H and W (size - window) / stride + 1
/// with `window` the effective (dilated) window.
llvm::SmallVector<mlir::Value> slidingDynamicSizes(mlir::OpBuilder &b, mlir::Location loc,
                                                   mlir::Value x, mlir::RankedTensorType type,
                                                   llvm::ArrayRef<int64_t> window,
                                                   llvm::ArrayRef<int64_t> stride);

/// `v` with dimension `dim` split into [groups, size / groups] (a grouped
/// convolution's channels), and back: mergeDim collapses dims `dim` and
/// `dim + 1` of `v` into `type`.
mlir::Value splitDim(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v, int64_t dim,
                     int64_t groups);
mlir::Value mergeDim(mlir::OpBuilder &b, mlir::Location loc, mlir::Value v, int64_t dim,
                     mlir::RankedTensorType type);

/// A tensor filled with `value` of `type`, dynamic sizes from `like`
/// (same rank and shape as `type`).
mlir::Value filled(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                   mlir::Value like, double value);

enum class ReduceKind { Sum, Max };

/// Reduces `input` over `dims` (sorted, non-negative), dropping them.
mlir::Value reduce(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                   llvm::ArrayRef<int64_t> dims, ReduceKind kind);

/// The number of elements in `dims` of `input`, as a scalar of type `type`.
mlir::Value countOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input,
                    llvm::ArrayRef<int64_t> dims, mlir::Type type);

/// Broadcasts `reduced` (input with `dims` dropped) back against `input`'s
/// iteration space: the indexing map of the reduced operand.
mlir::AffineMap droppedDimsMap(mlir::MLIRContext *ctx, int64_t rank,
                               llvm::ArrayRef<int64_t> dims);

/// Reinserts `dims` as size-1 dimensions (keepdim=True).
mlir::Value keepDims(mlir::OpBuilder &b, mlir::Location loc, mlir::Value reduced,
                     mlir::RankedTensorType keptType, llvm::ArrayRef<int64_t> dims);

/// Float arithmetic of one scalar body, for `fastmath<contract>` etc.
bool isFloat(mlir::Type t);

/// A contraction's linalg.generic body: out + in0 * in1 (float or integer).
void macBody(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange args);

/// macBody for float contractions that may be summed in any order
/// (`fastmath<reassoc, contract>`): the blocked kernels do, and where they
/// do not match, LLVM may vectorize the loops' reduction.
void reassociableMacBody(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange args);

/// The forms of f32 contraction the blocked kernels compute
/// (BlockedDotKernels.cpp), in any loop order: C[m, n] += A[m, k] * B[n, k]
/// (Linear's x W^T), batched as C[b, m, n] += A[m, k] * B[b, n, k] (a
/// convolution's weights times its patches), and `outer` with B as [K, N]
/// (C[m, n] += A[m, k] * B[k, n], as im2col lays patches out).
struct DotForm {
  bool batched;
  bool outer;
};

/// The DotForm of `op` (on tensors or buffers): two inputs and one init,
/// one reduction, indexing maps of plain dimensions in one of the forms,
/// and the body out + in0 * in1 on f32.
std::optional<DotForm> matchDotForm(mlir::linalg::GenericOp op);

/// A depthwise convolution of NCHW images, one filter per channel:
/// out[n, c, oh, ow] += x[n, c, oh*sh + kh*dh, ow*sw + kw*dw] * w[c, kh, kw],
/// as Conv2d with groups == channels lowers (StructuredToLinalg.cpp).
struct DepthwiseForm {
  int64_t stride[2];
  int64_t dilation[2];
};

/// The DepthwiseForm of `op` (on tensors or buffers, in any loop order):
/// inputs x and w, one init, six loops (n, c, oh, ow, kh, kw), indexing
/// maps as above, the body out + x * w on f32.
std::optional<DepthwiseForm> matchDepthwiseForm(mlir::linalg::GenericOp op);

/// Whether `op` has two inputs, one init and the body out + in0 * in1 on
/// f32 (operands in either order).
bool isF32MacBody(mlir::linalg::GenericOp op);

/// What a failed shape check reports (kShapeCheckFailedFn's last argument).
enum class ShapeCheck : int64_t {
  ReshapeCount = 0,    // a reshape's input count is not the shape's
  ReshapeMultiple = 1, // ... not a multiple of the sizes besides -1
  SizesDiffer = 2,     // operands' sizes of one dimension differ
  ClassIndex = 3,      // a class index (a) outside [0, classes (b))
  EmbeddingIndex = 4,  // an embedding's index (a) outside [0, rows (b))
};

/// Calls the runtime's kShapeCheckFailedFn at the insertion point: `loc`'s
/// line and column, the two sizes `a` and `b` (index values), `kind`.
void reportShapeCheck(mlir::OpBuilder &b, mlir::Location loc, mlir::Value a, mlir::Value c,
                      ShapeCheck kind);

/// Reports ShapeCheck::SizesDiffer (through reportShapeCheck) where the
/// sizes `mine` and `want` (index values) differ at run time.
void reportIfSizesDiffer(mlir::OpBuilder &b, mlir::Location loc, mlir::Value mine,
                         mlir::Value want);

/// A batch computed image by image: an `scf.for` over the images of `init`
/// ([N, ...]) whose `body` gets the n-th images of `image` and of the
/// accumulator (slices [1, ...] of each) and returns the accumulator's new
/// image, inserted back. Returns the loop's result.
mlir::Value forEachImage(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value image, mlir::Value init,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::Value image,
                                   mlir::Value acc)>
        body);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_LOWERINGUTILS_H
