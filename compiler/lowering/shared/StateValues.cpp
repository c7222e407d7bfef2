//===- StateValues.cpp - Compile-time values of constants -----------------===//

#include "lowering/shared/StateValues.h"

#include "llvm/Support/xxhash.h"

#include <random>

using namespace mlir;

namespace modelc::lowering {

FailureOr<DenseElementsAttr> constantValues(const mdl::StateInfo &state) {
  RankedTensorType type = state.type;
  Type elt = type.getElementType();
  std::mt19937_64 gen(llvm::xxh3_64bits(state.name));
  int64_t n = type.getNumElements();
  std::vector<double> values(n);
  ArrayRef<double> args = state.initArgs;
  if (state.init == "full") {
    std::fill(values.begin(), values.end(), args[0]);
  } else if (state.init == "uniform") {
    std::uniform_real_distribution<double> dist(args[0], args[1]);
    for (double &v : values)
      v = dist(gen);
  } else if (state.init == "normal") {
    std::normal_distribution<double> dist(args[0], args[1]);
    for (double &v : values)
      v = dist(gen);
  } else {
    return failure();
  }
  SmallVector<Attribute> attrs;
  attrs.reserve(n);
  for (double v : values) {
    if (auto ft = llvm::dyn_cast<FloatType>(elt))
      attrs.push_back(FloatAttr::get(ft, v));
    else if (elt.isInteger(1))
      attrs.push_back(IntegerAttr::get(elt, v != 0));
    else
      attrs.push_back(IntegerAttr::get(elt, int64_t(v)));
  }
  return DenseElementsAttr::get(type, attrs);
}

} // namespace modelc::lowering
