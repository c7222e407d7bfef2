//===- Call.cpp - the calling convention of the generated functions -------===//
#include "Call.h"

#include "support/DType.h"

#include <cstring>

namespace modelc::rt {

size_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

namespace {

void fillDescriptor(int64_t *words, void *data, const int64_t *shape,
                    size_t rank) {
  std::memcpy(&words[0], &data, sizeof(void *));
  std::memcpy(&words[1], &data, sizeof(void *));
  words[2] = 0;
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

} // namespace

void PackedArgs::clear() {
  arguments.clear();
  words.clear();
  args.clear();
}

void PackedArgs::addPointer(void *pointer) {
  arguments.push_back({true, pointer, nullptr, 0});
}

void PackedArgs::addTensor(void *data, const int64_t *shape, size_t rank) {
  arguments.push_back({false, data, shape, rank});
}

void **PackedArgs::finish() {
  // The words first, all of them: `args` points into them.
  size_t total = 0;
  for (const Argument &a : arguments)
    if (!a.isPointer)
      total += descriptorWords(a.rank);
  words.assign(total, 0);
  args.clear();
  size_t at = 0;
  for (const Argument &a : arguments) {
    if (a.isPointer) {
      args.push_back(a.data);
      continue;
    }
    fillDescriptor(&words[at], a.data, a.shape, a.rank);
    args.push_back(&words[at]);
    at += descriptorWords(a.rank);
  }
  return args.data();
}

void addModelArguments(const ModelDesc &desc, const std::vector<void *> &stateData,
                       const ForwardInputs *inputs,
                       const std::vector<void *> *derivedData, PackedArgs &args) {
  for (size_t i = 0; i < desc.states.size(); ++i)
    args.addTensor(stateData[i], desc.states[i].shape);
  static const int64_t kStreamShape[1] = {1};
  if (inputs) {
    for (size_t i = 0; i < inputs->data.size(); ++i) {
      const modelc_tensor &t = inputs->tensors[i];
      args.addTensor(inputs->data[i], t.shape, t.rank > 0 ? static_cast<size_t>(t.rank) : 0);
    }
    if (desc.rng)
      args.addTensor(inputs->randomStream, kStreamShape, 1);
  }
  if (derivedData)
    for (size_t i = 0; i < desc.derived.size(); ++i)
      args.addTensor((*derivedData)[i], desc.derived[i].shape);
}

void packCall(const ModelDesc &desc, const std::vector<TensorDesc> &results,
              const std::vector<void *> &stateData, const ForwardInputs &inputs,
              const std::vector<void *> *derivedData, PackedCall &call) {
  call.resultDescs = &results;
  call.resultOffsets.clear();
  size_t resultWords = 0;
  for (const TensorDesc &out : results) {
    call.resultOffsets.push_back(resultWords);
    resultWords += descriptorWords(out.shape.size());
  }
  call.results.assign(resultWords + 1, 0);
  call.args.clear();
  call.args.addPointer(call.results.data());
  addModelArguments(desc, stateData, &inputs, derivedData, call.args);
  call.args.finish();
}

ResultView resultView(const PackedCall &call, size_t j) {
  const int64_t *d = &call.results[call.resultOffsets[j]];
  const TensorDesc &result = (*call.resultDescs)[j];
  size_t rank = result.shape.size();
  size_t elementSize = dtypeSize(result.dtype);
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

} // namespace modelc::rt
