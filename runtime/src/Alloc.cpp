//===- Alloc.cpp - The generated code's heap, with a cache of large blocks ===//

#include "Alloc.h"

#include <cstdlib>
#include <sys/mman.h>
#include <map>
#include <mutex>

namespace {

/// Every block starts with a header of this size holding the block's
/// usable size, so that free knows which cache list it belongs to; it keeps
/// the user pointer 64-byte aligned (the most any buffer asks for).
constexpr uint64_t kHeader = 64;
constexpr uint64_t kCachedMinBytes = 64 * 1024;
constexpr uint64_t kCacheBytes = 512ull * 1024 * 1024;
constexpr uint64_t kHugePage = 2 * 1024 * 1024;
constexpr uint64_t kHugeMinBytes = 2 * kHugePage;

/// Small blocks (a batch of one's activations, tile buffers) are kept per
/// thread, without a lock, in power-of-two classes from 64 bytes up to
/// kCachedMinBytes, a few each: aligned_alloc and free cost as much as a
/// TinyModel layer.
constexpr int kSmallClasses = 11; // 64 B .. 64 KiB
constexpr int kSmallPerClass = 8;

struct SmallCache {
  void *blocks[kSmallClasses][kSmallPerClass] = {};
  int count[kSmallClasses] = {};
  ~SmallCache() {
    for (int c = 0; c < kSmallClasses; ++c)
      for (int i = 0; i < count[c]; ++i)
        std::free(blocks[c][i]);
  }
};
thread_local SmallCache smallCache;

/// Whether a block of `usable` bytes is a small one: allocation and free
/// must agree. (Rounded up to its class, a small block can be exactly
/// kCachedMinBytes; when free took those for large ones, every 32-64 KiB
/// buffer went to the large cache, which allocation never looks in for
/// them: the cache grew by one block per call up to its 512 MiB.)
bool isSmall(uint64_t usable) { return usable <= kCachedMinBytes; }

/// The class of a usable size of at most kCachedMinBytes: the smallest
/// power of two >= it, from 64.
int smallClass(uint64_t usable) {
  int c = 0;
  while ((64ull << c) < usable)
    ++c;
  return c;
}

struct Cache {
  std::mutex mutex;
  std::multimap<uint64_t, void *> blocks; // usable size -> base
  uint64_t bytes = 0;
};

Cache &cache() {
  // Never destroyed: generated code may free after static destructors ran.
  static Cache *instance = new Cache;
  return *instance;
}

void *allocate(uint64_t size) {
  if (size > UINT64_MAX - 2 * kHeader)
    return nullptr;
  uint64_t usable = (size + 63) / 64 * 64;
  if (isSmall(usable)) {
    int c = smallClass(usable);
    usable = 64ull << c;
    SmallCache &small = smallCache;
    if (small.count[c] > 0)
      return static_cast<char *>(small.blocks[c][--small.count[c]]) + kHeader;
  } else {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.blocks.find(usable);
    if (it != c.blocks.end()) {
      void *base = it->second;
      c.bytes -= usable;
      c.blocks.erase(it);
      return static_cast<char *>(base) + kHeader;
    }
  }
  void *base;
  if (usable >= kHugeMinBytes) {
    // Patches and activations are read with strides of a row (kilobytes):
    // on 4 KiB pages nearly every step of a kernel's reduction is a TLB
    // miss. Large blocks ask for transparent huge pages.
    uint64_t rounded = (usable + kHeader + kHugePage - 1) / kHugePage * kHugePage;
    base = std::aligned_alloc(kHugePage, rounded);
    if (base)
      madvise(base, rounded, MADV_HUGEPAGE);
  } else {
    base = std::aligned_alloc(64, usable + kHeader);
  }
  if (!base)
    return nullptr;
  *static_cast<uint64_t *>(base) = usable;
  return static_cast<char *>(base) + kHeader;
}

} // namespace

extern "C" void *_mlir_memref_to_llvm_alloc(uint64_t size) { return allocate(size); }

extern "C" void *_mlir_memref_to_llvm_aligned_alloc(uint64_t alignment, uint64_t size) {
  // Every block is 64-byte aligned; bufferization asks for at most that.
  return alignment <= 64 ? allocate(size) : nullptr;
}

extern "C" void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  void *base = static_cast<char *>(ptr) - kHeader;
  uint64_t usable = *static_cast<uint64_t *>(base);
  if (isSmall(usable)) {
    int c = smallClass(usable);
    SmallCache &small = smallCache;
    if (small.count[c] < kSmallPerClass) {
      small.blocks[c][small.count[c]++] = base;
      return;
    }
  } else {
    Cache &c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + usable <= kCacheBytes) {
      c.blocks.emplace(usable, base);
      c.bytes += usable;
      return;
    }
  }
  std::free(base);
}
