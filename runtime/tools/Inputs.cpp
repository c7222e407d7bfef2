//===- Inputs.cpp - the tensors of modelc-run's --inputs file -------------===//
#include "Inputs.h"

#include "support/Format.h"
#include "support/SafeTensors.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace modelc::rt {

Inputs::~Inputs() {
  for (void *p : buffers)
    std::free(p);
}

bool bindInputs(const unsigned char *bytes, size_t size,
                const std::vector<std::string> &names, Inputs &inputs,
                std::string &error) {
  std::vector<SafeTensor> tensors;
  if (!parseSafeTensors(bytes, size, tensors, error))
    return false;
  std::string list;
  for (size_t i = 0; i < names.size(); ++i)
    list += (i ? ", " : "") + names[i];
  std::vector<bool> used(tensors.size(), false);
  std::vector<const SafeTensor *> bound;
  for (const std::string &name : names) {
    auto it = std::find_if(tensors.begin(), tensors.end(),
                           [&](const SafeTensor &t) { return t.name == name; });
    if (it == tensors.end()) {
      error = format("no tensor named '%s' (the model's inputs are: %s)",
                     name.c_str(), list.c_str());
      return false;
    }
    used[static_cast<size_t>(it - tensors.begin())] = true;
    bound.push_back(&*it);
  }
  for (size_t t = 0; t < tensors.size(); ++t)
    if (!used[t]) {
      error = format("unexpected tensor '%s' (the model's inputs are: %s)",
                     tensors[t].name.c_str(), list.c_str());
      return false;
    }
  for (const SafeTensor *t : bound) {
    // The file's data need not be aligned; the generated code may assume it.
    void *buffer = std::aligned_alloc(64, (t->nbytes + 63) / 64 * 64 + 64);
    if (!buffer) {
      error = "out of memory reading the inputs";
      return false;
    }
    if (t->nbytes)
      std::memcpy(buffer, t->data, t->nbytes);
    inputs.buffers.push_back(buffer);
    inputs.shapes.push_back(t->shape);
  }
  for (size_t i = 0; i < bound.size(); ++i) {
    modelc_tensor t;
    t.data = inputs.buffers[i];
    t.dtype = static_cast<int32_t>(bound[i]->dtype);
    t.rank = static_cast<int32_t>(inputs.shapes[i].size());
    t.shape = inputs.shapes[i].data();
    inputs.tensors.push_back(t);
  }
  return true;
}

} // namespace modelc::rt
