//===- Alloc.cpp - The generated code's heap, with a bounded cache ---------===//

#include "Alloc.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// Under AddressSanitizer every block comes from aligned_alloc, so that ASan
// sees each one (overflows, leaks, use after free); memory from mmap would
// be invisible to it. ThreadSanitizer and ASan replace malloc: malloc_trim
// would trim glibc's unused heap, not theirs.
#if defined(__SANITIZE_ADDRESS__)
#define MODELC_HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MODELC_HEAP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MODELC_HEAP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MODELC_HEAP_TSAN 1
#endif
#endif

namespace {

/// Every block starts with a header of this size (struct Header), so that
/// free knows the block's size; it keeps the user pointer 64-byte aligned
/// (the most any buffer asks for).
constexpr uint64_t kHeader = 64;
constexpr uint64_t kCachedMinBytes = 64 * 1024;
/// Blocks of at least this many bytes (header included) are mappings of
/// their own: glibc would serve them from its heap once its mmap threshold
/// has grown (it grows with every large free, to 32 MiB), and memory in the
/// middle of that heap never leaves the process.
constexpr uint64_t kMappedMinBytes = 256 * 1024;
constexpr uint64_t kHugePage = 2 * 1024 * 1024;
constexpr uint64_t kHugeMinBytes = 2 * kHugePage;

struct Header {
  uint64_t usable; // the bytes after the header
  // While the block is in the large cache: its neighbours in the order of
  // frees, for eviction of the least recently freed first.
  Header *older;
  Header *newer;
};
static_assert(sizeof(Header) <= kHeader, "the header fits before the data");

/// Small blocks (a batch of one's activations, tile buffers) are kept per
/// thread, without a lock, in power-of-two classes from 64 bytes up to
/// kCachedMinBytes, a few each: aligned_alloc and free cost as much as a
/// TinyModel layer. A thread keeps at most 8 x (64 B + ... + 64 KiB), 1 MiB.
constexpr int kSmallClasses = 11; // 64 B .. 64 KiB
constexpr int kSmallPerClass = 8;

struct SmallCache {
  void *blocks[kSmallClasses][kSmallPerClass] = {};
  int count[kSmallClasses] = {};
  void flush() {
    for (int c = 0; c < kSmallClasses; ++c) {
      for (int i = 0; i < count[c]; ++i)
        std::free(blocks[c][i]);
      count[c] = 0;
    }
  }
  ~SmallCache() { flush(); }
};
thread_local SmallCache smallCache;

/// Whether a block of `usable` bytes is a small one: allocation and free
/// must agree. (Rounded up to its class, a small block can be exactly
/// kCachedMinBytes; when free took those for large ones, every 32-64 KiB
/// buffer went to the large cache, which allocation never looks in for
/// them: the cache grew by one block per call up to its bound.)
bool isSmall(uint64_t usable) { return usable <= kCachedMinBytes; }

/// The class of a usable size of at most kCachedMinBytes: the smallest
/// power of two >= it, from 64.
int smallClass(uint64_t usable) {
  int c = 0;
  while ((64ull << c) < usable)
    ++c;
  return c;
}

uint64_t roundUp(uint64_t n, uint64_t granule) {
  return (n + granule - 1) / granule * granule;
}

uint64_t pageSize() {
  static const uint64_t size = [] {
    long s = sysconf(_SC_PAGESIZE);
    return s > 0 ? static_cast<uint64_t>(s) : 4096;
  }();
  return size;
}

/// The usable size of the block that serves a request of `size` bytes
/// (at most UINT64_MAX - 2 * kHugePage): small ones take their class; a
/// mapped block fills its pages, huge pages from kHugeMinBytes, so that
/// requests that differ by less than a page share cached blocks.
uint64_t blockSize(uint64_t size) {
  uint64_t usable = roundUp(size, 64);
  if (isSmall(usable))
    return 64ull << smallClass(usable);
  uint64_t total = usable + kHeader;
  if (total < kMappedMinBytes)
    return usable;
  return roundUp(total, total >= kHugeMinBytes ? kHugePage : pageSize()) - kHeader;
}

bool isMapped(uint64_t usable) {
#ifdef MODELC_HEAP_ASAN
  (void)usable;
  return false;
#else
  return usable + kHeader >= kMappedMinBytes;
#endif
}

/// `total` bytes of fresh anonymous memory; from kHugeMinBytes aligned to a
/// huge page and asking for transparent huge pages: patches and activations
/// are read with strides of a row (kilobytes), so on 4 KiB pages nearly
/// every step of a kernel's reduction is a TLB miss.
void *mapBlock(uint64_t total) {
  if (total < kHugeMinBytes) {
    void *p = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  uint64_t span = total + kHugePage;
  void *p = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return nullptr;
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = roundUp(start, kHugePage);
  if (aligned > start)
    munmap(p, aligned - start);
  if (uintptr_t tail = start + span - (aligned + total))
    munmap(reinterpret_cast<void *>(aligned + total), tail);
  madvise(reinterpret_cast<void *>(aligned), total, MADV_HUGEPAGE);
  return reinterpret_cast<void *>(aligned);
}

/// A new block of `usable` bytes (blockSize) with its header filled in.
Header *obtainBlock(uint64_t usable) {
  uint64_t total = usable + kHeader;
  void *base = isMapped(usable) ? mapBlock(total) : std::aligned_alloc(64, total);
  if (!base)
    return nullptr;
  auto *h = static_cast<Header *>(base);
  h->usable = usable;
  return h;
}

void releaseBlock(Header *h) {
  if (isMapped(h->usable))
    munmap(h, h->usable + kHeader);
  else
    std::free(h);
}

/// Frees a chain of blocks linked through `newer`.
void releaseChain(Header *h) {
  while (h) {
    Header *next = h->newer;
    releaseBlock(h);
    h = next;
  }
}

/// The free blocks above kCachedMinBytes, shared by all threads, kept for
/// the next request of the same size: a forward call allocates the same
/// buffers every time (ResNet-18: tens of MB of patches and activations),
/// and from fresh pages each call, page faults and zeroing cost more than
/// the convolutions they hold. Bounded: the cached bytes plus those in use
/// stay within twice the most ever in use at once since the last release,
/// so that a model run at ever new batch sizes, whose blocks never fit the
/// next call, does not hoard them; the least recently freed go first.
struct Cache {
  std::mutex mutex;
  std::multimap<uint64_t, Header *> bySize; // usable size -> block
  Header *oldest = nullptr;
  Header *newest = nullptr;
  uint64_t cachedBytes = 0;
  uint64_t inUseBytes = 0;
  uint64_t peakInUseBytes = 0;

  void unlink(Header *h) {
    (h->older ? h->older->newer : oldest) = h->newer;
    (h->newer ? h->newer->older : newest) = h->older;
    cachedBytes -= h->usable;
  }

  /// Takes the smallest cached block of `usable` bytes up to twice that,
  /// of those the most recently freed (its pages are the likeliest to be in
  /// the CPU's caches). Exact sizes only, a network of many layer shapes
  /// (MobileNetV2's 17 blocks) cached more distinct sizes than the bound
  /// holds, and every call evicted and faulted in fresh pages again.
  Header *take(uint64_t usable) {
    auto it = bySize.lower_bound(usable);
    if (it == bySize.end() || it->first - usable > usable)
      return nullptr;
    // The most recently freed of that size: the last of its equal keys.
    auto last = bySize.upper_bound(it->first);
    it = std::prev(last);
    Header *h = it->second;
    bySize.erase(it);
    unlink(h);
    return h;
  }

  /// Caches `h`; false when out of memory for the index.
  bool put(Header *h) {
    try {
      bySize.emplace(h->usable, h);
    } catch (...) {
      return false;
    }
    h->older = newest;
    h->newer = nullptr;
    (newest ? newest->newer : oldest) = h;
    newest = h;
    cachedBytes += h->usable;
    return true;
  }

  /// Counts `usable` bytes as in use: a block handed out.
  void acquire(uint64_t usable) {
    inUseBytes += usable;
    peakInUseBytes = std::max(peakInUseBytes, inUseBytes);
  }

  /// Removes the least recently freed blocks until the bound holds with
  /// `incoming` more bytes in use (a new block about to be made), or all
  /// when `all`, and returns them as a chain for releaseChain, to be freed
  /// after the lock is dropped.
  Header *evict(bool all, uint64_t incoming = 0) {
    Header *chain = nullptr;
    uint64_t inUse = inUseBytes + incoming;
    uint64_t bound = 2 * std::max(peakInUseBytes, inUse);
    while (oldest && (all || cachedBytes + inUse > bound)) {
      Header *h = oldest;
      auto range = bySize.equal_range(h->usable);
      for (auto it = range.first; it != range.second; ++it)
        if (it->second == h) {
          bySize.erase(it);
          break;
        }
      unlink(h);
      h->newer = chain;
      chain = h;
    }
    return chain;
  }
};

Cache &cache() {
  // Never destroyed: generated code may free after static destructors ran.
  static Cache *instance = new Cache;
  return *instance;
}

void *allocate(uint64_t size) {
  if (size > UINT64_MAX - 2 * kHugePage)
    return nullptr;
  uint64_t usable = blockSize(size);
  if (isSmall(usable)) {
    int c = smallClass(usable);
    SmallCache &small = smallCache;
    if (small.count[c] > 0)
      return static_cast<char *>(small.blocks[c][--small.count[c]]) + kHeader;
    Header *h = obtainBlock(usable);
    return h ? reinterpret_cast<char *>(h) + kHeader : nullptr;
  }
  Cache &c = cache();
  Header *evicted;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (Header *h = c.take(usable)) {
      c.acquire(h->usable);
      return reinterpret_cast<char *>(h) + kHeader;
    }
    // Only a new block adds to the cached bytes plus those in use: make
    // room for it first, so that the process never holds more than the
    // bound.
    evicted = c.evict(false, usable);
  }
  releaseChain(evicted);
  // In use only once it exists: a request that fails (a NULL the caller may
  // survive) must not raise the peak the bound is taken from.
  Header *h = obtainBlock(usable);
  if (!h)
    return nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.acquire(usable);
  }
  return reinterpret_cast<char *>(h) + kHeader;
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
  auto *h = reinterpret_cast<Header *>(static_cast<char *>(ptr) - kHeader);
  if (isSmall(h->usable)) {
    int c = smallClass(h->usable);
    SmallCache &small = smallCache;
    if (small.count[c] < kSmallPerClass) {
      small.blocks[c][small.count[c]++] = h;
      return;
    }
    releaseBlock(h);
    return;
  }
  // Moving a block from in use to cached keeps their sum: the bound holds.
  Cache &c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.inUseBytes -= h->usable;
    if (c.put(h))
      return;
  }
  releaseBlock(h);
}

namespace modelc::rt {

void releaseHeap() {
  Cache &c = cache();
  Header *all;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    all = c.evict(true);
    // The bound starts over from what is in use now (nothing, when the last
    // model went): a trimmed process that later runs small batches only
    // should not keep room for the large ones of before.
    c.peakInUseBytes = c.inUseBytes;
  }
  releaseChain(all);
  // Other threads' small caches are theirs alone (no lock); each holds at
  // most 1 MiB and is freed when its thread ends.
  smallCache.flush();
#if defined(__GLIBC__) && !defined(MODELC_HEAP_ASAN) && !defined(MODELC_HEAP_TSAN)
  // The state, the outputs and the small blocks come from malloc; glibc
  // keeps freed memory below its trim threshold (which grows with the large
  // frees, to 64 MiB) and in the middle of its heaps.
  malloc_trim(0);
#endif
}

namespace {
/// Live model instances of this library (HeapUser).
std::atomic<int64_t> liveModels{0};
} // namespace

HeapUser::HeapUser() { liveModels.fetch_add(1, std::memory_order_relaxed); }

HeapUser::~HeapUser() {
  if (liveModels.fetch_sub(1, std::memory_order_acq_rel) == 1)
    releaseHeap();
}

} // namespace modelc::rt
