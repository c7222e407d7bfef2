//===- Errors.cpp ---------------------------------------------------------===//
#include "Errors.h"

#include "support/Format.h"

namespace modelc::rt {

namespace {
std::string &threadError() {
  static thread_local std::string message;
  return message;
}
} // namespace

uintptr_t currentThreadId() {
  static thread_local char marker;
  return reinterpret_cast<uintptr_t>(&marker);
}

ModelUse::ModelUse(const modelc_model &model, const char *function)
    : model(model) {
  uintptr_t expected = 0;
  owned = model.user.compare_exchange_strong(expected, currentThreadId(),
                                             std::memory_order_acquire,
                                             std::memory_order_relaxed);
  if (!owned)
    recordError(nullptr, format("%s: the model is being used by another "
                                "thread; use one model per thread",
                                function));
}

void recordError(const modelc_model *model, std::string message) {
  // The model's slot belongs to the thread using the model, if another is.
  if (model && !usedByAnotherThread(model))
    model->lastError = message;
  threadError() = std::move(message);
}

const char *lastError(const modelc_model *model) {
  if (!model || usedByAnotherThread(model))
    return threadError().c_str();
  return model->lastError.c_str();
}

} // namespace modelc::rt
