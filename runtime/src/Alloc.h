//===- Alloc.h - The generated code's heap --------------------------------===//
//
// The CPU code calls these for every buffer it allocates (MLIR's
// `finalize-memref-to-llvm{use-generic-functions}` names them). A forward
// call allocates the same buffers, of the same sizes, every time (ResNet-18:
// tens of MB of patches and activations); from malloc, the large ones are
// fresh pages each call, and page faults and zeroing cost more than the
// convolutions they hold. Freed blocks are kept and handed out again for
// the same size: small ones per thread, the others in a cache bounded by
// twice the most bytes ever in use at once, given back to the system by
// releaseHeap (trim, and the destruction of the last model).
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

/// Gives every cached block back to the system (the calling thread's small
/// ones too, and malloc's free memory), and starts the cache's bound over
/// from the bytes in use now. Safe while other threads allocate.
void releaseHeap();

/// Held by each model instance: the heap is released when the last one of
/// this library is destroyed, so that a process done with its models gets
/// their memory back.
class HeapUser {
public:
  HeapUser();
  ~HeapUser();
  HeapUser(const HeapUser &) = delete;
  HeapUser &operator=(const HeapUser &) = delete;
};
} // namespace modelc::rt

#endif
