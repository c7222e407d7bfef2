/* heap_failed_alloc.c [--fail]: 64 allocations of growing sizes (1 to
 * 64 MiB, each written and freed, as a model called at ever larger batch
 * sizes makes), after one allocation that cannot succeed if --fail is given,
 * then the resident memory in MiB. The heap's cache is bounded by twice the
 * most ever in use at once; a failed request must not count as in use. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *_mlir_memref_to_llvm_alloc(uint64_t size);
void _mlir_memref_to_llvm_free(void *ptr);

static long rssMiB(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kb = strtol(line + 6, NULL, 10);
  if (f)
    fclose(f);
  return kb / 1024;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--fail") == 0) {
    void *p = _mlir_memref_to_llvm_alloc((uint64_t)1 << 50); /* 1 PiB */
    printf("1 PiB: %s\n", p ? "allocated" : "refused");
  }
  for (int i = 1; i <= 64; ++i) {
    uint64_t n = ((uint64_t)i << 20) + 4096;
    char *p = _mlir_memref_to_llvm_alloc(n);
    if (!p)
      return 1;
    memset(p, 1, n);
    _mlir_memref_to_llvm_free(p);
  }
  printf("resident: %ld MiB\n", rssMiB());
  return 0;
}
