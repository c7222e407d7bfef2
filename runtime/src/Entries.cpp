//===- Entries.cpp - the CPU entries of the variant this process runs -----===//
#include "Entries.h"

#include "GeneratedSymbols.h"

namespace modelc::rt {

const CpuEntries &cpuEntries(const ModelDesc &desc) {
  static const CpuEntries base = {
      modelc_generated_forward_eval,          modelc_generated_forward_train,
      modelc_generated_prepare,               modelc_generated_loss_backward_train,
      modelc_generated_loss_backward_eval,    modelc_generated_forward_backward_train,
      modelc_generated_forward_backward_eval};
  static const CpuEntries variant1 = {
      modelc_generated_forward_eval__variant1,          modelc_generated_forward_train__variant1,
      modelc_generated_prepare__variant1,               modelc_generated_loss_backward_train__variant1,
      modelc_generated_loss_backward_eval__variant1,    modelc_generated_forward_backward_train__variant1,
      modelc_generated_forward_backward_eval__variant1};
  // (Only one variant is ever compiled beside the base; chooseVariant
  // picks it only when its forward entries exist.)
  return desc.variant == 1 ? variant1 : base;
}

} // namespace modelc::rt
