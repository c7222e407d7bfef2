//===- Parallel.h - Elementwise loops of the runtime on its thread pool ----===//
//
// parallelFor splits [0, n) into chunks and runs them on the pool of
// Parallel.cpp through the same OpenMP entry points the generated code calls
// (__kmpc_fork_call, static schedule): the runtime's own elementwise loops
// (the optimizers' updates, the gradients' accumulation) use the team the
// model's kernels use. A loop whose iterations are independent computes the
// same values on any number of threads. Small loops, and a loop started
// inside a team or while another thread's team runs, run on the calling
// thread.
//
//===----------------------------------------------------------------------===//
#ifndef MODELC_RUNTIME_PARALLEL_H
#define MODELC_RUNTIME_PARALLEL_H

#include <algorithm>
#include <cstdint>

extern "C" {
struct ident_t;
void __kmpc_fork_call(ident_t *, int32_t argc, void (*fn)(int32_t *, int32_t *, ...), ...);
void __kmpc_for_static_init_8(ident_t *, int32_t gtid, int32_t schedule, int32_t *last,
                              int64_t *lower, int64_t *upper, int64_t *stride, int64_t incr,
                              int64_t chunk);
void __kmpc_for_static_fini(ident_t *, int32_t gtid);
}

namespace modelc::rt {

/// Elements per chunk (a multiple of any vector width), and the fewest
/// elements worth waking the team for.
constexpr uint64_t kParallelChunk = 16384;
constexpr uint64_t kParallelMin = 4 * kParallelChunk;

/// Calls body(begin, end) on disjoint ranges that cover [0, n).
template <typename Body> void parallelFor(uint64_t n, Body &&body) {
  if (n < kParallelMin) {
    if (n)
      body(uint64_t(0), n);
    return;
  }
  struct Context {
    Body *body;
    uint64_t n;
    int64_t chunks;
  } context{&body, n, static_cast<int64_t>((n + kParallelChunk - 1) / kParallelChunk)};
  void (*task)(int32_t *, int32_t *, void *) = [](int32_t *gtid, int32_t *, void *arg) {
    const Context &c = *static_cast<const Context *>(arg);
    int64_t lower = 0, upper = c.chunks - 1, stride = 1;
    int32_t last = 0;
    __kmpc_for_static_init_8(nullptr, *gtid, /*kmp_sch_static=*/34, &last, &lower, &upper,
                             &stride, 1, 1);
    if (lower <= upper) {
      uint64_t begin = static_cast<uint64_t>(lower) * kParallelChunk;
      uint64_t end = std::min(c.n, static_cast<uint64_t>(upper + 1) * kParallelChunk);
      (*c.body)(begin, end);
    }
    __kmpc_for_static_fini(nullptr, *gtid);
  };
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<void (*)(int32_t *, int32_t *, ...)>(task),
                   static_cast<void *>(&context));
}

} // namespace modelc::rt

#endif
