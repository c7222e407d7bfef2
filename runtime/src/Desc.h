//===- Desc.h - the model description the compiler embeds ------------------===//
//
// Generated code defines `modelc_generated_desc`, a NUL-terminated JSON text
// (docs/ABI.md):
//   {"name":..., "prefix":...,
//    "states":[{"name","kind","dtype","shape","init","init_args"}...],
//    "inputs":[{"name","dtype","shape"}...], "outputs":[{"dtype","shape"}...],
//    "loss_inputs":[{"name","dtype","shape"}...]}
// States are in PyTorch state_dict order; a size of -1 is dynamic. A
// parameter may say "requires_grad": false (frozen); "loss_inputs" is
// present exactly when the model has a `loss` method (training).
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_DESC_H
#define MODELC_RUNTIME_DESC_H

#include "support/DType.h"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace modelc::rt {

/// The values match modelc_state_kind in modelc.h.
enum class StateKind : int32_t { Parameter, Buffer, NonPersistentBuffer };

enum class InitKind { Full, Uniform, Normal };

struct StateDesc {
  std::string name;
  StateKind kind = StateKind::Parameter;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t numel = 0;
  uint64_t nbytes = 0;
  InitKind init = InitKind::Full;
  double initArgs[2] = {0, 0};
  /// Parameters: false for `param(requires_grad=false)` (the initial value
  /// of the model's own flag, which set_requires_grad changes).
  bool requiresGrad = true;

  /// Parameters and persistent buffers are in the state dict.
  bool isPersistent() const { return kind != StateKind::NonPersistentBuffer; }
};

struct TensorDesc {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape; // -1: dynamic
  /// Inputs: per dimension, the name of a dynamic size (`N` of f32[N, 4]),
  /// empty for the others; empty when the description names none. Sizes
  /// of one name must agree across the inputs.
  std::vector<std::string> dims;
};

/// Another compilation of the model's CPU code in the same library (a
/// portable library holds x86-64-v4 code beside the x86-64-v3 one): its
/// entries are the base ones' names with kVariantSuffix<i + 1>, its derived
/// values and checks its own ("variants" of the description).
struct VariantDesc {
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  std::vector<TensorDesc> derived;
  bool shapeChecks = false;
};

struct ModelDesc {
  std::string name;
  /// The model's source file, for messages of the generated code's shape
  /// checks; "model" when the description names none.
  std::string source = "model";
  /// The generated code checks sizes known only at run time
  /// (modelc_shape_check_failed): a training call that fails one must leave
  /// the buffers as they were.
  bool shapeChecks = false;
  /// The forward functions take the instance's random stream (dropout's
  /// draws) after the inputs: a memref<1xi64> the generated code advances.
  bool rng = false;
  std::string prefix;
  std::vector<StateDesc> states;  // state_dict order (the calling convention's)
  std::vector<TensorDesc> inputs;
  std::vector<TensorDesc> outputs; // named "output" or "output.<i>"
  /// Values the generated code derives from parameters (Winograd-transformed
  /// filters, packed Linear weights): computed by its prepare function whenever the state changed,
  /// passed to the CPU forward functions after the inputs. Static shapes.
  std::vector<TensorDesc> derived;
  /// The `loss` method's arguments ("loss_inputs"), when hasLoss.
  bool hasLoss = false;
  /// The CPU the code was compiled for and the instruction sets it needs
  /// ("cpu", "cpu_features"; CpuCheck.h).
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  /// The other compilations in the library, and which one this process
  /// runs: 0 the base code, i > 0 variants[i - 1], chosen once at load as
  /// the first this CPU can run (cpu, cpuFeatures, derived and shapeChecks
  /// above are then the chosen one's).
  std::vector<VariantDesc> variants;
  size_t variant = 0;
  /// The training code calls modelc_all_reduce_f32 (--sync-batchnorm).
  bool allReduce = false;
  std::vector<TensorDesc> lossInputs;
  /// What the generated loss_backward functions return: the loss (F32 []),
  /// then d loss / d parameter for every parameter in description order,
  /// named as the parameter, with its shape.
  std::vector<TensorDesc> lossResults;
  /// forward_backward's cotangent inputs ("grad_outputs": one per output,
  /// of its dtype and shape) and results (the outputs, then the gradients
  /// as in lossResults), when hasLoss.
  std::vector<TensorDesc> gradOutputs, forwardBackwardResults;
  /// Indices into `states` of the parameters, in description order
  /// (named_parameters()).
  std::vector<size_t> parameters;
  /// Indices into `states`: parameters, then buffers (PyTorch's listing).
  std::vector<size_t> listingOrder;
  /// State name -> index into `states`.
  std::unordered_map<std::string, size_t> stateIndex;
};

/// Parses and checks a description; `error` names the entry at fault.
bool parseModelDesc(const char *json, ModelDesc &desc, std::string &error);

/// The description of the model linked into this library, parsed once.
/// Null (with `error` set) if the embedded text is invalid.
const ModelDesc *linkedModelDesc(std::string &error);

} // namespace modelc::rt

#endif
