/* Dropout's random stream belongs to the instance (issue 13, finding 2):
 *   - two instances created with one seed draw the same masks, call for
 *     call, however the other calls interleave (a stream shared by the
 *     library would give the second instance the first one's next mask);
 *   - consecutive calls of one instance, and another seed, draw others;
 *   - kept elements are scaled by 1 / (1 - p), about half are kept.
 * Prints one line per property; exits 1 when one does not hold. */
#include "modelc/modelc.h"

#include <stdio.h>
#include <string.h>

enum { kRows = 64, kCols = 16, kCount = kRows * kCols };

static const modelc_api *api;

/* One training call on ones; the first output (Dropout(0.5)) into `out`. */
static int draw(modelc_model *m, float *out) {
  static float x[kCount];
  for (int i = 0; i < kCount; ++i)
    x[i] = 1.0f;
  int64_t shape[2] = {kRows, kCols};
  modelc_tensor in = {x, MODELC_F32, 2, shape};
  modelc_tensor y;
  if (api->forward(m, &in, 1) != 0 || api->get_output(m, 0, &y) != 0) {
    fprintf(stderr, "forward: %s\n", api->last_error(m));
    return 0;
  }
  memcpy(out, y.data, sizeof(float) * kCount);
  return 1;
}

int main(void) {
  api = modelc_model_entry();
  modelc_model *a = api->create("cpu", 7), *b = api->create("cpu", 7), *c = api->create("cpu", 8);
  if (!a || !b || !c || api->set_training(a, 1) || api->set_training(b, 1) ||
      api->set_training(c, 1))
    return 1;
  static float a1[kCount], a2[kCount], b1[kCount], b2[kCount], c1[kCount];
  /* a, b, a, c, b: b's calls come after a's. */
  if (!draw(a, a1) || !draw(b, b1) || !draw(a, a2) || !draw(c, c1) || !draw(b, b2))
    return 1;
  int same = memcmp(a1, b1, sizeof a1) == 0 && memcmp(a2, b2, sizeof a2) == 0;
  int nextDiffers = memcmp(a1, a2, sizeof a1) != 0;
  int seedDiffers = memcmp(a1, c1, sizeof a1) != 0;
  int kept = 0, scaled = 1;
  for (int i = 0; i < kCount; ++i) {
    kept += a1[i] != 0.0f;
    scaled &= a1[i] == 0.0f || a1[i] == 2.0f;
  }
  printf("same seed, same masks call for call: %s\n", same ? "yes" : "no");
  printf("the next call draws another mask: %s\n", nextDiffers ? "yes" : "no");
  printf("another seed draws another mask: %s\n", seedDiffers ? "yes" : "no");
  int half = kept > kCount * 2 / 5 && kept < kCount * 3 / 5;
  printf("kept about half, scaled by 2: %s\n", half && scaled ? "yes" : "no");
  api->destroy(a);
  api->destroy(b);
  api->destroy(c);
  return !(same && nextDiffers && seedDiffers && half && scaled);
}
