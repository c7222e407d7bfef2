//===- StateDict.cpp - loading and saving the state dict -------------------===//
//
// The state dict holds the parameters and persistent buffers, keyed by their
// PyTorch names, in safetensors format. Loading is all-or-nothing: the file
// is parsed and validated, every key is matched against the model and every
// problem is collected before a single byte of state changes. The messages
// follow PyTorch's load_state_dict, and so does what loads: what its
// strict=True accepts loads here too (INTERFACE.md, "The state dict file").
//
//===----------------------------------------------------------------------===//
#include "Model.h"

#include "support/Format.h"
#include "support/SafeTensors.h"

#include <cstring>
#include <unordered_map>

namespace modelc::rt {

namespace {

std::string quotedList(const std::vector<std::string> &names) {
  std::string out;
  for (const std::string &n : names)
    out += (out.empty() ? "\"" : ", \"") + n + "\"";
  return out;
}

} // namespace

bool loadStateDict(modelc_model &model, const unsigned char *bytes,
                   size_t size, bool strict, const std::string &source,
                   std::string &error) {
  const ModelDesc &desc = *model.desc;
  std::vector<SafeTensor> tensors;
  std::string detail;
  if (!parseSafeTensors(bytes, size, tensors, detail)) {
    error = format("%s: %s", source.c_str(), detail.c_str());
    return false;
  }

  std::unordered_map<std::string, const SafeTensor *> byName;
  for (const SafeTensor &t : tensors)
    byName.emplace(t.name, &t);

  std::vector<std::string> missing, unexpected, mismatches;
  // (state index, tensor) pairs to copy once everything checked out.
  std::vector<std::pair<size_t, const SafeTensor *>> copies;
  for (size_t i = 0; i < desc.states.size(); ++i) {
    const StateDesc &state = desc.states[i];
    if (!state.isPersistent())
      continue;
    auto it = byName.find(state.name);
    if (it == byName.end()) {
      if (!stateMayBeMissing(state.name))
        missing.push_back(state.name);
      continue;
    }
    const SafeTensor &t = *it->second;
    if (!savedShapeLoads(t.shape, state.shape)) {
      mismatches.push_back(format(
          "size mismatch for %s: copying a param with shape %s from "
          "checkpoint, the shape in current model is %s.", state.name.c_str(),
          formatShape(t.shape).c_str(), formatShape(state.shape).c_str()));
      continue;
    }
    if (!savedDTypeLoads(t.dtype, state.dtype)) {
      mismatches.push_back(format(
          "dtype mismatch for %s: copying a param with dtype %s from "
          "checkpoint, the dtype in current model is %s.", state.name.c_str(),
          dtypeName(t.dtype), dtypeName(state.dtype)));
      continue;
    }
    copies.emplace_back(i, &t);
  }
  for (const SafeTensor &t : tensors) {
    auto it = desc.stateIndex.find(t.name);
    if (it == desc.stateIndex.end() || !desc.states[it->second].isPersistent())
      unexpected.push_back(t.name);
  }

  std::vector<std::string> problems;
  if (strict && !missing.empty())
    problems.push_back("Missing key(s) in state_dict: " + quotedList(missing) + ".");
  if (strict && !unexpected.empty())
    problems.push_back("Unexpected key(s) in state_dict: " +
                       quotedList(unexpected) + ".");
  problems.insert(problems.end(), mismatches.begin(), mismatches.end());
  if (!problems.empty()) {
    error = format("Error(s) in loading state_dict for %s from %s:",
                   desc.name.c_str(), source.c_str());
    for (const std::string &p : problems)
      error += "\n\t" + p;
    return false;
  }

  // Convert every tensor of another dtype before the first write, so that
  // running out of memory here still changes nothing. (Shapes match in
  // element count: [1] into [] is one element.)
  std::vector<std::vector<unsigned char>> converted(copies.size());
  for (size_t c = 0; c < copies.size(); ++c) {
    const StateDesc &state = desc.states[copies[c].first];
    const SafeTensor &t = *copies[c].second;
    if (t.dtype == state.dtype)
      continue;
    converted[c].resize(state.nbytes);
    convertElements(t.dtype, t.data, state.dtype, converted[c].data(), state.numel);
  }
  // On a GPU a copy can still fail (a broken context); the error says so.
  for (size_t c = 0; c < copies.size(); ++c) {
    const void *src = converted[c].empty() ? copies[c].second->data : converted[c].data();
    if (!writeStateEntry(model, copies[c].first, src, error))
      return false;
  }
  return true;
}

std::string serializeStateDict(const modelc_model &model) {
  const ModelDesc &desc = *model.desc;
  std::vector<SafeTensor> tensors;
  for (size_t i = 0; i < desc.states.size(); ++i) {
    const StateDesc &state = desc.states[i];
    if (!state.isPersistent())
      continue;
    SafeTensor t;
    t.name = state.name;
    t.dtype = state.dtype;
    t.shape = state.shape;
    t.data = static_cast<const unsigned char *>(model.stateData[i]);
    t.nbytes = state.nbytes;
    tensors.push_back(std::move(t));
  }
  return serializeSafeTensors(tensors);
}

} // namespace modelc::rt
