/* Calls the runtime's __kmpc_fork_call as the code of MLIR's OpenMP lowering
 * does, straight from the runtime archive, with regions that capture 12 and
 * 32 values (the runtime once passed only the first 8 on):
 *
 *   fork_call         every thread of the team must receive every value, in
 *                     order: prints "N values: T threads, all received"
 *   fork_call --too-many   a region of 33 values, more than the runtime
 *                     passes: the runtime must stop the process, saying why
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*kmpc_micro)(int32_t *, int32_t *, ...);
void __kmpc_fork_call(void *loc, int32_t argc, kmpc_micro fn, ...);

#define EACH12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define EACH32(X) EACH12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) \
  X(20) X(21) X(22) X(23) X(24) X(25) X(26) X(27) X(28) X(29) X(30) X(31)
#define PARAM(i) , void *a##i
#define VALUE(i) a##i,
#define ARG(i) , (void *)&values[i]

static int values[33];
static atomic_int ran, complete;

/* One thread's view of the region: did it get &values[0..n-1]? */
static void received(void *const *got, int n) {
  int ok = 1;
  for (int i = 0; i < n; ++i)
    ok = ok && got[i] == &values[i];
  atomic_fetch_add(&ran, 1);
  atomic_fetch_add(&complete, ok);
}

static void region12(int32_t *gtid, int32_t *btid EACH12(PARAM)) {
  (void)gtid, (void)btid;
  void *got[] = {EACH12(VALUE)};
  received(got, 12);
}

static void region32(int32_t *gtid, int32_t *btid EACH32(PARAM)) {
  (void)gtid, (void)btid;
  void *got[] = {EACH32(VALUE)};
  received(got, 32);
}

static void report(int n) {
  int r = atomic_exchange(&ran, 0), c = atomic_exchange(&complete, 0);
  printf("%d values: %d threads, %s\n", n, r,
         c == r ? "all received" : "SOME VALUES LOST");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--too-many") == 0) {
    __kmpc_fork_call(NULL, 33, (kmpc_micro)region32 EACH32(ARG), (void *)&values[32]);
    printf("the region of 33 values returned\n");
    return 0;
  }
  __kmpc_fork_call(NULL, 12, (kmpc_micro)region12 EACH12(ARG));
  report(12);
  __kmpc_fork_call(NULL, 32, (kmpc_micro)region32 EACH32(ARG));
  report(32);
  return 0;
}
