//===- Alloc.h - The generated code's heap --------------------------------===//
//
// The CPU code calls these for every buffer it allocates (MLIR's
// `finalize-memref-to-llvm{use-generic-functions}` names them). A forward
// call allocates the same buffers, of the same sizes, every time (ResNet-18:
// tens of MB of patches and activations); from malloc, the large ones are
// fresh pages each call, and page faults and zeroing cost more than the
// convolutions they hold. Freed blocks of at least kCachedMinBytes are
// kept, up to kCacheBytes in all, and handed out again for the same size.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_ALLOC_H
#define MODELC_RUNTIME_ALLOC_H

#include <cstdint>

extern "C" {
__attribute__((visibility("hidden"))) void *_mlir_memref_to_llvm_alloc(uint64_t size);
__attribute__((visibility("hidden"))) void *
_mlir_memref_to_llvm_aligned_alloc(uint64_t alignment, uint64_t size);
__attribute__((visibility("hidden"))) void _mlir_memref_to_llvm_free(void *ptr);
}

namespace modelc::rt {
/// Frees memory the generated code allocated (a forward's results).
inline void freeGenerated(void *ptr) { _mlir_memref_to_llvm_free(ptr); }
} // namespace modelc::rt

#endif
