//===- Optimizer.h - torch.optim's SGD, Adam and AdamW ---------------------===//
//
// The optimizer of a model that trains (docs/ABI.md, "Training"): PyTorch's
// update formulas of the default for-loop implementation (foreach=False),
// in float32 arithmetic as its CPU kernels compute them, with its defaults
// and its checks of the hyperparameters. Parameter groups are globs over the
// parameters' names; a parameter belongs to the first group that matches,
// else to the default group (the top-level options).
//
// The state is kept per parameter under PyTorch's names and saved as
// safetensors ("<parameter>.exp_avg", ...), with the optimizer's name and
// hyperparameters in __metadata__.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_OPTIMIZER_H
#define MODELC_RUNTIME_OPTIMIZER_H

#include "Model.h"

#include <memory>
#include <string>
#include <vector>

namespace modelc::rt {

enum class OptimizerKind { Sgd, Adam, AdamW };

/// One group's hyperparameters (torch.optim's defaults).
struct Hyperparameters {
  double lr = 0.001;
  double momentum = 0, dampening = 0; // SGD
  double weightDecay = 0;             // AdamW: 0.01
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8; // Adam, AdamW
  bool nesterov = false, maximize = false, amsgrad = false;
};

struct ParamGroup {
  /// The globs of an explicit group (fnmatch-style: * ? [...]); empty for
  /// the default group. `globList`: given as an array, not a string.
  std::vector<std::string> globs;
  bool globList = false;
  Hyperparameters hyper;
};

/// One parameter's state, as torch.optim's `state[p]`.
struct ParamState {
  bool initialized = false; // Adam: step, exp_avg, exp_avg_sq exist
  float step = 0;           // a float32 tensor in PyTorch
  std::vector<float> expAvg, expAvgSq, maxExpAvgSq;
  bool hasMax = false;
  std::vector<float> momentumBuffer;
  bool hasMomentum = false;
};

class Optimizer {
public:
  OptimizerKind kind = OptimizerKind::Sgd;
  /// The explicit groups in order, then the default group (last).
  std::vector<ParamGroup> groups;
  /// Per parameter (desc.parameters order): its group, its state.
  std::vector<size_t> groupOf;
  std::vector<ParamState> state;

  /// set_optimizer: `name` is "sgd", "adam" or "adamw"; `options` a JSON
  /// object (NULL or "" for the defaults). Null with the error (naming the
  /// option at fault) on failure.
  static std::unique_ptr<Optimizer> create(const ModelDesc &desc, const char *name,
                                           const char *options, std::string &error);
  /// group[name] = value for every group, checked as set_optimizer checks.
  bool setHyperparameter(const char *name, double value, std::string &error);
  /// optimizer.step(): updates every parameter that has a gradient.
  void step(modelc_model &model);

  const char *name() const;
  /// The hyperparameters as set_optimizer's options JSON (groups included).
  std::string hyperparametersJson() const;
  /// The state file: safetensors bytes.
  std::string serialize(const modelc_model &model) const;
  /// Reads a state file (all checked before anything is returned); `source`
  /// names it in messages.
  static std::unique_ptr<Optimizer> deserialize(const modelc_model &model,
                                                const unsigned char *bytes, size_t size,
                                                const std::string &source,
                                                std::string &error);
};

/// `value` in the fewest digits that read back as it ("0.001", "1e-08").
std::string formatShortest(double value);

} // namespace modelc::rt

#endif
