// modelc.hpp - a thin C++17 RAII wrapper over modelc.h.
//
// Works from a modelc_api table, so the same code serves a model linked at
// build time and one loaded with dlopen:
//
//   MODELC_DECLARE_MODEL(TinyModel)                  // linked: -l / model.so
//   modelc::Model m(TinyModel_model_entry(), "cpu", /*seed=*/0);
//
//   modelc::Library lib("./model.so");               // loaded at run time
//   modelc::Model m(lib.api());
//
//   float x[6] = {...};
//   m.forward({modelc::Tensor::view(x, MODELC_F32, {3, 2})});
//   modelc_tensor y = m.output(0);
//
// Every failure throws modelc::Error with the runtime's message. A Model is
// movable, not copyable; it must not outlive the library it came from.
#ifndef MODELC_MODELC_HPP
#define MODELC_MODELC_HPP

#include "modelc/modelc.h"

#include <cstddef>
#include <cstdint>
#include <dlfcn.h>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace modelc {

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A tensor description for forward(): caller-owned data and shape.
struct Tensor {
  void *data = nullptr;
  modelc_dtype dtype = MODELC_F32;
  std::vector<int64_t> shape;

  static Tensor view(void *data, modelc_dtype dtype, std::vector<int64_t> shape) {
    return Tensor{data, dtype, std::move(shape)};
  }
};

/// One input of forward() or loss(), as listed by Model::inputs() and
/// Model::lossInputs().
struct IoInfo {
  std::string name;
  modelc_dtype dtype;
  std::vector<int64_t> shape; // -1: dynamic
};

/// The first ABI function a table of `size` bytes lacks (a library of an
/// older modelc), or nullptr when it has them all.
inline const char *firstMissingFunction(uint32_t size) {
#define MODELC_MISSING_(P, ret, fn, params)                                    \
  if (size < offsetof(modelc_api, fn) + sizeof(void (*)(void)))                \
    return #fn;
  MODELC_FOR_EACH_ABI_FUNCTION(MODELC_MISSING_, _)
#undef MODELC_MISSING_
  return nullptr;
}

/// One parameter or buffer, as listed by Model::states().
struct StateInfo {
  std::string name;
  modelc_state_kind kind;
  modelc_dtype dtype;
  std::vector<int64_t> shape;
  uint64_t nbytes;
};

/// A model library opened with dlopen(); closes it on destruction.
class Library {
public:
  explicit Library(const std::string &path) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_)
      throw Error("cannot load '" + path + "': " + dlerror());
    auto entry = reinterpret_cast<modelc_model_entry_fn>(
        dlsym(handle_, "modelc_model_entry"));
    api_ = entry ? entry() : nullptr;
    if (!api_ || api_->abi_version != MODELC_ABI_VERSION) {
      dlclose(handle_);
      throw Error("'" + path + "' is not a modelc model library of ABI version " +
                  std::to_string(MODELC_ABI_VERSION));
    }
    // Functions are appended to the table within one ABI version (trim
    // and the training functions were): a shorter table comes from an
    // older modelc and lacks some.
    if (api_->size < sizeof(modelc_api)) {
      uint32_t size = api_->size;
      dlclose(handle_);
      throw Error("'" + path + "' was built by an older modelc: its function "
                  "table has " + std::to_string(size) + " bytes, without " +
                  firstMissingFunction(size) + "; "
                  "this program needs " + std::to_string(sizeof(modelc_api)) +
                  " (compile the model again)");
    }
  }
  ~Library() {
    if (handle_)
      dlclose(handle_);
  }
  Library(const Library &) = delete;
  Library &operator=(const Library &) = delete;
  Library(Library &&other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)),
        api_(std::exchange(other.api_, nullptr)) {}

  const modelc_api *api() const { return api_; }

private:
  void *handle_ = nullptr;
  const modelc_api *api_ = nullptr;
};

class Model {
public:
  explicit Model(const modelc_api *api, const char *device = "cpu",
                 uint64_t seed = 0)
      : api_(api) {
    if (!api_)
      throw Error("modelc::Model: no model API table");
    model_ = api_->create(device, seed);
    if (!model_)
      throw Error(api_->last_error(nullptr));
  }
  ~Model() {
    if (model_)
      api_->destroy(model_);
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;
  Model(Model &&other) noexcept
      : api_(other.api_), model_(std::exchange(other.model_, nullptr)) {}
  Model &operator=(Model &&other) noexcept {
    std::swap(api_, other.api_);
    std::swap(model_, other.model_);
    return *this;
  }

  const char *name() const { return api_->name; }
  modelc_model *get() const { return model_; }
  const modelc_api *api() const { return api_; }

  void forward(const std::vector<Tensor> &inputs) {
    std::vector<modelc_tensor> raw = rawTensors(inputs);
    check(api_->forward(model_, raw.data(), static_cast<int32_t>(raw.size())));
  }
  int32_t numOutputs() const { return api_->num_outputs(model_); }
  /// Runtime-owned; valid until the next forward() or destruction.
  modelc_tensor output(int32_t index) const {
    modelc_tensor out;
    check(api_->get_output(model_, index, &out));
    return out;
  }

  void setTraining(bool training) { check(api_->set_training(model_, training)); }
  bool isTraining() const { return api_->is_training(model_) == 1; }

  /// Parameters, then buffers (PyTorch's order).
  std::vector<StateInfo> states() const {
    std::vector<StateInfo> result;
    for (int32_t i = 0, n = api_->num_states(model_); i < n; ++i) {
      modelc_state_info info;
      check(api_->state_info(model_, i, &info));
      result.push_back(StateInfo{info.name,
                                 static_cast<modelc_state_kind>(info.kind),
                                 static_cast<modelc_dtype>(info.dtype),
                                 std::vector<int64_t>(info.shape, info.shape + info.rank),
                                 info.nbytes});
    }
    return result;
  }
  void readState(const std::string &name, void *dst, size_t nbytes) const {
    check(api_->read_state(model_, name.c_str(), dst, nbytes));
  }
  void writeState(const std::string &name, const void *src, size_t nbytes) {
    check(api_->write_state(model_, name.c_str(), src, nbytes));
  }

  void loadState(const std::string &path, bool strict = true) {
    check(api_->load_state(model_, path.c_str(), strict));
  }
  void loadState(const void *data, size_t size, bool strict = true) {
    check(api_->load_state_from_memory(model_, data, size, strict));
  }
  void saveState(const std::string &path) const {
    check(api_->save_state(model_, path.c_str()));
  }
  std::string saveStateToMemory() const {
    void *data = nullptr;
    size_t size = 0;
    check(api_->save_state_to_memory(model_, &data, &size));
    std::string bytes(static_cast<const char *>(data), size);
    api_->free_buffer(data);
    return bytes;
  }

  void to(const char *device) { check(api_->to_device(model_, device)); }

  /// Gives the memory the library caches for reuse back to the system
  /// (shared by all its models; the last model's destruction does it too).
  void trim() { check(api_->trim(model_)); }
  std::string device() const { return api_->device(model_); }

  //===- Training (a model with a `loss` method) --------------------------===//

  /// "sgd", "adam" or "adamw"; options as JSON ({"lr": 0.1, "groups": [...]}).
  void setOptimizer(const std::string &name, const std::string &optionsJson = "") {
    check(api_->set_optimizer(model_, name.c_str(), optionsJson.c_str()));
  }
  /// group[name] = value in every parameter group (a learning-rate schedule).
  void setHyperparameter(const std::string &name, double value) {
    check(api_->set_hyperparameter(model_, name.c_str(), value));
  }
  void zeroGrad() { check(api_->zero_grad(model_)); }
  /// loss.backward(): adds the gradients; returns the loss.
  float lossBackward(const std::vector<Tensor> &inputs) {
    std::vector<modelc_tensor> raw = rawTensors(inputs);
    float loss = 0;
    check(api_->loss_backward(model_, raw.data(), static_cast<int32_t>(raw.size()), &loss));
    return loss;
  }
  void step() { check(api_->step(model_)); }
  /// zero_grad, loss_backward, step; returns the loss (before the update).
  float trainStep(const std::vector<Tensor> &inputs) {
    std::vector<modelc_tensor> raw = rawTensors(inputs);
    float loss = 0;
    check(api_->train_step(model_, raw.data(), static_cast<int32_t>(raw.size()), &loss));
    return loss;
  }
  void readGrad(const std::string &name, void *dst, size_t nbytes) const {
    check(api_->read_grad(model_, name.c_str(), dst, nbytes));
  }
  void writeGrad(const std::string &name, const void *src, size_t nbytes) {
    check(api_->write_grad(model_, name.c_str(), src, nbytes));
  }
  void setRequiresGrad(const std::string &name, bool flag) {
    check(api_->set_requires_grad(model_, name.c_str(), flag ? 1 : 0));
  }
  bool requiresGrad(const std::string &name) const {
    int32_t flag = api_->requires_grad(model_, name.c_str());
    check(flag < 0 ? -1 : 0);
    return flag == 1;
  }
  void saveOptimizerState(const std::string &path) const {
    check(api_->save_optimizer_state(model_, path.c_str()));
  }
  void loadOptimizerState(const std::string &path) {
    check(api_->load_optimizer_state(model_, path.c_str()));
  }
  std::string saveOptimizerStateToMemory() const {
    void *data = nullptr;
    size_t size = 0;
    check(api_->save_optimizer_state_to_memory(model_, &data, &size));
    std::string bytes(static_cast<const char *>(data), size);
    api_->free_buffer(data);
    return bytes;
  }
  void loadOptimizerState(const void *data, size_t size) {
    check(api_->load_optimizer_state_from_memory(model_, data, size));
  }
  /// The loss method's arguments (throws for a model without loss).
  std::vector<IoInfo> lossInputs() const {
    int32_t n = api_->num_loss_inputs(model_);
    check(n < 0 ? -1 : 0);
    std::vector<IoInfo> result;
    for (int32_t i = 0; i < n; ++i) {
      modelc_io_info info;
      check(api_->loss_input_info(model_, i, &info));
      result.push_back(IoInfo{info.name, static_cast<modelc_dtype>(info.dtype),
                              std::vector<int64_t>(info.shape, info.shape + info.rank)});
    }
    return result;
  }
  /// The gradients in place: every parameter's at gradOffset(name) bytes.
  std::pair<float *, size_t> gradBuffer() {
    void *data = nullptr;
    size_t nbytes = 0;
    check(api_->grad_buffer(model_, &data, &nbytes));
    return {static_cast<float *>(data), nbytes};
  }
  size_t gradOffset(const std::string &name) const {
    size_t offset = 0;
    check(api_->grad_offset(model_, name.c_str(), &offset));
    return offset;
  }

private:
  static std::vector<modelc_tensor> rawTensors(const std::vector<Tensor> &inputs) {
    std::vector<modelc_tensor> raw;
    raw.reserve(inputs.size());
    for (const Tensor &t : inputs)
      raw.push_back(modelc_tensor{t.data, t.dtype,
                                  static_cast<int32_t>(t.shape.size()),
                                  t.shape.data()});
    return raw;
  }

  void check(int32_t status) const {
    if (status != 0)
      throw Error(api_->last_error(model_));
  }

  const modelc_api *api_;
  modelc_model *model_ = nullptr;
};

} // namespace modelc

#endif // MODELC_MODELC_HPP
