//===- Model.cpp - creating a model and calling its forward function ------===//
#include "Model.h"

#include "Alloc.h"

#include "Cuda.h"
#include "GeneratedSymbols.h"
#include "Rng.h"
#include "support/Format.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace modelc::rt {

void *allocateAligned(uint64_t nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment.
  uint64_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0)
    rounded = 64;
  if (rounded < nbytes)
    return nullptr;
  return std::aligned_alloc(64, rounded);
}

namespace {
/// The largest CUDA ordinal accepted: deviceName() has a string for each.
constexpr int kMaxCudaOrdinal = 255;
} // namespace

bool parseDevice(const char *device, int &ordinal, std::string &error) {
  ordinal = kCpu;
  if (!device || std::strcmp(device, "cpu") == 0)
    return true;
  if (std::strncmp(device, "cuda", 4) != 0 ||
      (device[4] != '\0' && device[4] != ':')) {
    error = format("unknown device '%s' (expected 'cpu' or 'cuda')", device);
    return false;
  }
  if (!cuda::libraryHasCuda()) {
    error = format("cannot use device '%s': this model was compiled for the "
                   "CPU only (compile it with --target=cuda)", device);
    return false;
  }
  if (device[4] == '\0') {
    ordinal = 0;
    return true;
  }
  const char *digits = device + 5;
  size_t length = std::strlen(digits);
  bool ok = length > 0 && length <= 3;
  int value = 0;
  for (size_t i = 0; ok && i < length; ++i) {
    ok = digits[i] >= '0' && digits[i] <= '9';
    value = value * 10 + (digits[i] - '0');
  }
  if (!ok || value > kMaxCudaOrdinal) {
    error = format("unknown device '%s' (expected 'cpu', 'cuda' or 'cuda:N', "
                   "N a device number)", device);
    return false;
  }
  ordinal = value;
  return true;
}

const char *deviceName(int ordinal) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int i = 0; i <= kMaxCudaOrdinal; ++i)
      v.push_back(format("cuda:%d", i));
    return v;
  }();
  if (ordinal < 0 || ordinal > kMaxCudaOrdinal)
    return "cpu";
  return names[static_cast<size_t>(ordinal)].c_str();
}

namespace {

/// parseDevice, then opens the driver and the device when it is a GPU.
bool openTarget(const char *device, int &ordinal, std::string &error) {
  if (!parseDevice(device, ordinal, error))
    return false;
  std::string why;
  if (ordinal != kCpu && !cuda::openDevice(ordinal, why)) {
    error = format("cannot use device '%s': %s", device, why.c_str());
    return false;
  }
  return true;
}

/// Frees the device memory of `model` (on the GPU `ordinal`).
void releaseDeviceMemory(modelc_model &model, int ordinal) {
  if (ordinal == kCpu)
    return;
  cuda::DeviceScope scope(ordinal);
  for (uint64_t p : model.deviceState)
    cuda::release(p);
  for (DeviceBuffer &b : model.deviceInputs)
    cuda::release(b.ptr);
  model.deviceState.clear();
  model.deviceInputs.clear();
}

/// Copies the device state of `model` into its staging memory.
bool downloadState(const modelc_model &model, std::string &error) {
  int ordinal = model.device;
  if (ordinal == kCpu)
    return true;
  const ModelDesc &desc = *model.desc;
  cuda::DeviceScope scope(ordinal);
  for (size_t i = 0; i < desc.states.size(); ++i) {
    std::string why;
    if (!cuda::download(model.stateData[i], model.deviceState[i],
                        desc.states[i].nbytes, why)) {
      error = format("cannot copy state '%s' from %s: %s",
                     desc.states[i].name.c_str(), deviceName(ordinal),
                     why.c_str());
      return false;
    }
  }
  return true;
}

/// Moves the state from the staging memory to `ordinal` (or just switches
/// to the CPU), freeing the old device memory: on failure nothing changes.
bool placeState(modelc_model &model, int ordinal, std::string &error) {
  const ModelDesc &desc = *model.desc;
  std::vector<uint64_t> fresh;
  if (ordinal != kCpu) {
    cuda::DeviceScope scope(ordinal);
    for (size_t i = 0; i < desc.states.size(); ++i) {
      const StateDesc &state = desc.states[i];
      uint64_t ptr = 0;
      std::string why;
      bool ok = cuda::allocate(state.nbytes, ptr, why);
      if (ok)
        fresh.push_back(ptr);
      if (ok && !cuda::upload(ptr, model.stateData[i], state.nbytes, why))
        ok = false;
      if (!ok) {
        error = format("cannot move state '%s' (%llu bytes) to %s: %s",
                       state.name.c_str(),
                       static_cast<unsigned long long>(state.nbytes),
                       deviceName(ordinal), why.c_str());
        for (uint64_t p : fresh)
          cuda::release(p);
        return false;
      }
    }
  }
  releaseDeviceMemory(model, model.device);
  model.deviceState = std::move(fresh);
  model.deviceInputs.assign(ordinal == kCpu ? 0 : desc.inputs.size(),
                            DeviceBuffer());
  model.device = ordinal;
  return true;
}

} // namespace

modelc_model *createModel(const char *device, uint64_t seed,
                          std::string &error) {
  int ordinal;
  if (!openTarget(device, ordinal, error))
    return nullptr;
  const ModelDesc *desc = linkedModelDesc(error);
  if (!desc)
    return nullptr;
  auto *model = new (std::nothrow) modelc_model();
  if (!model) {
    error = "out of memory";
    return nullptr;
  }
  model->desc = desc;
  model->outputs.resize(desc->outputs.size());
  Rng rng(seed);
  for (const StateDesc &state : desc->states) {
    void *data = allocateAligned(state.nbytes);
    if (!data) {
      error = format("out of memory allocating state '%s' (%llu bytes)",
                     state.name.c_str(),
                     static_cast<unsigned long long>(state.nbytes));
      delete model;
      return nullptr;
    }
    model->stateData.push_back(data);
    initializeState(state, rng, data);
  }
  // After the state's draws, so that adding dropout changes no initial value.
  model->randomStream = static_cast<int64_t>(rng.next());
  if (!desc->derived.empty() && !modelc_generated_prepare) {
    error = "invalid model library: it lists derived values but has no prepare entry";
    delete model;
    return nullptr;
  }
  for (const TensorDesc &d : desc->derived) {
    uint64_t nbytes = 0;
    void *data = computeNumBytes(d.shape, d.dtype, nbytes) ? allocateAligned(nbytes) : nullptr;
    if (!data) {
      error = format("out of memory allocating '%s' (%llu bytes)", d.name.c_str(),
                     static_cast<unsigned long long>(nbytes));
      delete model;
      return nullptr;
    }
    model->derivedData.push_back(data);
  }
  if (modelc_generated_weights_size != 0 &&
      !loadStateDict(*model, modelc_generated_weights, modelc_generated_weights_size,
                     /*strict=*/true, "the weights compiled in with --weights", error)) {
    delete model;
    return nullptr;
  }
  if (!placeState(*model, ordinal, error)) {
    delete model;
    return nullptr;
  }
  return model;
}

bool moveToDevice(modelc_model &model, const char *device, std::string &error) {
  int ordinal;
  if (!openTarget(device, ordinal, error))
    return false;
  if (ordinal == model.device)
    return true;
  model.derivedStale = true; // the state comes back from the device changed
  return downloadState(model, error) && placeState(model, ordinal, error);
}

bool readStateEntry(const modelc_model &model, size_t index, void *dst,
                    std::string &error) {
  const StateDesc &state = model.desc->states[index];
  int ordinal = model.device;
  if (ordinal == kCpu) {
    if (state.nbytes)
      std::memcpy(dst, model.stateData[index], state.nbytes);
    return true;
  }
  cuda::DeviceScope scope(ordinal);
  std::string why;
  if (cuda::download(dst, model.deviceState[index], state.nbytes, why))
    return true;
  error = format("cannot copy '%s' from %s: %s", state.name.c_str(),
                 deviceName(ordinal), why.c_str());
  return false;
}

bool writeStateEntry(modelc_model &model, size_t index, const void *src,
                     std::string &error) {
  const StateDesc &state = model.desc->states[index];
  int ordinal = model.device;
  model.derivedStale = true;
  if (ordinal == kCpu) {
    if (state.nbytes)
      std::memcpy(model.stateData[index], src, state.nbytes);
    return true;
  }
  cuda::DeviceScope scope(ordinal);
  std::string why;
  if (cuda::upload(model.deviceState[index], src, state.nbytes, why))
    return true;
  error = format("cannot copy '%s' to %s: %s", state.name.c_str(),
                 deviceName(ordinal), why.c_str());
  return false;
}

bool syncStateToHost(const modelc_model &model, std::string &error) {
  return downloadState(model, error);
}

int64_t findState(const modelc_model &model, const char *name,
                  std::string &error) {
  if (!name) {
    error = "the state name is NULL";
    return -1;
  }
  auto it = model.desc->stateIndex.find(name);
  if (it == model.desc->stateIndex.end()) {
    error = format("'%s' is not a parameter or buffer of %s", name,
                   model.desc->name.c_str());
    return -1;
  }
  return static_cast<int64_t>(it->second);
}

namespace {

std::vector<int64_t> shapeOf(const modelc_tensor &t) {
  if (t.rank <= 0 || !t.shape)
    return {};
  return std::vector<int64_t>(t.shape, t.shape + t.rank);
}

bool checkInput(const TensorDesc &expected, const modelc_tensor &t,
                std::string &error) {
  const char *name = expected.name.c_str();
  if (!isValidDType(t.dtype)) {
    error = format("input '%s' has an invalid dtype code %d", name, t.dtype);
    return false;
  }
  DType dtype = static_cast<DType>(t.dtype);
  if (dtype != expected.dtype) {
    error = format("input '%s' has dtype %s, expected %s", name,
                   dtypeName(dtype), dtypeName(expected.dtype));
    return false;
  }
  if (t.rank > 0 && !t.shape) {
    error = format("input '%s' has rank %d but a NULL shape", name, t.rank);
    return false;
  }
  // The rank first: until it matches, `t.shape` may hold fewer sizes than
  // t.rank claims, and reading them would run past the caller's array.
  // (Formatted only for a message: forward checks every call.)
  auto want = [&] { return formatShape(expected.shape); };
  if (t.rank < 0 || static_cast<size_t>(t.rank) != expected.shape.size()) {
    error = format("input '%s' has rank %d, expected rank %zu (shape %s)",
                   name, t.rank, expected.shape.size(), want().c_str());
    return false;
  }
  std::vector<int64_t> shape = shapeOf(t);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) {
      error = format("input '%s' has a negative size in shape %s", name,
                     formatShape(shape).c_str());
      return false;
    }
    if (expected.shape[d] >= 0 && shape[d] != expected.shape[d]) {
      error = format("input '%s' has shape %s, expected %s (dimension %zu is "
                     "%lld, expected %lld)", name, formatShape(shape).c_str(),
                     want().c_str(), d, static_cast<long long>(shape[d]),
                     static_cast<long long>(expected.shape[d]));
      return false;
    }
  }
  uint64_t nbytes;
  if (!computeNumBytes(shape, dtype, nbytes)) {
    error = format("input '%s' is too large (shape %s)", name,
                   formatShape(shape).c_str());
    return false;
  }
  if (nbytes > 0 && !t.data) {
    error = format("input '%s' has NULL data", name);
    return false;
  }
  return true;
}

/// A memref descriptor lives in int64 words: allocated, aligned, offset,
/// sizes[rank], strides[rank].
size_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

void fillDescriptor(int64_t *words, void *data,
                    const std::vector<int64_t> &shape) {
  std::memcpy(&words[0], &data, sizeof(void *));
  std::memcpy(&words[1], &data, sizeof(void *));
  words[2] = 0;
  size_t rank = shape.size();
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    words[3 + d] = shape[d];
    words[3 + rank + d] = stride;
    stride *= shape[d];
  }
}

void *wordAsPointer(int64_t word) {
  void *p;
  std::memcpy(&p, &word, sizeof(void *));
  return p;
}

/// Copies a (possibly strided) memref into dense row-major `dst`.
void copyStrided(char *dst, const char *base, size_t elementSize,
                 const std::vector<int64_t> &sizes,
                 const std::vector<int64_t> &strides) {
  size_t rank = sizes.size();
  bool contiguous = true;
  int64_t expected = 1;
  uint64_t numel = 1;
  for (size_t d = rank; d-- > 0;) {
    if (sizes[d] != 1 && strides[d] != expected)
      contiguous = false;
    expected *= sizes[d];
    numel *= static_cast<uint64_t>(sizes[d]);
  }
  if (numel == 0)
    return;
  if (contiguous) {
    std::memcpy(dst, base, numel * elementSize);
    return;
  }
  std::vector<int64_t> index(rank, 0);
  for (uint64_t i = 0; i < numel; ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d)
      offset += index[d] * strides[d];
    std::memcpy(dst + i * elementSize,
                base + offset * static_cast<int64_t>(elementSize), elementSize);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < sizes[d])
        break;
      index[d] = 0;
    }
  }
}

// MLIR lowers memref.get_global (a constant returned as is) to a descriptor
// whose allocated pointer is this marker: it was never malloc'ed.
void *const kGlobalMarker = reinterpret_cast<void *>(0xdeadbeef);

/// The packed arguments of one generated call (docs/ABI.md): a descriptor
/// per state and input, and the zero-filled results struct.
struct PackedCall {
  std::vector<int64_t> argWords;
  std::vector<int64_t> results;
  std::vector<size_t> resultOffsets;
  std::vector<void *> args;
};

/// Lays out the descriptors of the states at `stateData`, of the inputs
/// (shaped as `inputs`) at `inputData`, of the random stream at
/// `randomStream` when the model draws (desc.rng; host memory on every
/// device) and, when given (the CPU forward functions take them), of the
/// derived values at `derivedData`.
void packCall(const ModelDesc &desc, const std::vector<void *> &stateData,
              const std::vector<void *> &inputData,
              const modelc_tensor *inputs, int64_t *randomStream,
              const std::vector<void *> *derivedData, PackedCall &call) {
  static const std::vector<int64_t> kStreamShape = {1};
  size_t numStates = desc.states.size();
  size_t numInputs = desc.inputs.size();
  size_t numRng = desc.rng ? 1 : 0;
  size_t numDerived = derivedData ? desc.derived.size() : 0;
  // Reused call after call: a batch of one spends more on allocating
  // these than on its layers.
  thread_local std::vector<size_t> argOffsets;
  argOffsets.clear();
  call.resultOffsets.clear();
  size_t words = 0;
  for (const StateDesc &s : desc.states) {
    argOffsets.push_back(words);
    words += descriptorWords(s.shape.size());
  }
  for (const TensorDesc &in : desc.inputs) {
    argOffsets.push_back(words);
    words += descriptorWords(in.shape.size());
  }
  if (numRng) {
    argOffsets.push_back(words);
    words += descriptorWords(1);
  }
  for (size_t i = 0; i < numDerived; ++i) {
    argOffsets.push_back(words);
    words += descriptorWords(desc.derived[i].shape.size());
  }
  call.argWords.assign(words, 0);
  size_t resultWordCount = 0;
  for (const TensorDesc &out : desc.outputs) {
    call.resultOffsets.push_back(resultWordCount);
    resultWordCount += descriptorWords(out.shape.size());
  }
  call.results.assign(resultWordCount + 1, 0);
  call.args.assign(1 + numStates + numInputs + numRng + numDerived, nullptr);
  call.args[0] = call.results.data();
  for (size_t i = 0; i < numStates; ++i) {
    int64_t *d = &call.argWords[argOffsets[i]];
    fillDescriptor(d, stateData[i], desc.states[i].shape);
    call.args[1 + i] = d;
  }
  for (size_t i = 0; i < numInputs; ++i) {
    int64_t *d = &call.argWords[argOffsets[numStates + i]];
    fillDescriptor(d, inputData[i], shapeOf(inputs[i]));
    call.args[1 + numStates + i] = d;
  }
  if (numRng) {
    int64_t *d = &call.argWords[argOffsets[numStates + numInputs]];
    fillDescriptor(d, randomStream, kStreamShape);
    call.args[1 + numStates + numInputs] = d;
  }
  for (size_t i = 0; i < numDerived; ++i) {
    int64_t *d = &call.argWords[argOffsets[numStates + numInputs + numRng + i]];
    fillDescriptor(d, (*derivedData)[i], desc.derived[i].shape);
    call.args[1 + numStates + numInputs + numRng + i] = d;
  }
}

/// Recomputes the derived values from the state when it changed since they
/// were last computed: `modelc_generated_prepare(states..., derived...)`.
void prepareDerived(modelc_model &model) {
  const ModelDesc &desc = *model.desc;
  if (!model.derivedStale || desc.derived.empty())
    return;
  std::vector<int64_t> words;
  std::vector<size_t> offsets;
  for (const StateDesc &s : desc.states) {
    offsets.push_back(words.size());
    words.resize(words.size() + descriptorWords(s.shape.size()));
  }
  for (const TensorDesc &d : desc.derived) {
    offsets.push_back(words.size());
    words.resize(words.size() + descriptorWords(d.shape.size()));
  }
  std::vector<void *> args;
  for (size_t i = 0; i < desc.states.size(); ++i) {
    fillDescriptor(&words[offsets[i]], model.stateData[i], desc.states[i].shape);
    args.push_back(&words[offsets[i]]);
  }
  for (size_t i = 0; i < desc.derived.size(); ++i) {
    size_t at = offsets[desc.states.size() + i];
    fillDescriptor(&words[at], model.derivedData[i], desc.derived[i].shape);
    args.push_back(&words[at]);
  }
  modelc_generated_prepare(args.data());
  model.derivedStale = false;
}

/// Result `j` of a generated call, as its descriptor says.
struct ResultView {
  void *allocated;
  const char *data; // aligned + offset elements
  std::vector<int64_t> sizes, strides;
};

ResultView resultView(const ModelDesc &desc, const PackedCall &call, size_t j) {
  const int64_t *d = &call.results[call.resultOffsets[j]];
  size_t rank = desc.outputs[j].shape.size();
  size_t elementSize = dtypeSize(desc.outputs[j].dtype);
  ResultView view;
  view.allocated = wordAsPointer(d[0]);
  // Pointer arithmetic on an integer: on a GPU this is a device address.
  view.data = reinterpret_cast<const char *>(
      reinterpret_cast<uintptr_t>(wordAsPointer(d[1])) +
      static_cast<uintptr_t>(d[2] * static_cast<int64_t>(elementSize)));
  view.sizes.assign(d + 3, d + 3 + rank);
  view.strides.assign(d + 3 + rank, d + 3 + 2 * rank);
  return view;
}

/// Checks result `j`'s sizes against the description and makes its output
/// slot large enough; `nbytes` is its dense size.
bool prepareOutput(modelc_model &model, size_t j,
                   const std::vector<int64_t> &sizes, uint64_t &nbytes,
                   std::string &error) {
  const TensorDesc &out = model.desc->outputs[j];
  OutputTensor &slot = model.outputs[j];
  bool shapeOk = true;
  for (size_t k = 0; k < sizes.size(); ++k)
    shapeOk = shapeOk && sizes[k] >= 0 &&
              (out.shape[k] < 0 || sizes[k] == out.shape[k]);
  if (!shapeOk || !computeNumBytes(sizes, out.dtype, nbytes)) {
    error = format("internal error: the generated code returned %s with "
                   "shape %s, the description says %s", out.name.c_str(),
                   formatShape(sizes).c_str(), formatShape(out.shape).c_str());
    return false;
  }
  if (nbytes > slot.capacity || !slot.data) {
    std::free(slot.data);
    slot.data = allocateAligned(nbytes);
    slot.capacity = slot.data ? nbytes : 0;
    if (!slot.data) {
      error = format("out of memory copying %s (%llu bytes)", out.name.c_str(),
                     static_cast<unsigned long long>(nbytes));
      return false;
    }
  }
  slot.shape = sizes;
  return true;
}

/// A shape check of the generated code that failed in this thread's
/// current forward call (kShapeCheckFailedFn of the compiler): the first.
struct ShapeCheckFailure {
  bool failed = false;
  int64_t line = 0, column = 0, elements = 0, size = 0;
  int64_t kind = 0; // 0, 1: a reshape's count; 2: two sizes that differ
};
thread_local ShapeCheckFailure shapeCheck;

/// Saves every buffer's bytes into `saved` (one after another), or with
/// save = false copies them back.
void copyBuffers(modelc_model &model, std::vector<char> &saved, bool save) {
  const ModelDesc &desc = *model.desc;
  size_t at = 0;
  for (size_t i = 0; i < desc.states.size(); ++i) {
    if (desc.states[i].kind == StateKind::Parameter)
      continue;
    size_t n = desc.states[i].nbytes;
    if (save) {
      saved.resize(at + n);
      std::memcpy(saved.data() + at, model.stateData[i], n);
    } else {
      std::memcpy(model.stateData[i], saved.data() + at, n);
    }
    at += n;
  }
}

/// Whether the call just made failed a shape check; if so, its message.
bool shapeCheckFailed(const ModelDesc &desc, std::string &error) {
  if (!shapeCheck.failed)
    return false;
  const ShapeCheckFailure &f = shapeCheck;
  long long line = f.line, column = f.column, a = f.elements, b = f.size;
  const char *source = desc.source.c_str();
  switch (f.kind) {
  case 0:
    error = format("%s:%lld:%lld: reshape: the input has %lld elements, but the shape holds %lld",
                   source, line, column, a, b);
    break;
  case 1:
    error = format("%s:%lld:%lld: reshape: the input's %lld elements are not a multiple of "
                   "%lld, the product of the sizes besides -1",
                   source, line, column, a, b);
    break;
  default:
    error = format("%s:%lld:%lld: the operands' sizes %lld and %lld of one dimension differ "
                   "(a size known only at run time must equal the size it meets)",
                   source, line, column, a, b);
  }
  return true;
}

bool runOnCpu(modelc_model &model, const modelc_tensor *inputs,
              std::string &error) {
  const ModelDesc &desc = *model.desc;
  // Scratch reused call after call in this thread (a forward never calls
  // another): a batch of one spends more on allocating it than on its layers.
  thread_local std::vector<void *> inputData, passedIn, toFree;
  thread_local PackedCall call;
  inputData.clear();
  for (size_t i = 0; i < desc.inputs.size(); ++i)
    inputData.push_back(inputs[i].data);
  prepareDerived(model);
  packCall(desc, model.stateData, inputData, inputs, &model.randomStream, &model.derivedData,
           call);
  passedIn.assign(model.stateData.begin(), model.stateData.end()); // never to be freed
  passedIn.insert(passedIn.end(), inputData.begin(), inputData.end());
  passedIn.insert(passedIn.end(), model.derivedData.begin(), model.derivedData.end());

  // The buffers as they were, for a training call that fails a shape check
  // (the generated code writes them at its end).
  thread_local std::vector<char> buffersBefore;
  bool keepBuffers = model.training && desc.shapeChecks;
  if (keepBuffers)
    copyBuffers(model, buffersBefore, /*save=*/true);
  shapeCheck = ShapeCheckFailure();
  if (model.training)
    modelc_generated_forward_train(call.args.data());
  else
    modelc_generated_forward_eval(call.args.data());
  if (keepBuffers && shapeCheck.failed)
    copyBuffers(model, buffersBefore, /*save=*/false);

  // Copy every result out, then free what the generated code allocated:
  // each allocation once, never memory that was passed in. (None is
  // copied when a shape check failed.)
  bool ok = !shapeCheckFailed(desc, error);
  toFree.clear();
  for (size_t j = 0; j < desc.outputs.size(); ++j) {
    ResultView view = resultView(desc, call, j);
    bool owned = view.allocated && view.allocated != kGlobalMarker;
    for (void *p : passedIn)
      owned = owned && p != view.allocated;
    for (void *p : toFree)
      owned = owned && p != view.allocated;
    if (owned)
      toFree.push_back(view.allocated);
    uint64_t nbytes;
    if (!ok || !prepareOutput(model, j, view.sizes, nbytes, error)) {
      ok = false;
      continue;
    }
    size_t elementSize = dtypeSize(desc.outputs[j].dtype);
    copyStrided(static_cast<char *>(model.outputs[j].data), view.data,
                elementSize, view.sizes, view.strides);
  }
  for (void *p : toFree)
    freeGenerated(p);
  return ok;
}

/// Downloads result `view` (device memory, any non-negative strides) into
/// output slot `j`, prepared for `nbytes`.
bool downloadResult(modelc_model &model, size_t j, const ResultView &view,
                    uint64_t nbytes, std::string &error) {
  if (nbytes == 0)
    return true;
  size_t elementSize = dtypeSize(model.desc->outputs[j].dtype);
  char *dst = static_cast<char *>(model.outputs[j].data);
  uint64_t device = reinterpret_cast<uintptr_t>(view.data);
  // The elements the view spans, from its first one.
  uint64_t span = 1;
  bool contiguous = true;
  int64_t expected = 1;
  for (size_t d = view.sizes.size(); d-- > 0;) {
    if (view.strides[d] < 0) {
      error = format("internal error: the generated code returned %s with a "
                     "negative stride", model.desc->outputs[j].name.c_str());
      return false;
    }
    if (view.sizes[d] != 1 && view.strides[d] != expected)
      contiguous = false;
    expected *= view.sizes[d];
    span += static_cast<uint64_t>(view.sizes[d] - 1) *
            static_cast<uint64_t>(view.strides[d]);
  }
  if (contiguous)
    return cuda::download(dst, device, nbytes, error);
  std::vector<char> staging(span * elementSize);
  if (!cuda::download(staging.data(), device, staging.size(), error))
    return false;
  copyStrided(dst, staging.data(), elementSize, view.sizes, view.strides);
  return true;
}

bool runOnCuda(modelc_model &model, const modelc_tensor *inputs,
               std::string &error) {
  const ModelDesc &desc = *model.desc;
  int ordinal = model.device;
  cuda::DeviceScope scope(ordinal);
  std::string why;
  std::vector<void *> inputData;
  for (size_t i = 0; i < desc.inputs.size(); ++i) {
    uint64_t nbytes = 0;
    computeNumBytes(shapeOf(inputs[i]), desc.inputs[i].dtype, nbytes);
    DeviceBuffer &buffer = model.deviceInputs[i];
    if (nbytes > buffer.capacity || !buffer.ptr) {
      cuda::release(buffer.ptr);
      buffer = DeviceBuffer();
      if (!cuda::allocate(nbytes, buffer.ptr, why)) {
        error = format("forward: cannot allocate %llu bytes on %s for input "
                       "'%s': %s", static_cast<unsigned long long>(nbytes),
                       deviceName(ordinal), desc.inputs[i].name.c_str(),
                       why.c_str());
        return false;
      }
      buffer.capacity = nbytes;
    }
    if (!cuda::upload(buffer.ptr, inputs[i].data, nbytes, why)) {
      error = format("forward: cannot copy input '%s' to %s: %s",
                     desc.inputs[i].name.c_str(), deviceName(ordinal),
                     why.c_str());
      return false;
    }
    inputData.push_back(reinterpret_cast<void *>(buffer.ptr));
  }
  std::vector<void *> stateData;
  for (uint64_t p : model.deviceState)
    stateData.push_back(reinterpret_cast<void *>(p));
  PackedCall call;
  packCall(desc, stateData, inputData, inputs, &model.randomStream, /*derivedData=*/nullptr,
           call);

  cuda::beginGeneratedCall();
  shapeCheck = ShapeCheckFailure();
  if (model.training)
    modelc_generated_cuda_forward_train(call.args.data());
  else
    modelc_generated_cuda_forward_eval(call.args.data());
  // What the generated code allocated and did not free: its results.
  std::vector<uint64_t> allocations;
  bool ok = cuda::endGeneratedCall(allocations, why) && cuda::synchronize(why);
  if (!ok)
    error = "forward: " + why;
  else
    ok = !shapeCheckFailed(desc, error);
  for (size_t j = 0; ok && j < desc.outputs.size(); ++j) {
    ResultView view = resultView(desc, call, j);
    uint64_t nbytes;
    ok = prepareOutput(model, j, view.sizes, nbytes, error);
    if (ok && !downloadResult(model, j, view, nbytes, why)) {
      error = format("forward: cannot copy %s from %s: %s",
                     desc.outputs[j].name.c_str(), deviceName(ordinal),
                     why.c_str());
      ok = false;
    }
  }
  for (uint64_t p : allocations)
    cuda::release(p);
  return ok;
}

/// The inputs' dynamic sizes of one name (f32[N, 4] and f32[N, 3]) agree:
/// the generated code takes them for one size, and reads every input with
/// it. Inputs already passed checkInput (ranks match the description).
bool checkNamedSizes(const ModelDesc &desc, const modelc_tensor *inputs,
                     std::string &error) {
  // The first dimension of a name, in input order, sets its size.
  auto firstOf = [&](const std::string &name, size_t &input, size_t &dim) {
    for (input = 0; input < desc.inputs.size(); ++input)
      for (dim = 0; dim < desc.inputs[input].dims.size(); ++dim)
        if (desc.inputs[input].dims[dim] == name)
          return;
  };
  for (size_t i = 0; i < desc.inputs.size(); ++i) {
    const std::vector<std::string> &dims = desc.inputs[i].dims;
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d].empty())
        continue;
      size_t j = i, e = d; // found at the latest here
      firstOf(dims[d], j, e);
      int64_t size = inputs[i].shape[d], want = inputs[j].shape[e];
      if (size != want) {
        error = format("input '%s' has size %lld in dimension %zu (%s), but %s is %lld in "
                       "input '%s' (dimension %zu)",
                       desc.inputs[i].name.c_str(), static_cast<long long>(size), d,
                       dims[d].c_str(), dims[d].c_str(), static_cast<long long>(want),
                       desc.inputs[j].name.c_str(), e);
        return false;
      }
    }
  }
  return true;
}

} // namespace

bool runForward(modelc_model &model, const modelc_tensor *inputs,
                int32_t numInputs, std::string &error) {
  const ModelDesc &desc = *model.desc;
  size_t numExpected = desc.inputs.size();
  if (numInputs < 0 || static_cast<size_t>(numInputs) != numExpected) {
    std::string names;
    for (const TensorDesc &in : desc.inputs)
      names += (names.empty() ? "" : ", ") + in.name;
    error = format("forward takes %zu input%s (%s), got %d", numExpected,
                   numExpected == 1 ? "" : "s", names.c_str(), numInputs);
    return false;
  }
  if (numInputs > 0 && !inputs) {
    error = "forward: the inputs pointer is NULL";
    return false;
  }
  for (size_t i = 0; i < numExpected; ++i)
    if (!checkInput(desc.inputs[i], inputs[i], error))
      return false;
  if (!checkNamedSizes(desc, inputs, error))
    return false;
  model.hasOutputs = false;
  bool ok = model.device == kCpu ? runOnCpu(model, inputs, error)
                                 : runOnCuda(model, inputs, error);
  model.hasOutputs = ok;
  return ok;
}

} // namespace modelc::rt

modelc_model::~modelc_model() {
  modelc::rt::releaseDeviceMemory(*this, device);
  for (void *p : stateData)
    std::free(p);
  for (void *p : derivedData)
    std::free(p);
  for (auto &out : outputs)
    std::free(out.data);
}

/// Called by generated code where a size known only at run time broke a
/// rule (kShapeCheckFailedFn of the compiler: a reshape's count, two
/// operands' sizes): remembered for the forward call in progress, which then
/// fails. The code goes on to its end meanwhile, its loops on the sizes
/// they took.
extern "C" void modelc_shape_check_failed(int64_t line, int64_t column, int64_t a, int64_t b,
                                          int64_t kind) {
  auto &f = modelc::rt::shapeCheck;
  if (f.failed)
    return;
  f = {true, line, column, a, b, kind};
}
