//===- Model.cpp - creating a model and calling its forward function ------===//
#include "Model.h"

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

bool checkDevice(const char *device, std::string &error) {
  if (!device || std::strcmp(device, "cpu") == 0)
    return true;
  if (std::strncmp(device, "cuda", 4) == 0 &&
      (device[4] == '\0' || device[4] == ':')) {
    error = format("cannot use device '%s': this model was compiled for the "
                   "CPU only (compile it with --target=cuda)", device);
    return false;
  }
  error = format("unknown device '%s' (expected 'cpu' or 'cuda')", device);
  return false;
}

modelc_model *createModel(const char *device, uint64_t seed,
                          std::string &error) {
  if (!checkDevice(device, error))
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
  if (modelc_generated_weights_size != 0 &&
      !loadStateDict(*model, modelc_generated_weights, modelc_generated_weights_size,
                     /*strict=*/true, "the weights compiled in with --weights", error)) {
    delete model;
    return nullptr;
  }
  return model;
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
  std::string want = formatShape(expected.shape);
  if (t.rank < 0 || static_cast<size_t>(t.rank) != expected.shape.size()) {
    error = format("input '%s' has rank %d, expected rank %zu (shape %s)",
                   name, t.rank, expected.shape.size(), want.c_str());
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
                     want.c_str(), d, static_cast<long long>(shape[d]),
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

  // Lay out every argument descriptor in one block, then point at them.
  size_t numStates = desc.states.size();
  std::vector<size_t> argOffsets;
  size_t words = 0;
  for (const StateDesc &s : desc.states) {
    argOffsets.push_back(words);
    words += descriptorWords(s.shape.size());
  }
  for (const TensorDesc &in : desc.inputs) {
    argOffsets.push_back(words);
    words += descriptorWords(in.shape.size());
  }
  std::vector<int64_t> argWords(words);
  std::vector<size_t> resultOffsets;
  size_t resultWordCount = 0;
  for (const TensorDesc &out : desc.outputs) {
    resultOffsets.push_back(resultWordCount);
    resultWordCount += descriptorWords(out.shape.size());
  }
  std::vector<int64_t> results(resultWordCount + 1, 0);

  std::vector<void *> args(1 + numStates + numExpected);
  args[0] = results.data();
  std::vector<void *> passedIn; // memory the generated code must not free
  for (size_t i = 0; i < numStates; ++i) {
    int64_t *d = &argWords[argOffsets[i]];
    fillDescriptor(d, model.stateData[i], desc.states[i].shape);
    args[1 + i] = d;
    passedIn.push_back(model.stateData[i]);
  }
  for (size_t i = 0; i < numExpected; ++i) {
    int64_t *d = &argWords[argOffsets[numStates + i]];
    fillDescriptor(d, inputs[i].data, shapeOf(inputs[i]));
    args[1 + numStates + i] = d;
    passedIn.push_back(inputs[i].data);
  }

  model.hasOutputs = false;
  if (model.training)
    modelc_generated_forward_train(args.data());
  else
    modelc_generated_forward_eval(args.data());

  // Copy every result out, then free what the generated code allocated:
  // each allocation once, never memory that was passed in.
  bool ok = true;
  std::vector<void *> toFree;
  for (size_t j = 0; j < desc.outputs.size(); ++j) {
    const TensorDesc &out = desc.outputs[j];
    const int64_t *d = &results[resultOffsets[j]];
    size_t rank = out.shape.size();
    void *allocated = wordAsPointer(d[0]);
    const char *aligned = static_cast<const char *>(wordAsPointer(d[1]));
    std::vector<int64_t> sizes(d + 3, d + 3 + rank);
    std::vector<int64_t> strides(d + 3 + rank, d + 3 + 2 * rank);
    bool owned = allocated && allocated != kGlobalMarker;
    for (void *p : passedIn)
      owned = owned && p != allocated;
    for (void *p : toFree)
      owned = owned && p != allocated;
    if (owned)
      toFree.push_back(allocated);
    if (!ok)
      continue;

    OutputTensor &slot = model.outputs[j];
    bool shapeOk = true;
    for (size_t k = 0; k < rank; ++k)
      shapeOk = shapeOk && sizes[k] >= 0 &&
                (out.shape[k] < 0 || sizes[k] == out.shape[k]);
    uint64_t nbytes = 0;
    if (!shapeOk || !computeNumBytes(sizes, out.dtype, nbytes)) {
      error = format("internal error: the generated code returned %s with "
                     "shape %s, the description says %s", out.name.c_str(),
                     formatShape(sizes).c_str(), formatShape(out.shape).c_str());
      ok = false;
      continue;
    }
    if (nbytes > slot.capacity || !slot.data) {
      std::free(slot.data);
      slot.data = allocateAligned(nbytes);
      slot.capacity = slot.data ? nbytes : 0;
      if (!slot.data) {
        error = format("out of memory copying %s (%llu bytes)",
                       out.name.c_str(), static_cast<unsigned long long>(nbytes));
        ok = false;
        continue;
      }
    }
    slot.shape = sizes;
    size_t elementSize = dtypeSize(out.dtype);
    copyStrided(static_cast<char *>(slot.data),
                aligned + d[2] * static_cast<int64_t>(elementSize),
                elementSize, sizes, strides);
  }
  for (void *p : toFree)
    std::free(p);
  model.hasOutputs = ok;
  return ok;
}

} // namespace modelc::rt

modelc_model::~modelc_model() {
  for (void *p : stateData)
    std::free(p);
  for (auto &out : outputs)
    std::free(out.data);
}
