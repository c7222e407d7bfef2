/* What the C programs of test/e2e/train share: the training ABI's checks.
 * Include after modelc/modelc.h (st_io.h includes it). */
#ifndef ABI_CHECKS_H
#define ABI_CHECKS_H

#include "modelc/modelc.h"

#include <stdio.h>
#include <stdlib.h>

/* The API table of the library under test (set by main) and the checks of
 * every call: a message with the line and the library's last error, exit 1. */
static const modelc_api *api;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "line %d: %s failed: %s\n", __LINE__, #cond,            \
              api->last_error(NULL));                                          \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)
#define OK(m, call)                                                            \
  do {                                                                         \
    if ((call) != 0) {                                                         \
      fprintf(stderr, "line %d: %s failed: %s\n", __LINE__, #call,            \
              api->last_error(m));                                             \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#endif
