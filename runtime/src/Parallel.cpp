//===- Parallel.cpp - The OpenMP entry points generated code calls --------===//
//
// modelc lowers the tile loops of a model (scf.forall -> scf.parallel ->
// omp.parallel + omp.wsloop) with MLIR's OpenMP lowering, whose LLVM IR calls
// the OpenMP runtime ABI (__kmpc_fork_call, __kmpc_for_static_init_*, ...).
// A model.so must need nothing beyond libc, libm and threads, so instead of
// libomp the runtime implements the few entry points that lowering uses, on a
// pool of threads created once and kept for the life of the library: no
// thread is created per call.
//
// - Team size: MODELC_NUM_THREADS, or the number of processors.
// - One team runs at a time. A fork from inside a team, or while another
//   application thread's team is running, runs on the calling thread alone,
//   so concurrent forward calls on several threads stay correct.
// - Every thread of a team computes whole output tiles: results do not
//   depend on the number of threads.
//
// These symbols are hidden by the library's version script, so they never
// interpose on (or collide with) a real OpenMP runtime of the application.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Microtask = void (*)(int32_t *, int32_t *, ...);

/// The most values a region may capture. __kmpc_fork_call receives them as
/// C varargs and must pass them on to the microtask as separate arguments,
/// which takes a call of fixed arity: one is instantiated for every count up
/// to kMaxArgs (invokers below). MLIR's OpenMP lowering passes one pointer
/// per captured value; modelc's regions capture a few (and, through
/// __kmpc_fork_call_if, one pointer to all of them), so 32 leaves ample room
/// while keeping the table small.
///
/// A region with more cannot be run correctly, and __kmpc_fork_call has no
/// way to fail: its caller, the generated code, goes on as if the region had
/// run. Skipping it would let that code go on with values never computed
/// (and possibly index memory with them), so the runtime stops the process
/// with a message that says why (unsupportedRegion). This is a mismatch
/// between the compiler and this runtime, the same on every call, not bad
/// input (test/Runtime/fork-call.test; runtime-symbols.test checks that the
/// runtime defines every entry point the compiler calls).
constexpr int kMaxArgs = 32;

using Invoker = void (*)(Microtask, int32_t *, int32_t *, void *const *);

template <size_t... I>
void invokeWith(Microtask fn, int32_t *gtid, int32_t *btid, void *const *args,
                std::index_sequence<I...>) {
  fn(gtid, btid, args[I]...);
}

template <size_t N>
void invokeN(Microtask fn, int32_t *gtid, int32_t *btid, void *const *args) {
  invokeWith(fn, gtid, btid, args, std::make_index_sequence<N>());
}

template <size_t... N>
constexpr std::array<Invoker, sizeof...(N)> makeInvokers(std::index_sequence<N...>) {
  return {&invokeN<N>...};
}

/// invokers[n] calls a microtask with n captured values.
constexpr std::array<Invoker, kMaxArgs + 1> invokers =
    makeInvokers(std::make_index_sequence<kMaxArgs + 1>());

/// Stops the process: `entry` got `argc` captured values, more than the
/// `most` it can pass on (see kMaxArgs).
[[noreturn]] void unsupportedRegion(const char *entry, int32_t argc, int most) {
  std::fprintf(stderr,
               "modelc runtime: internal error: a parallel region of this model "
               "library passes %d values to %s, which passes at most %d on "
               "(runtime/src/Parallel.cpp); the library was compiled by a "
               "compiler that does not match its runtime\n",
               static_cast<int>(argc), entry, most);
  std::abort();
}

/// The calling thread's place in the running team.
thread_local int tlsThread = 0;
thread_local int tlsTeamSize = 1;
thread_local bool tlsInTeam = false;

/// `argc` is in [0, kMaxArgs]: the entry points check it.
void invoke(Microtask fn, int32_t argc, void *const *args, int thread) {
  int32_t gtid = thread, btid = thread;
  invokers[static_cast<size_t>(argc)](fn, &gtid, &btid, args);
}

class ThreadPool {
public:
  static ThreadPool &get() {
    static ThreadPool pool;
    return pool;
  }

  /// Runs `fn` on every thread of a team; returns when all have finished.
  void fork(Microtask fn, int32_t argc, void *const *args) {
    std::unique_lock<std::mutex> team(teamMutex, std::try_to_lock);
    if (tlsInTeam || !team.owns_lock() || workers.empty()) {
      runAlone(fn, argc, args);
      return;
    }
    job = {fn, argc, {}};
    std::copy(args, args + argc, job.args);
    pending.store(int(workers.size()), std::memory_order_relaxed);
    {
      // Under the mutex, so that a worker about to sleep sees it.
      std::lock_guard<std::mutex> lock(mutex);
      generation.fetch_add(1, std::memory_order_release);
    }
    wake.notify_all();
    runAs(0, fn, argc, args);
    waitFor([&] { return pending.load(std::memory_order_acquire) == 0; }, finished);
  }

  /// `fn` on the calling thread, as a team of one.
  static void serial(Microtask fn, int32_t argc, void *const *args) { runAlone(fn, argc, args); }

  /// Waits until every thread of the running team has arrived.
  void barrier() {
    if (!tlsInTeam || tlsTeamSize == 1)
      return;
    uint64_t phase = barrierPhase.load(std::memory_order_acquire);
    if (arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == tlsTeamSize) {
      arrived.store(0, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mutex);
        barrierPhase.fetch_add(1, std::memory_order_release);
      }
      barrierDone.notify_all();
      return;
    }
    waitFor([&] { return barrierPhase.load(std::memory_order_acquire) != phase; }, barrierDone);
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping.store(true, std::memory_order_release);
    }
    wake.notify_all();
    for (std::thread &t : workers)
      t.join();
  }

private:
  struct Job {
    Microtask fn = nullptr;
    int32_t argc = 0;
    void *args[kMaxArgs] = {};
  };

  ThreadPool() {
    int n = int(std::thread::hardware_concurrency());
    if (const char *env = std::getenv("MODELC_NUM_THREADS")) {
      int requested = std::atoi(env);
      if (requested > 0)
        n = requested;
    }
    n = std::max(1, std::min(n, 256));
    teamSize = n;
    for (int i = 1; i < n; ++i)
      workers.emplace_back([this, i] { work(i); });
  }

  void runAs(int thread, Microtask fn, int32_t argc, void *const *args) {
    tlsThread = thread;
    tlsTeamSize = teamSize;
    tlsInTeam = true;
    invoke(fn, argc, args, thread);
    tlsInTeam = false;
    tlsThread = 0;
    tlsTeamSize = 1;
  }

  /// Runs `fn` on the calling thread as a team of one.
  static void runAlone(Microtask fn, int32_t argc, void *const *args) {
    bool outer = tlsInTeam;
    int thread = tlsThread, size = tlsTeamSize;
    tlsThread = 0;
    tlsTeamSize = 1;
    tlsInTeam = true;
    invoke(fn, argc, args, 0);
    tlsInTeam = outer;
    tlsThread = thread;
    tlsTeamSize = size;
  }

  /// Spins for a while on `ready` (a region of a small model takes a few
  /// microseconds; waking a sleeping thread costs tens), then sleeps on
  /// `cv`, whose notifier changes the state under `mutex`.
  template <typename Ready>
  void waitFor(Ready ready, std::condition_variable &cv) {
    for (int i = 0; i < kSpins; ++i) {
      if (ready())
        return;
      pause();
    }
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return ready(); });
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }

  void work(int thread) {
    uint64_t seen = 0;
    for (;;) {
      waitFor([&] {
        return stopping.load(std::memory_order_acquire) ||
               generation.load(std::memory_order_acquire) != seen;
      }, wake);
      if (stopping.load(std::memory_order_acquire))
        return;
      seen = generation.load(std::memory_order_acquire);
      Job current = job;
      runAs(thread, current.fn, current.argc, current.args);
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_one();
      }
    }
  }

  /// About 50 microseconds of pause instructions: longer than the gap
  /// between two regions of one forward call, short enough not to matter
  /// when the machine is busy.
  static constexpr int kSpins = 2000;

  std::mutex teamMutex; // one team at a time
  std::mutex mutex;     // for sleeping and waking only
  std::condition_variable wake, finished, barrierDone;
  std::vector<std::thread> workers;
  Job job; // written before `generation` is bumped (release)
  std::atomic<uint64_t> generation{0}, barrierPhase{0};
  std::atomic<int> pending{0}, arrived{0};
  int teamSize = 1;
  std::atomic<bool> stopping{false};
};

/// Static schedule without chunks (kmp_sch_static): thread t of n gets the
/// t-th of n contiguous, nearly equal parts of [lower, upper].
template <typename T, typename S>
void staticInit(int32_t *lastIter, T *lower, T *upper, S *stride, S incr) {
  int n = tlsTeamSize, t = tlsThread;
  T lo = *lower, hi = *upper;
  if (incr == 0 || (incr > 0 ? hi < lo : hi > lo)) {
    if (lastIter)
      *lastIter = 0;
    return;
  }
  // Trip count, computed in the unsigned type so that full ranges work.
  uint64_t trips = incr > 0 ? uint64_t(hi - lo) / uint64_t(incr) + 1
                            : uint64_t(lo - hi) / uint64_t(-incr) + 1;
  uint64_t small = trips / uint64_t(n), extra = trips % uint64_t(n);
  uint64_t first = uint64_t(t) * small + std::min<uint64_t>(uint64_t(t), extra);
  uint64_t count = small + (uint64_t(t) < extra ? 1 : 0);
  *lower = T(lo + S(first) * incr);
  *upper = T(*lower + S(count) * incr - incr);
  if (count == 0)
    *upper = T(*lower - incr); // empty: upper before lower
  if (stride)
    *stride = S(trips) * incr;
  if (lastIter)
    *lastIter = count != 0 && first + count == trips;
}

} // namespace

extern "C" {

struct ident_t;

int32_t __kmpc_global_thread_num(ident_t *) { return tlsThread; }

// A parallel region with an if clause (-mdl-parallel-if-many-iterations):
// the arguments come packed behind one pointer (argc is 0 or 1), and a
// false condition runs the region on the calling thread.
void __kmpc_fork_call_if(ident_t *, int32_t argc, Microtask fn, int32_t cond, void *arg) {
  if (argc < 0 || argc > 1)
    unsupportedRegion("__kmpc_fork_call_if", argc, 1);
  // One packed pointer at most: no table of kMaxArgs to clear on every
  // call (a batch of one forks a few regions per forward).
  void *args[1] = {arg};
  if (cond)
    ThreadPool::get().fork(fn, argc, args);
  else
    ThreadPool::serial(fn, argc, args);
}

void __kmpc_fork_call(ident_t *, int32_t argc, Microtask fn, ...) {
  if (argc < 0 || argc > kMaxArgs)
    unsupportedRegion("__kmpc_fork_call", argc, kMaxArgs);
  void *args[kMaxArgs]; // the first argc are set below, and only they are read
  va_list ap;
  va_start(ap, fn);
  for (int32_t i = 0; i < argc; ++i)
    args[i] = va_arg(ap, void *);
  va_end(ap);
  ThreadPool::get().fork(fn, argc, args);
}

void __kmpc_barrier(ident_t *, int32_t) { ThreadPool::get().barrier(); }

void __kmpc_for_static_init_4(ident_t *, int32_t, int32_t, int32_t *last, int32_t *lower,
                              int32_t *upper, int32_t *stride, int32_t incr, int32_t) {
  staticInit<int32_t, int32_t>(last, lower, upper, stride, incr);
}
void __kmpc_for_static_init_4u(ident_t *, int32_t, int32_t, int32_t *last, uint32_t *lower,
                               uint32_t *upper, int32_t *stride, int32_t incr, int32_t) {
  staticInit<uint32_t, int32_t>(last, lower, upper, stride, incr);
}
void __kmpc_for_static_init_8(ident_t *, int32_t, int32_t, int32_t *last, int64_t *lower,
                              int64_t *upper, int64_t *stride, int64_t incr, int64_t) {
  staticInit<int64_t, int64_t>(last, lower, upper, stride, incr);
}
void __kmpc_for_static_init_8u(ident_t *, int32_t, int32_t, int32_t *last, uint64_t *lower,
                               uint64_t *upper, int64_t *stride, int64_t incr, int64_t) {
  staticInit<uint64_t, int64_t>(last, lower, upper, stride, incr);
}
void __kmpc_for_static_fini(ident_t *, int32_t) {}

} // extern "C"
