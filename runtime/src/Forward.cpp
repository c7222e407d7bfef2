//===- Forward.cpp - running the generated forward functions --------------===//
//
// forward(): checks the inputs against the description, brings the derived
// values up to date, packs the call (Call.h), runs the generated code of the
// current mode on the CPU or the GPU, and copies the results into the
// model's output slots.
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "Alloc.h"
#include "Call.h"
#include "Cuda.h"
#include "Entries.h"
#include "GeneratedSymbols.h"
#include "Run.h"
#include "support/Format.h"

#include <cstdlib>
#include <cstring>

namespace modelc::rt {

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

/// Recomputes the derived values from the state when it changed since they
/// were last computed: `modelc_generated_prepare(states..., derived...)`.
void prepareDerived(modelc_model &model) {
  const ModelDesc &desc = *model.desc;
  if (!model.derivedStale || desc.derived.empty())
    return;
  PackedArgs args;
  addModelArguments(desc, model.stateData, /*inputs=*/nullptr, &model.derivedData, args);
  cpuEntries(desc).prepare(args.finish());
  model.derivedStale = false;
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
  int64_t kind = 0; // 0, 1: a reshape's count; 2: two sizes that differ; 3: a class index; 4: an embedding index
};
thread_local ShapeCheckFailure shapeCheck;

/// The model whose generated code runs in this thread (the all-reduce of
/// modelc_all_reduce_f32 is the model's).
thread_local modelc_model *runningModel = nullptr;

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
  case 3: // a loss's class index (the compiler's ShapeCheck::ClassIndex)
    error = format("%s:%lld:%lld: target %lld is out of bounds: class indices must be in "
                   "[0, %lld) or equal ignore_index",
                   source, line, column, a, b);
    break;
  case 4: // an embedding's index (ShapeCheck::EmbeddingIndex), in a gradient
    error = format("%s:%lld:%lld: embedding index %lld is out of range for a table of %lld rows",
                   source, line, column, a, b);
    break;
  case 5: // modelc_all_reduce_f32's communicator failed
    error = format("%s: the sum over the ranks (SyncBatchNorm's all-reduce of %lld values) "
                   "failed with %lld", source, a, b);
    break;
  default:
    error = format("%s:%lld:%lld: the operands' sizes %lld and %lld of one dimension differ "
                   "(a size known only at run time must equal the size it meets)",
                   source, line, column, a, b);
  }
  return true;
}

} // namespace

bool callOnCpu(modelc_model &model, GeneratedFunction function,
               const std::vector<TensorDesc> &results, const modelc_tensor *inputs,
               size_t numInputs, const ResultConsumer &consume, std::string &error) {
  const ModelDesc &desc = *model.desc;
  // Scratch reused call after call in this thread (a forward never calls
  // another): a batch of one spends more on allocating it than on its layers.
  thread_local std::vector<void *> inputData, passedIn, toFree;
  thread_local PackedCall call;
  inputData.clear();
  for (size_t i = 0; i < numInputs; ++i)
    inputData.push_back(inputs[i].data);
  prepareDerived(model);
  packCall(desc, results, model.stateData,
           ForwardInputs{inputData, inputs, &model.randomStream}, &model.derivedData, call);
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
  runningModel = &model;
  function(call.args.data());
  runningModel = nullptr;
  if (keepBuffers && shapeCheck.failed)
    copyBuffers(model, buffersBefore, /*save=*/false);

  // Read the results (none when a shape check failed), then free what the
  // generated code allocated: each allocation once, never memory that was
  // passed in.
  bool ok = !shapeCheckFailed(desc, error) && consume(call, error);
  toFree.clear();
  for (size_t j = 0; j < results.size(); ++j) {
    void *allocated = resultView(call, j).allocated;
    bool owned = allocated && allocated != kGlobalMarker;
    for (void *p : passedIn)
      owned = owned && p != allocated;
    for (void *p : toFree)
      owned = owned && p != allocated;
    if (owned)
      toFree.push_back(allocated);
  }
  for (void *p : toFree)
    freeGenerated(p);
  return ok;
}

namespace {

bool runOnCpu(modelc_model &model, const modelc_tensor *inputs,
              std::string &error) {
  const ModelDesc &desc = *model.desc;
  auto copyOutputs = [&model](const PackedCall &call, std::string &why) {
    return copyOutputsOf(model, call, why);
  };
  return callOnCpu(model,
                   model.training ? cpuEntries(*model.desc).forwardTrain
                                  : cpuEntries(*model.desc).forwardEval,
                   desc.outputs, inputs, desc.inputs.size(), copyOutputs, error);
}

} // namespace

bool downloadView(const ResultView &view, size_t elementSize, void *dst,
                  const std::string &name, std::string &error) {
  uint64_t nbytes = elementSize;
  for (int64_t size : view.sizes)
    nbytes *= static_cast<uint64_t>(size);
  if (nbytes == 0)
    return true;
  uint64_t device = reinterpret_cast<uintptr_t>(view.data);
  // The elements the view spans, from its first one.
  uint64_t span = 1;
  bool contiguous = true;
  int64_t expected = 1;
  for (size_t d = view.sizes.size(); d-- > 0;) {
    if (view.strides[d] < 0) {
      error = format("internal error: the generated code returned %s with a "
                     "negative stride", name.c_str());
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
  copyStrided(static_cast<char *>(dst), staging.data(), elementSize, view.sizes, view.strides);
  return true;
}

bool callOnCuda(modelc_model &model, GeneratedFunction function,
                const std::vector<TensorDesc> &results, const std::vector<TensorDesc> &inputDescs,
                const modelc_tensor *inputs, const char *name, const ResultConsumer &consume,
                std::string &error) {
  const ModelDesc &desc = *model.desc;
  int ordinal = model.device;
  cuda::DeviceScope scope(ordinal);
  std::string why;
  // The inputs, in device memory for this call.
  std::vector<uint64_t> staged;
  auto releaseAll = [&staged](const std::vector<uint64_t> &more) {
    for (uint64_t p : more)
      cuda::release(p);
    for (uint64_t p : staged)
      cuda::release(p);
  };
  std::vector<void *> inputData;
  for (size_t i = 0; i < inputDescs.size(); ++i) {
    uint64_t nbytes = 0, ptr = 0;
    computeNumBytes(shapeOf(inputs[i]), inputDescs[i].dtype, nbytes);
    if (!cuda::allocate(nbytes, ptr, why) ||
        (staged.push_back(ptr), !cuda::upload(ptr, inputs[i].data, nbytes, why))) {
      error = format("%s: cannot copy input '%s' (%llu bytes) to %s: %s", name,
                     inputDescs[i].name.c_str(), static_cast<unsigned long long>(nbytes),
                     deviceName(ordinal), why.c_str());
      releaseAll({});
      return false;
    }
    inputData.push_back(reinterpret_cast<void *>(ptr));
  }
  // The buffers as they were, for a training call that fails a check of
  // the generated code (which writes them at its end).
  std::vector<std::vector<char>> before;
  bool keepBuffers = model.training && desc.shapeChecks;
  for (size_t i = 0; keepBuffers && i < desc.states.size(); ++i) {
    before.emplace_back();
    if (desc.states[i].kind == StateKind::Parameter)
      continue;
    before.back().resize(desc.states[i].nbytes);
    if (!readStateEntry(model, i, before.back().data(), why)) {
      error = format("%s: %s", name, why.c_str());
      releaseAll({});
      return false;
    }
  }
  std::vector<void *> stateData;
  for (uint64_t p : model.deviceState)
    stateData.push_back(reinterpret_cast<void *>(p));
  PackedCall call;
  packCall(desc, results, stateData, ForwardInputs{inputData, inputs, &model.randomStream},
           /*derivedData=*/nullptr, call);
  cuda::beginGeneratedCall();
  shapeCheck = ShapeCheckFailure();
  function(call.args.data());
  // What the generated code allocated and did not free: its results.
  std::vector<uint64_t> allocations;
  bool ok = cuda::endGeneratedCall(allocations, why) && cuda::synchronize(why);
  if (!ok)
    error = format("%s: %s", name, why.c_str());
  else if (shapeCheckFailed(desc, error))
    ok = false;
  else
    ok = consume(call, error);
  // After a failure, the buffers as they were (as far as the device still
  // takes copies: after a failed launch it may not).
  for (size_t i = 0; !ok && keepBuffers && i < desc.states.size(); ++i)
    if (desc.states[i].kind != StateKind::Parameter)
      writeStateEntry(model, i, before[i].data(), why);
  releaseAll(allocations);
  return ok;
}

bool downloadOutputsOf(modelc_model &model, const PackedCall &call, std::string &error) {
  const ModelDesc &desc = *model.desc;
  for (size_t j = 0; j < desc.outputs.size(); ++j) {
    ResultView view = resultView(call, j);
    uint64_t nbytes;
    std::string why;
    if (!prepareOutput(model, j, view.sizes, nbytes, error))
      return false;
    if (!downloadView(view, dtypeSize(desc.outputs[j].dtype), model.outputs[j].data,
                      desc.outputs[j].name, why)) {
      error = format("cannot copy %s from %s: %s", desc.outputs[j].name.c_str(),
                     deviceName(model.device), why.c_str());
      return false;
    }
  }
  return true;
}

namespace {

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
  packCall(desc, desc.outputs, stateData,
           ForwardInputs{inputData, inputs, &model.randomStream},
           /*derivedData=*/nullptr, call);

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
  if (ok && !downloadOutputsOf(model, call, why)) {
    error = "forward: " + why;
    ok = false;
  }
  for (uint64_t p : allocations)
    cuda::release(p);
  return ok;
}

/// The inputs' dynamic sizes of one name (f32[N, 4] and f32[N, 3]) agree:
/// the generated code takes them for one size, and reads every input with
/// it. Inputs already passed checkInput (ranks match the description).
bool checkNamedSizes(const std::vector<TensorDesc> &descs, const modelc_tensor *inputs,
                     std::string &error) {
  // The first dimension of a name, in input order, sets its size.
  auto firstOf = [&](const std::string &name, size_t &input, size_t &dim) {
    for (input = 0; input < descs.size(); ++input)
      for (dim = 0; dim < descs[input].dims.size(); ++dim)
        if (descs[input].dims[dim] == name)
          return;
  };
  for (size_t i = 0; i < descs.size(); ++i) {
    const std::vector<std::string> &dims = descs[i].dims;
    for (size_t d = 0; d < dims.size(); ++d) {
      if (dims[d].empty())
        continue;
      size_t j = i, e = d; // found at the latest here
      firstOf(dims[d], j, e);
      int64_t size = inputs[i].shape[d], want = inputs[j].shape[e];
      if (size != want) {
        error = format("input '%s' has size %lld in dimension %zu (%s), but %s is %lld in "
                       "input '%s' (dimension %zu)",
                       descs[i].name.c_str(), static_cast<long long>(size), d,
                       dims[d].c_str(), dims[d].c_str(), static_cast<long long>(want),
                       descs[j].name.c_str(), e);
        return false;
      }
    }
  }
  return true;
}

} // namespace

bool checkInputs(const std::vector<TensorDesc> &descs, const modelc_tensor *inputs,
                 int32_t numInputs, const char *function, std::string &error) {
  size_t numExpected = descs.size();
  if (numInputs < 0 || static_cast<size_t>(numInputs) != numExpected) {
    std::string names;
    for (const TensorDesc &in : descs)
      names += (names.empty() ? "" : ", ") + in.name;
    error = format("%s takes %zu input%s (%s), got %d", function, numExpected,
                   numExpected == 1 ? "" : "s", names.c_str(), numInputs);
    return false;
  }
  if (numInputs > 0 && !inputs) {
    error = format("%s: the inputs pointer is NULL", function);
    return false;
  }
  for (size_t i = 0; i < numExpected; ++i)
    if (!checkInput(descs[i], inputs[i], error))
      return false;
  return checkNamedSizes(descs, inputs, error);
}

bool copyOutputsOf(modelc_model &model, const PackedCall &call, std::string &error) {
  const ModelDesc &desc = *model.desc;
  for (size_t j = 0; j < desc.outputs.size(); ++j) {
    ResultView view = resultView(call, j);
    uint64_t nbytes;
    if (!prepareOutput(model, j, view.sizes, nbytes, error))
      return false;
    size_t elementSize = dtypeSize(desc.outputs[j].dtype);
    copyStrided(static_cast<char *>(model.outputs[j].data), view.data, elementSize, view.sizes,
                view.strides);
  }
  return true;
}

bool runForward(modelc_model &model, const modelc_tensor *inputs,
                int32_t numInputs, std::string &error) {
  if (!checkInputs(model.desc->inputs, inputs, numInputs, "forward", error))
    return false;
  model.hasOutputs = false;
  bool ok = model.device == kCpu ? runOnCpu(model, inputs, error)
                                 : runOnCuda(model, inputs, error);
  model.hasOutputs = ok;
  return ok;
}

} // namespace modelc::rt

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

/// Called by generated code (mdl.all_reduce, --sync-batchnorm) with a
/// one-dimensional buffer of its own to sum over the ranks in place, through
/// the communicator of the running model (set_all_reduce); in one process
/// there is nothing to add. A failure fails the call in progress (kind 5),
/// as a shape check does.
extern "C" void modelc_all_reduce_f32(float *allocated, float *aligned, int64_t offset,
                                      int64_t size, int64_t stride) {
  (void)allocated;
  (void)stride; // a fresh contiguous buffer: 1
  modelc_model *model = modelc::rt::runningModel;
  if (!model || !model->allReduce || size <= 0)
    return;
  int32_t rc = model->allReduce(model->allReduceContext, aligned + offset,
                                static_cast<size_t>(size));
  auto &f = modelc::rt::shapeCheck;
  if (rc != 0 && !f.failed)
    f = {true, 0, 0, size, rc, 5};
}
