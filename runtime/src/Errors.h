//===- Errors.h - the last error, per model and per thread ----------------===//
//
// A failing ABI call records its message twice: on the model (when there is
// one), so that last_error(model) keeps working from any thread, and in a
// thread-local slot for last_error(NULL), which is the only place create()
// and calls with a NULL model can report to.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_ERRORS_H
#define MODELC_RUNTIME_ERRORS_H

#include "Model.h"

#include <string>

namespace modelc::rt {

void recordError(const modelc_model *model, std::string message);
const char *lastError(const modelc_model *model);

} // namespace modelc::rt

#endif
