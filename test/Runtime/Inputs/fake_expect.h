/* The expectations of the C test programs that drive the fake models
 * (prefix Fake, or FAKE_MODEL defined before this is included): EXPECT
 * counts an unmet condition in `failures` and says which; EXPECT_ERROR
 * expects a call to fail and prints its message. */
#ifndef MODELC_TEST_FAKE_EXPECT_H
#define MODELC_TEST_FAKE_EXPECT_H

#include "modelc/modelc.h"

#include <stdio.h>

#ifndef FAKE_MODEL
#define FAKE_MODEL Fake
#endif
/* (Through a second macro, so that FAKE_MODEL is expanded before ##.) */
#define FAKE_DECLARE_(prefix) MODELC_DECLARE_MODEL(prefix)
#define FAKE_LAST_ERROR_(prefix) FAKE_LAST_ERROR2_(prefix)
#define FAKE_LAST_ERROR2_(prefix) prefix##_last_error
FAKE_DECLARE_(FAKE_MODEL)

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
    printf("error: %s\n", FAKE_LAST_ERROR_(FAKE_MODEL)(model));                \
  } while (0)

#endif
