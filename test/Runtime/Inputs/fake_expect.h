/* The expectations of the C test programs that drive the fake model
 * (prefix Fake): EXPECT counts an unmet condition in `failures` and says
 * which; EXPECT_ERROR expects a call to fail and prints its message. */
#ifndef MODELC_TEST_FAKE_EXPECT_H
#define MODELC_TEST_FAKE_EXPECT_H

#include "modelc/modelc.h"

#include <stdio.h>

MODELC_DECLARE_MODEL(Fake)

static int failures;
#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("FAILED line %d: %s\n", __LINE__, #cond);                         \
      failures++;                                                              \
    }                                                                          \
  } while (0)

#define EXPECT_ERROR(call, model)                                              \
  do {                                                                         \
    EXPECT((call) == -1);                                                      \
    printf("error: %s\n", Fake_last_error(model));                             \
  } while (0)

#endif
