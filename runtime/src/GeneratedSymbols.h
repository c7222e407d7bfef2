//===- GeneratedSymbols.h - what the compiler's object file defines -------===//
//
// The symbols the generated code provides (docs/ABI.md). They are
// hidden: they bind inside model.so and are never exported.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_GENERATEDSYMBOLS_H
#define MODELC_RUNTIME_GENERATEDSYMBOLS_H

#include <cstdint>

extern "C" {
/// NUL-terminated JSON model description (Desc.h).
__attribute__((visibility("hidden"))) extern const char modelc_generated_desc[];
/// Packed calling convention: args[0] -> results (the outputs' memref
/// descriptors back to back), args[1..S] -> one memref descriptor per state
/// entry in description order, args[S+1..S+I] -> one per input.
__attribute__((visibility("hidden"))) void modelc_generated_forward_eval(void **args);
__attribute__((visibility("hidden"))) void modelc_generated_forward_train(void **args);
/// The same on the GPU (`modelc --target=cuda`): every descriptor passed in
/// holds device pointers, and so do the results (docs/ABI.md). Weak: a
/// library compiled for the CPU only does not define them, and their
/// addresses are then null (cuda::libraryHasCuda()).
__attribute__((visibility("hidden"), weak)) void modelc_generated_prepare(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_forward_eval(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_forward_train(void **args);
/// Training (a model with a `loss` method; weak, null otherwise): the same
/// arguments as forward's with the loss's inputs in place of forward's;
/// args[0] -> results: the loss (rank 0), then d loss / d parameter for
/// every parameter in description order (frozen ones included). _train runs
/// `loss` in training mode (buffers updated, dropout draws), _eval in eval.
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_loss_backward_train(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_loss_backward_eval(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_forward_backward_train(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_cuda_forward_backward_eval(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_loss_backward_train(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_loss_backward_eval(void **args);
/// y.backward(g) (forward_backward), for a model with a loss: forward's
/// arguments with one more input per output after forward's inputs (the
/// output's cotangent, of its shape); args[0] -> results: the outputs, then
/// d <outputs, g> / d parameter for every parameter in description order.
__attribute__((visibility("hidden"), weak)) void
modelc_generated_forward_backward_train(void **args);
__attribute__((visibility("hidden"), weak)) void
modelc_generated_forward_backward_eval(void **args);
/// A portable library's second compilation of the CPU code (ModelDesc's
/// variants[0], e.g. x86-64-v4 beside x86-64-v3): the same entries, named
/// with the suffix "__variant1". Weak: absent from a single-CPU library.
#define MODELC_VARIANT_ENTRY_(fn)                                              \
  __attribute__((visibility("hidden"), weak)) void modelc_generated_##fn##__variant1(void **args);
MODELC_VARIANT_ENTRY_(forward_eval)
MODELC_VARIANT_ENTRY_(forward_train)
MODELC_VARIANT_ENTRY_(prepare)
MODELC_VARIANT_ENTRY_(loss_backward_train)
MODELC_VARIANT_ENTRY_(loss_backward_eval)
MODELC_VARIANT_ENTRY_(forward_backward_train)
MODELC_VARIANT_ENTRY_(forward_backward_eval)
#undef MODELC_VARIANT_ENTRY_
/// A safetensors state dict baked in with `modelc --weights` (size 0: none),
/// loaded strictly by every create.
__attribute__((visibility("hidden"))) extern const unsigned char modelc_generated_weights[];
__attribute__((visibility("hidden"))) extern const uint64_t modelc_generated_weights_size;
}

#endif
