//===- Weights.cpp - Checking a state dict baked in with --weights --------===//
//
// `modelc --weights=state.safetensors` embeds a state dict in the library, to
// be loaded (strictly) at every create. It is checked here, with the
// runtime's own safetensors reader, so that a file that does not fit the
// model is a compile error, not a library that cannot create a model.
//
//===----------------------------------------------------------------------===//

#include "lowering/emission/Emission.h"

#include "mdl/IR/MdlOps.h"
#include "mdl/IR/ShapeInference.h"

#include "llvm/ADT/StringSet.h"

#include "support/SafeTensors.h"

#include <fmt/format.h>

using namespace mlir;

namespace modelc::lowering {

LogicalResult checkWeights(ModuleOp module, llvm::StringRef bytes, std::string &error) {
  std::vector<rt::SafeTensor> tensors;
  if (!rt::parseSafeTensors(reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size(),
                            tensors, error))
    return failure();
  llvm::StringMap<const rt::SafeTensor *> byName;
  for (const rt::SafeTensor &t : tensors)
    byName[t.name] = &t;
  std::vector<std::string> problems;
  llvm::StringSet<> expected;
  for (mdl::ModelOp model : module.getOps<mdl::ModelOp>()) {
    for (const mdl::StateInfo &s : mdl::getStates(model)) {
      if (s.kind != mdl::StateKind::Parameter && s.kind != mdl::StateKind::PersistentBuffer)
        continue;
      expected.insert(s.name);
      const rt::SafeTensor *t = byName.lookup(s.name);
      // What loads is what the runtime's load_state accepts (the rules of
      // PyTorch's load_state_dict, support/SafeTensors.h): the library
      // loads these weights strictly at every create.
      if (!t) {
        if (!rt::stateMayBeMissing(s.name.str()))
          problems.push_back(fmt::format("missing key '{}'", s.name.str()));
        continue;
      }
      std::vector<int64_t> shape(s.type.getShape().begin(), s.type.getShape().end());
      rt::DType dtype;
      std::string dtypeName = safetensorsDType(s.type.getElementType());
      if (!rt::savedShapeLoads(t->shape, shape))
        problems.push_back(fmt::format("size mismatch for {}: the file has shape {}, the model {}",
                                       s.name.str(), mdl::shape::format(t->shape),
                                       mdl::shape::format(s.type.getShape())));
      else if (!rt::parseDType(dtypeName, dtype) || !rt::savedDTypeLoads(t->dtype, dtype))
        problems.push_back(fmt::format("dtype mismatch for {}: the file has {}, the model {}",
                                       s.name.str(), rt::dtypeName(t->dtype), dtypeName));
    }
  }
  for (const rt::SafeTensor &t : tensors)
    if (!expected.contains(t.name))
      problems.push_back(fmt::format("unexpected key '{}'", t.name));
  if (problems.empty())
    return success();
  error = problems.front();
  for (size_t i = 1; i < problems.size(); ++i)
    error += "; " + problems[i];
  return failure();
}

} // namespace modelc::lowering
