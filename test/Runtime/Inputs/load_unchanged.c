/* Every failing load leaves every parameter and buffer bit for bit as it
 * was: for each FILE, the Fake model's state (persistent or not) is
 * snapshotted, then load_state (strict and not) and load_state_from_memory
 * (of the file's bytes, when it can be read) are called; a strict load must
 * fail, and the state must equal the snapshot after each call. (A
 * non-strict load of a file that shares no key with the model succeeds and
 * loads nothing, as in PyTorch.)
 *
 *   load_unchanged FILE... [--strict-only FILE...]
 *        prints "NAME: strict refused, non-strict refused|loaded nothing,
 *        unchanged" per file; files after --strict-only (whose non-strict
 *        load legitimately loads the keys that fit) only "NAME: strict
 *        refused, unchanged"
 *
 * Exits 1 when a strict load succeeds or anything changed. */
#define _POSIX_C_SOURCE 200809L
#include "modelc/modelc.h"
#include "read_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MODELC_DECLARE_MODEL(Fake)

/* Every state entry's bytes, in listing order, back to back. */
static unsigned char *snapshot(const modelc_model *m, size_t *size) {
  size_t total = 0;
  unsigned char *out = NULL;
  for (int32_t i = 0; i < Fake_num_states(m); ++i) {
    modelc_state_info info;
    Fake_state_info(m, i, &info);
    out = realloc(out, total + info.nbytes + 1);
    Fake_read_state(m, info.name, out + total, info.nbytes);
    total += info.nbytes;
  }
  *size = total;
  return out;
}

int main(int argc, char **argv) {
  modelc_model *m = Fake_create("cpu", 3);
  int failures = 0;
  if (!m)
    return 1;
  /* Values no file holds, in every entry, the non-persistent one included. */
  for (int32_t i = 0; i < Fake_num_states(m); ++i) {
    modelc_state_info info;
    Fake_state_info(m, i, &info);
    unsigned char *bytes = malloc(info.nbytes + 1);
    for (uint64_t k = 0; k < info.nbytes; ++k)
      bytes[k] = (unsigned char)(0xa5 ^ (k * 7 + (uint64_t)i * 13));
    Fake_write_state(m, info.name, bytes, info.nbytes);
    free(bytes);
  }
  size_t beforeSize, afterSize;
  unsigned char *before = snapshot(m, &beforeSize);

  int strictOnly = 0;
  for (int a = 1; a < argc; ++a) {
    if (strcmp(argv[a], "--strict-only") == 0) {
      strictOnly = 1;
      continue;
    }
    const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
    int ok = 1, nonStrictLoaded = 0;
    for (int strict = 1; strict >= strictOnly; --strict) {
      if (Fake_load_state(m, argv[a], strict) != -1) {
        if (strict) {
          printf("%s: load_state(strict=1) succeeded\n", name);
          ok = 0;
        }
        nonStrictLoaded = !strict;
      }
      unsigned char *after = snapshot(m, &afterSize);
      if (afterSize != beforeSize || memcmp(before, after, beforeSize) != 0) {
        printf("%s: load_state(strict=%d) changed the state\n", name, strict);
        ok = 0;
      }
      free(after);
      size_t size;
      unsigned char *data = read_file(argv[a], &size);
      if (data) {
        if (Fake_load_state_from_memory(m, data, size, strict) != -1 &&
            (strict || !nonStrictLoaded)) {
          printf("%s: load_state_from_memory(strict=%d) succeeded\n", name,
                 strict);
          ok = 0;
        }
        after = snapshot(m, &afterSize);
        if (afterSize != beforeSize || memcmp(before, after, beforeSize) != 0) {
          printf("%s: load_state_from_memory(strict=%d) changed the state\n",
                 name, strict);
          ok = 0;
        }
        free(after);
        free(data);
      }
    }
    if (ok && strictOnly)
      printf("%s: strict refused, unchanged\n", name);
    else if (ok)
      printf("%s: strict refused, non-strict %s, unchanged\n", name,
             nonStrictLoaded ? "loaded nothing" : "refused");
    else
      printf("%s: FAILED\n", name);
    failures += !ok;
  }
  free(before);
  Fake_destroy(m);
  printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}
