//===- Description.h - The model's table for the runtime ---------*- C++ -*-===//
//
// Every compiled library carries a description of its model
// (`modelc_generated_desc`, JSON; docs/ABI.md): the state entries with
// PyTorch's names, kinds, dtypes, shapes and initializers, the inputs and
// outputs, the values derived from parameters, and whether the code checks
// sizes at run time. The runtime reads it to own and check the model's
// state. It is a struct from the frontend's module until emission writes
// it, so that nothing re-parses what it produced.
//
//===----------------------------------------------------------------------===//

#ifndef MODELC_LOWERING_EMISSION_DESCRIPTION_H
#define MODELC_LOWERING_EMISSION_DESCRIPTION_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>
#include <vector>

namespace modelc::lowering {

struct TensorDescription {
  std::string name; // empty for outputs
  std::string dtype;
  std::vector<int64_t> shape; // -1: known only at run time
  /// The source's name of each dimension (nullopt: none); empty when the
  /// input's sizes carry no names.
  std::vector<std::optional<std::string>> dims;
};

struct StateDescription {
  std::string name;
  std::string kind; // parameter, buffer, nonpersistent_buffer
  std::string dtype;
  std::vector<int64_t> shape;
  std::string init;
  std::vector<double> initArgs;
  /// A parameter declared param(requires_grad=false).
  bool frozen = false;
};

struct ModelDescription {
  std::string name;
  std::string source; // the model file's name, for messages of failed checks
  std::string prefix;
  std::vector<StateDescription> states;
  std::vector<TensorDescription> inputs, outputs;
  /// The `loss` method's arguments; empty when the model has no loss
  /// (`hasLoss` tells a loss without arguments apart).
  std::vector<TensorDescription> lossInputs;
  bool hasLoss = false;
  /// Known once the code is lowered (completeDescription).
  std::vector<TensorDescription> derived;
  bool shapeChecks = false;
  /// Whether the forward functions take the instance's random stream
  /// (mdl::kRngArgAttr) after the derived values.
  bool rng = false;
  /// The training code sums over the ranks (mdl.all_reduce: --sync-batchnorm).
  bool allReduce = false;
  /// The CPU the code is for and the instruction sets it needs, which the
  /// runtime checks at create (CpuFeatures.def).
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  /// A portable library's other compilation of the CPU code (its entries
  /// suffixed kVariantSuffix): its CPU, instruction sets, derived values
  /// and checks, from its own completeDescription.
  struct Variant {
    std::string cpu;
    std::vector<std::string> cpuFeatures;
    std::vector<TensorDescription> derived;
    bool shapeChecks = false;
  };
  std::vector<Variant> variants;

  std::string toJson() const;
};

/// The safetensors spelling of an element type: F32, I64, BOOL, ...
std::string safetensorsDType(mlir::Type type);

/// The description of the (single) mdl.model in `module`, as far as the
/// model itself tells.
mlir::FailureOr<ModelDescription> describeModel(mlir::ModuleOp module, llvm::StringRef prefix);

/// Completes `desc` with what only the lowered code tells: the derived
/// values of `lowered` (mdl::kDerivedAttr, each named
/// "<kind>(<parameter>)"), whether it or `cudaModule` (may be null) still
/// calls the runtime's shape check, and whether the forward functions take
/// a random stream. Fails when a derived value names no state.
mlir::LogicalResult completeDescription(ModelDescription &desc, mlir::ModuleOp lowered,
                                        mlir::ModuleOp cudaModule);

} // namespace modelc::lowering

#endif // MODELC_LOWERING_EMISSION_DESCRIPTION_H
