//===- ShapeInference.cpp - PyTorch shape rules ---------------------------===//
//
// Messages follow PyTorch's own wording where it has one, so that a user
// who knows PyTorch recognizes them.
//
//===----------------------------------------------------------------------===//

#include "mdl/IR/ShapeInference.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::mdl;
using namespace mlir::mdl::shape;

namespace {

/// Builds a failure with `why` set from a stream.
class Why {
public:
  explicit Why(std::string &why) : why(why), os(why) { why.clear(); }
  template <typename T> Why &operator<<(const T &value) {
    os << value;
    return *this;
  }
  operator FailureOr<Shape>() { return failure(); }
  operator FailureOr<int64_t>() { return failure(); }
  operator LogicalResult() { return failure(); }

private:
  std::string &why;
  llvm::raw_string_ostream os;
};

std::string dimStr(int64_t dim) {
  return isDynamic(dim) ? std::string("?") : std::to_string(dim);
}

/// "2x3", the way PyTorch prints matrix shapes in matmul errors.
std::string matrixStr(int64_t rows, int64_t cols) {
  return dimStr(rows) + "x" + dimStr(cols);
}

/// Checks that `values` are all >= `min`; `what` names them for the message.
LogicalResult checkAtLeast(ArrayRef<int64_t> values, int64_t min,
                           StringRef message, std::string &why) {
  for (int64_t v : values)
    if (v < min)
      return Why(why) << message;
  return success();
}

/// Output size of one spatial dimension of a convolution or pooling window,
/// floor mode. Returns kDynamic if the input size is dynamic, a value < 1
/// when the window does not fit, and nullopt when the arithmetic overflows
/// int64_t (absurd padding, kernel or dilation).
std::optional<int64_t> windowOutput(int64_t in, int64_t kernel, int64_t stride,
                                    int64_t padding, int64_t dilation) {
  if (isDynamic(in))
    return ShapedType::kDynamic;
  // span = in + 2 * padding - dilation * (kernel - 1) - 1
  std::optional<int64_t> pads = llvm::checkedMul<int64_t>(2, padding);
  std::optional<int64_t> padded = pads ? llvm::checkedAdd(in, *pads) : std::nullopt;
  std::optional<int64_t> extent = llvm::checkedMul(dilation, kernel - 1);
  std::optional<int64_t> span =
      padded && extent ? llvm::checkedSub(*padded, *extent) : std::nullopt;
  if (span)
    span = llvm::checkedSub<int64_t>(*span, 1);
  if (!span)
    return std::nullopt;
  if (*span < 0)
    return 0;
  return *span / stride + 1;
}

/// The message for a window whose arithmetic overflows.
constexpr const char *kWindowOverflow =
    "the output size overflows int64 (kernel size, padding or dilation is "
    "too large)";

} // namespace

bool shape::compatible(int64_t a, int64_t b) {
  return a == b || isDynamic(a) || isDynamic(b);
}

bool shape::compatible(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  if (a.size() != b.size())
    return false;
  for (auto [x, y] : llvm::zip_equal(a, b))
    if (!compatible(x, y))
      return false;
  return true;
}

std::string shape::format(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleave(
      shape, os, [&](int64_t d) { os << dimStr(d); }, ", ");
  os << "]";
  return s;
}

std::optional<int64_t> shape::numElements(ArrayRef<int64_t> shape) {
  if (llvm::any_of(shape, isDynamic))
    return ShapedType::kDynamic;
  std::optional<int64_t> n = 1;
  for (int64_t d : shape)
    if (!(n = llvm::checkedMul(*n, d)))
      return std::nullopt;
  return n;
}

FailureOr<int64_t> shape::normalizeDim(int64_t dim, int64_t rank,
                                       std::string &why) {
  int64_t effective = std::max<int64_t>(rank, 1);
  if (dim < -effective || dim >= effective)
    return Why(why) << "Dimension out of range (expected to be in range of ["
                    << -effective << ", " << effective - 1 << "], but got "
                    << dim << ")";
  return dim < 0 ? dim + effective : dim;
}

FailureOr<Shape> shape::broadcast(ArrayRef<int64_t> a, ArrayRef<int64_t> b,
                                  std::string &why) {
  size_t rank = std::max(a.size(), b.size());
  Shape result(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right; missing leading dims act as size 1.
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      result[i] = db;
    else if (db == 1)
      result[i] = da;
    else if (isDynamic(da))
      result[i] = db; // `?` is either db or 1; the result is db either way.
    else if (isDynamic(db) || da == db)
      result[i] = da;
    else
      return Why(why) << "The size of tensor a (" << da
                      << ") must match the size of tensor b (" << db
                      << ") at non-singleton dimension " << i;
  }
  return result;
}

FailureOr<Shape> shape::matmul(ArrayRef<int64_t> a, ArrayRef<int64_t> b,
                               std::string &why) {
  if (a.empty() || b.empty())
    return Why(why) << "both arguments to matmul need to be at least 1D, but "
                       "they are "
                    << a.size() << "D and " << b.size() << "D";
  if (a.size() == 1 && b.size() == 1) {
    if (!compatible(a[0], b[0]))
      return Why(why) << "inconsistent tensor size, expected tensor "
                      << format(a) << " and src " << format(b)
                      << " to have the same number of elements, but got "
                      << a[0] << " and " << b[0] << " elements respectively";
    return Shape{};
  }
  // Promote vectors to matrices: [k] @ M is [1, k] @ M, M @ [k] is M @ [k, 1].
  Shape lhs(a), rhs(b);
  if (a.size() == 1)
    lhs.insert(lhs.begin(), 1);
  if (b.size() == 1)
    rhs.push_back(1);
  int64_t n = lhs[lhs.size() - 2], k1 = lhs.back();
  int64_t k2 = rhs[rhs.size() - 2], m = rhs.back();
  if (!compatible(k1, k2))
    return Why(why) << "mat1 and mat2 shapes cannot be multiplied ("
                    << matrixStr(n, k1) << " and " << matrixStr(k2, m) << ")";
  auto batch =
      broadcast(ArrayRef(lhs).drop_back(2), ArrayRef(rhs).drop_back(2), why);
  if (failed(batch))
    return failure();
  Shape result = std::move(*batch);
  if (a.size() >= 2)
    result.push_back(n);
  if (b.size() >= 2)
    result.push_back(m);
  return result;
}

FailureOr<Shape> shape::attention(ArrayRef<int64_t> query,
                                  ArrayRef<int64_t> key,
                                  ArrayRef<int64_t> value, std::string &why) {
  if (query.size() < 2 || key.size() != query.size() ||
      value.size() != query.size())
    return Why(why) << "attention expects query, key and value of one rank, "
                       "at least 2, but got "
                    << format(query) << ", " << format(key) << " and "
                    << format(value);
  size_t rank = query.size();
  for (size_t i = 0; i + 2 < rank; ++i)
    if (!compatible(query[i], key[i]) || !compatible(query[i], value[i]))
      return Why(why) << "attention's batch dimensions must be equal, but got "
                      << format(query) << ", " << format(key) << " and "
                      << format(value);
  if (!compatible(query[rank - 1], key[rank - 1]))
    return Why(why) << "attention's query and key must have the same last "
                       "size, but got "
                    << format(query) << " and " << format(key);
  if (!compatible(key[rank - 2], value[rank - 2]))
    return Why(why) << "attention's key and value must have the same length, "
                       "but got "
                    << format(key) << " and " << format(value);
  Shape result(query.drop_back());
  result.push_back(value.back());
  return result;
}

FailureOr<Shape> shape::linear(ArrayRef<int64_t> input,
                               ArrayRef<int64_t> weight,
                               std::optional<ArrayRef<int64_t>> bias,
                               std::string &why) {
  if (input.empty())
    return Why(why) << "linear expects an input with at least 1 dimension, "
                       "got a 0-dimensional input";
  if (weight.size() != 2)
    return Why(why) << "linear expects a 2-D weight [out_features, "
                       "in_features], got weight of shape "
                    << format(weight);
  int64_t in = input.back(), out = weight[0];
  if (!compatible(in, weight[1])) {
    // PyTorch reports the input flattened to a matrix.
    std::optional<int64_t> rows = numElements(input.drop_back());
    return Why(why) << "mat1 and mat2 shapes cannot be multiplied ("
                    << (rows ? matrixStr(*rows, in) : format(input)) << " and "
                    << matrixStr(weight[1], out) << ")";
  }
  if (bias && !(bias->size() == 1 && compatible((*bias)[0], out)))
    return Why(why) << "expected bias of shape [" << dimStr(out)
                    << "] for weight of shape " << format(weight)
                    << ", got bias of shape " << format(*bias);
  Shape result(input.drop_back());
  result.push_back(out);
  return result;
}

FailureOr<Shape>
shape::conv2d(ArrayRef<int64_t> input, ArrayRef<int64_t> weight,
              std::optional<ArrayRef<int64_t>> bias, ArrayRef<int64_t> stride,
              ArrayRef<int64_t> padding, ArrayRef<int64_t> dilation,
              int64_t groups, std::string &why) {
  if (input.size() != 3 && input.size() != 4)
    return Why(why) << "Expected 3D (unbatched) or 4D (batched) input to "
                       "conv2d, but got input of size: "
                    << format(input);
  if (weight.size() != 4)
    return Why(why) << "expected a 4-D weight [out_channels, in_channels / "
                       "groups, kH, kW], got weight of size "
                    << format(weight);
  if (stride.size() != 2 || padding.size() != 2 || dilation.size() != 2)
    return Why(why) << "expected 2 values each for stride, padding and "
                       "dilation";
  if (groups < 1)
    return Why(why) << "non-positive groups is not supported";
  if (failed(checkAtLeast(stride, 1, "non-positive stride is not supported",
                          why)) ||
      failed(
          checkAtLeast(padding, 0, "negative padding is not supported", why)) ||
      failed(checkAtLeast(dilation, 1, "dilation should be greater than zero",
                          why)))
    return failure();
  int64_t outChannels = weight[0];
  if (!isDynamic(outChannels) && outChannels % groups != 0)
    return Why(why) << "Given groups=" << groups
                    << ", expected weight to be divisible by " << groups
                    << " at dimension 0, but got weight of size "
                    << format(weight) << " instead";
  size_t c = input.size() - 3;
  std::optional<int64_t> channels = llvm::checkedMul(weight[1], groups);
  if (!isDynamic(weight[1]) && (!channels || !compatible(input[c], *channels)))
    return Why(why) << "Given groups=" << groups << ", weight of size "
                    << format(weight) << ", expected input" << format(input)
                    << " to have "
                    << (channels ? std::to_string(*channels)
                                 : std::string("more than 2^63"))
                    << " channels, but got " << input[c] << " channels instead";
  if (bias && !(bias->size() == 1 && compatible((*bias)[0], outChannels)))
    return Why(why) << "Given weight of size " << format(weight)
                    << ", expected bias to be 1-dimensional with "
                    << dimStr(outChannels) << " elements, but got bias of size "
                    << format(*bias) << " instead";

  Shape result(input.take_front(c));
  result.push_back(outChannels);
  for (int i = 0; i < 2; ++i) {
    int64_t in = input[c + 1 + i], k = weight[2 + i];
    if (isDynamic(k)) {
      result.push_back(ShapedType::kDynamic);
      continue;
    }
    std::optional<int64_t> out =
        windowOutput(in, k, stride[i], padding[i], dilation[i]);
    if (!out)
      return Why(why) << kWindowOverflow;
    if (!isDynamic(*out) && *out < 1)
      return Why(why) << "Calculated padded input size per channel: ("
                      << in + 2 * padding[i] << "). Kernel size: ("
                      // (windowOutput computed both without overflow; the
                      // kernel's extent + 1 may still be 2^63.)
                      << static_cast<uint64_t>(dilation[i] * (k - 1)) + 1
                      << "). Kernel size can't be greater than actual input "
                         "size";
    result.push_back(*out);
  }
  return result;
}

FailureOr<Shape> shape::pool2d(ArrayRef<int64_t> input,
                               ArrayRef<int64_t> kernel,
                               ArrayRef<int64_t> stride,
                               ArrayRef<int64_t> padding, std::string &why) {
  if (input.size() != 3 && input.size() != 4)
    return Why(why) << "Expected 3D or 4D (batch mode) tensor for input, but "
                       "got input of size: "
                    << format(input);
  if (kernel.size() != 2 || stride.size() != 2 || padding.size() != 2)
    return Why(why) << "expected 2 values each for kernel_size, stride and "
                       "padding";
  if (failed(checkAtLeast(kernel, 1, "kernel size should be greater than zero",
                          why)) ||
      failed(
          checkAtLeast(stride, 1, "stride should be greater than zero", why)))
    return failure();
  for (int i = 0; i < 2; ++i)
    if (padding[i] < 0 || padding[i] > kernel[i] / 2)
      return Why(why) << "pad should be at most half of effective kernel "
                         "size, but got pad="
                      << padding[i] << ", kernel_size=" << kernel[i]
                      << " and dilation=1";
  size_t h = input.size() - 2;
  Shape result(input.take_front(h));
  for (int i = 0; i < 2; ++i) {
    std::optional<int64_t> out = windowOutput(
        input[h + i], kernel[i], stride[i], padding[i], /*dilation=*/1);
    if (!out)
      return Why(why) << kWindowOverflow;
    if (!isDynamic(*out) && *out < 1)
      return Why(why) << "Given input size " << format(input)
                      << ", the calculated output size is too small (kernel "
                         "size "
                      << kernel[i] << ", padding " << padding[i]
                      << " in dimension " << h + i << ")";
    result.push_back(*out);
  }
  return result;
}

FailureOr<Shape> shape::adaptiveAvgPool2d(ArrayRef<int64_t> input,
                                          ArrayRef<int64_t> outputSize,
                                          std::string &why) {
  if (input.size() != 3 && input.size() != 4)
    return Why(why) << "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but "
                       "got "
                    << format(input);
  if (outputSize.size() != 2)
    return Why(why) << "adaptive_avg_pool2d: output_size must be 2";
  if (failed(checkAtLeast(outputSize, 1,
                          "adaptive_avg_pool2d: elements of output_size must "
                          "be greater than 0",
                          why)))
    return failure();
  Shape result(input.drop_back(2));
  result.append(outputSize.begin(), outputSize.end());
  return result;
}

FailureOr<Shape> shape::reduce(ArrayRef<int64_t> input, ArrayRef<int64_t> dims,
                               bool keepdim, std::string &why) {
  int64_t rank = input.size();
  llvm::SmallVector<bool> reduced(rank, dims.empty());
  llvm::SmallSet<int64_t, 4> seen;
  for (int64_t d : dims) {
    FailureOr<int64_t> n = normalizeDim(d, rank, why);
    if (failed(n))
      return failure();
    if (!seen.insert(*n).second)
      return Why(why) << "dim " << *n
                      << " appears multiple times in the list of dims";
    if (rank > 0)
      reduced[*n] = true;
  }
  Shape result;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      result.push_back(input[i]);
    else if (keepdim)
      result.push_back(1);
  }
  return result;
}

FailureOr<Shape> shape::permute(ArrayRef<int64_t> input, ArrayRef<int64_t> dims,
                                std::string &why) {
  int64_t rank = input.size();
  if ((int64_t)dims.size() != rank)
    return Why(why) << "number of dimensions in the tensor input does not "
                       "match the length of the desired ordering of "
                       "dimensions i.e. input.dim() = "
                    << rank << " is not equal to len(dims) = " << dims.size();
  llvm::SmallVector<bool> used(rank, false);
  Shape result;
  for (int64_t d : dims) {
    FailureOr<int64_t> n = normalizeDim(d, rank, why);
    if (failed(n))
      return failure();
    if (used[*n])
      return Why(why) << "repeated dim in permute";
    used[*n] = true;
    result.push_back(input[*n]);
  }
  return result;
}

FailureOr<Shape> shape::reshape(ArrayRef<int64_t> input,
                                ArrayRef<int64_t> shape, std::string &why) {
  std::optional<size_t> inferred;
  int64_t known = 1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d == -1) {
      if (inferred)
        return Why(why) << "only one dimension can be inferred";
      inferred = i;
    } else if (d < 0) {
      return Why(why) << "invalid shape dimension " << d;
    } else if (std::optional<int64_t> k = llvm::checkedMul(known, d)) {
      known = *k;
    } else {
      return Why(why) << "shape '" << format(shape)
                      << "' is too large: its number of elements overflows "
                         "int64";
    }
  }
  std::optional<int64_t> elements = numElements(input);
  if (!elements)
    return Why(why) << "input of shape " << format(input)
                    << " is too large: its number of elements overflows int64";
  int64_t total = *elements;
  auto invalid = [&]() -> FailureOr<Shape> {
    return Why(why) << "shape '" << format(shape)
                    << "' is invalid for input of size " << total;
  };
  Shape result(shape);
  if (!inferred) {
    if (!isDynamic(total) && total != known)
      return invalid();
    return result;
  }
  if (known == 0)
    return Why(why) << "cannot reshape tensor of " << dimStr(total)
                    << " elements into shape " << format(shape)
                    << " because the unspecified dimension size -1 can be "
                       "any value and is ambiguous";
  if (isDynamic(total)) {
    result[*inferred] = ShapedType::kDynamic;
    return result;
  }
  if (total % known != 0)
    return invalid();
  result[*inferred] = total / known;
  return result;
}

FailureOr<Shape> shape::flatten(ArrayRef<int64_t> input, int64_t startDim,
                                int64_t endDim, std::string &why) {
  int64_t rank = input.size();
  FailureOr<int64_t> start = normalizeDim(startDim, rank, why);
  if (failed(start))
    return failure();
  FailureOr<int64_t> end = normalizeDim(endDim, rank, why);
  if (failed(end))
    return failure();
  if (*start > *end)
    return Why(why) << "flatten() has invalid args: start_dim cannot come "
                       "after end_dim";
  if (rank == 0)
    return Shape{1}; // A scalar flattens to a 1-element vector.
  std::optional<int64_t> flat =
      numElements(input.slice(*start, *end - *start + 1));
  if (!flat)
    return Why(why) << "flatten(): the flattened size of " << format(input)
                    << " overflows int64";
  Shape result(input.take_front(*start));
  result.push_back(*flat);
  result.append(input.begin() + *end + 1, input.end());
  return result;
}

FailureOr<Shape> shape::cat(ArrayRef<ArrayRef<int64_t>> inputs, int64_t dim,
                            std::string &why) {
  if (inputs.empty())
    return Why(why) << "torch.cat(): expected a non-empty list of Tensors";
  int64_t rank = inputs[0].size();
  for (auto [i, in] : llvm::enumerate(inputs)) {
    if (in.empty())
      return Why(why) << "zero-dimensional tensor (at position " << i
                      << ") cannot be concatenated";
    if ((int64_t)in.size() != rank)
      return Why(why) << "Tensors must have same number of dimensions: got "
                      << rank << " and " << in.size();
  }
  FailureOr<int64_t> d = normalizeDim(dim, rank, why);
  if (failed(d))
    return failure();
  Shape result(inputs[0]);
  result[*d] = 0;
  for (auto [i, in] : llvm::enumerate(inputs)) {
    for (int64_t j = 0; j < rank; ++j) {
      if (j == *d) {
        if (isDynamic(result[j]) || isDynamic(in[j])) {
          result[j] = ShapedType::kDynamic;
        } else if (std::optional<int64_t> sum = llvm::checkedAdd(result[j], in[j])) {
          result[j] = *sum;
        } else {
          return Why(why) << "torch.cat(): the size of the result in dimension "
                          << *d << " overflows int64";
        }
        continue;
      }
      if (!compatible(result[j], in[j]))
        return Why(why) << "Sizes of tensors must match except in dimension "
                        << *d << ". Expected size " << result[j]
                        << " but got size " << in[j] << " for tensor number "
                        << i << " in the list";
      if (isDynamic(result[j]))
        result[j] = in[j]; // Keep the most precise size.
    }
  }
  return result;
}

FailureOr<Shape> shape::embedding(ArrayRef<int64_t> indices,
                                  ArrayRef<int64_t> weight, std::string &why) {
  if (weight.size() != 2)
    return Why(why) << "'weight' must be 2-D, got weight of shape "
                    << format(weight);
  Shape result(indices);
  result.push_back(weight[1]);
  return result;
}

FailureOr<Shape> shape::batchNormStats(ArrayRef<int64_t> input,
                                       std::string &why) {
  if (input.size() < 2 || input.size() > 4)
    return Why(why) << "expected 2D, 3D or 4D input (got " << input.size()
                    << "D input)";
  Shape others(input);
  others.erase(others.begin() + 1);
  if (numElements(others) == std::optional<int64_t>(1))
    return Why(why) << "expected more than 1 value per channel when "
                       "training, got input of shape "
                    << format(input);
  return Shape{input[1]};
}

FailureOr<Shape> shape::batchNorm(ArrayRef<int64_t> input,
                                  ArrayRef<ArrayRef<int64_t>> perChannel,
                                  std::string &why) {
  if (input.size() < 2)
    return Why(why) << "expected an input with at least 2 dimensions [N, C, "
                       "...], got input of shape "
                    << format(input);
  for (ArrayRef<int64_t> p : perChannel)
    if (!(p.size() == 1 && compatible(p[0], input[1])))
      return Why(why) << "expected per-channel tensors of shape ["
                      << dimStr(input[1]) << "] for input of shape "
                      << format(input) << ", got " << format(p);
  return Shape(input);
}

FailureOr<Shape> shape::layerNorm(ArrayRef<int64_t> input,
                                  ArrayRef<int64_t> normalizedShape,
                                  std::optional<ArrayRef<int64_t>> weight,
                                  std::optional<ArrayRef<int64_t>> bias,
                                  std::string &why) {
  if (normalizedShape.empty())
    return Why(why) << "Expected normalized_shape to be at least "
                       "1-dimensional, i.e., containing at least one element, "
                       "but got normalized_shape = []";
  if (input.size() < normalizedShape.size() ||
      !compatible(input.take_back(normalizedShape.size()), normalizedShape)) {
    std::string expected = format(normalizedShape);
    return Why(why) << "Given normalized_shape=" << expected
                    << ", expected input with shape [*, " << expected.substr(1)
                    << ", but got input of size" << format(input);
  }
  for (auto [name, t] : {std::pair{"weight", weight}, std::pair{"bias", bias}})
    if (t && !compatible(*t, normalizedShape))
      return Why(why) << "Expected " << name
                      << " to be of same shape as normalized_shape, but got "
                      << name << " of shape " << format(*t)
                      << " and normalized_shape = " << format(normalizedShape);
  return Shape(input);
}
