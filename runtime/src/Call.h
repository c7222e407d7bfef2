//===- Call.h - the calling convention of the generated functions ---------===//
//
// Every generated function (forward_eval/train, their CUDA versions,
// prepare) takes `void **args`: pointers to MLIR memref descriptors, one per
// tensor argument, in the one order of addModelArguments (docs/ABI.md);
// forward also takes, first, a pointer to its results, the outputs'
// descriptors back to back, which it fills. This file lays the arguments out
// and reads the results back.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_CALL_H
#define MODELC_RUNTIME_CALL_H

#include "Desc.h"
#include "modelc/modelc.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace modelc::rt {

/// A memref descriptor lives in int64 words: allocated, aligned, offset,
/// sizes[rank], strides[rank].
size_t descriptorWords(size_t rank);

/// The `void **args` of one generated call. Arguments are added in order,
/// then finish() lays the descriptors out in one block and returns the
/// array. clear() keeps the memory, so that a forward call reuses it: a
/// batch of one spends more on allocating it than on its layers.
class PackedArgs {
public:
  void clear();
  /// A pointer passed as it is (forward's results).
  void addPointer(void *pointer);
  /// A dense, row-major tensor of `rank` sizes at `shape` (read by finish).
  void addTensor(void *data, const int64_t *shape, size_t rank);
  void addTensor(void *data, const std::vector<int64_t> &shape) {
    addTensor(data, shape.data(), shape.size());
  }
  /// Lays the descriptors out: the arguments, valid until the next clear().
  void **finish();
  /// What finish() returned.
  void **data() { return args.data(); }

private:
  struct Argument {
    bool isPointer; // passed as it is, not as a descriptor
    void *data;
    const int64_t *shape;
    size_t rank;
  };
  std::vector<Argument> arguments;
  std::vector<int64_t> words;
  std::vector<void *> args;
};

/// A forward call's inputs: their data (host or device memory), shaped as
/// the caller's tensors; and the instance's random stream (host memory),
/// which the forward functions of a model that draws (desc.rng) take after
/// them. (loss_backward passes the loss's inputs: one per `data` entry.)
struct ForwardInputs {
  const std::vector<void *> &data;
  const modelc_tensor *tensors;
  int64_t *randomStream;
};

/// Adds the tensor arguments of a generated function, in the one order
/// every one of them takes (docs/ABI.md): the state entries at `stateData`
/// in description order; then, for forward, the `inputs` (and the random
/// stream when the model draws); then, for prepare
/// and the CPU's forward, the derived values at `derivedData`. Null leaves
/// a group out. An argument every function gains goes here, once.
void addModelArguments(const ModelDesc &desc, const std::vector<void *> &stateData,
                       const ForwardInputs *inputs,
                       const std::vector<void *> *derivedData, PackedArgs &args);

/// The packed arguments of one forward (or loss_backward) call and the
/// zero-filled results struct they point to first.
struct PackedCall {
  PackedArgs args;
  std::vector<int64_t> results;
  std::vector<size_t> resultOffsets; // of each result's descriptor
  /// What the results are: desc.outputs, or desc.lossResults.
  const std::vector<TensorDesc> *resultDescs = nullptr;
};

/// Packs a call: the results struct for `results` (desc.outputs for
/// forward), then addModelArguments.
void packCall(const ModelDesc &desc, const std::vector<TensorDesc> &results,
              const std::vector<void *> &stateData, const ForwardInputs &inputs,
              const std::vector<void *> *derivedData, PackedCall &call);

/// Result `j` of a generated call, as its descriptor says.
struct ResultView {
  void *allocated;
  const char *data; // aligned + offset elements
  std::vector<int64_t> sizes, strides;
};
ResultView resultView(const PackedCall &call, size_t j);

/// MLIR lowers memref.get_global (a constant returned as is) to a descriptor
/// whose allocated pointer is this marker: it was never malloc'ed.
inline void *const kGlobalMarker = reinterpret_cast<void *>(0xdeadbeef);

/// Copies a (possibly strided) memref into dense row-major `dst`.
void copyStrided(char *dst, const char *base, size_t elementSize,
                 const std::vector<int64_t> &sizes,
                 const std::vector<int64_t> &strides);

} // namespace modelc::rt

#endif
