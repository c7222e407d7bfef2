//===- Errors.cpp ---------------------------------------------------------===//
#include "Errors.h"

namespace modelc::rt {

namespace {
std::string &threadError() {
  static thread_local std::string message;
  return message;
}
} // namespace

void recordError(const modelc_model *model, std::string message) {
  if (model)
    model->lastError = message;
  threadError() = std::move(message);
}

const char *lastError(const modelc_model *model) {
  return model ? model->lastError.c_str() : threadError().c_str();
}

} // namespace modelc::rt
