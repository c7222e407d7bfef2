/* A training call that fails the generated code's reshape check leaves the
 * buffers as they were, and the next good call runs:
 *   - forward on 3 x 12 inputs (36 elements into rows of 8) fails with the
 *     model's file, line and column;
 *   - bn.running_mean is unchanged after it, and changed by a good call on
 *     2 x 12 inputs.
 * Prints one line per step; exits 1 when a step goes otherwise. */
#include "modelc/modelc.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  const modelc_api *api = modelc_model_entry();
  modelc_model *m = api->create("cpu", 1);
  if (!m || api->set_training(m, 1) != 0)
    return 1;
  static float x[3 * 12];
  for (int i = 0; i < 3 * 12; ++i)
    x[i] = (float)i;
  float before[8], after[8];
  if (api->read_state(m, "bn.running_mean", before, sizeof before) != 0)
    return 1;

  int64_t bad[2] = {3, 12};
  modelc_tensor in = {x, MODELC_F32, 2, bad};
  if (api->forward(m, &in, 1) == 0)
    return 1;
  printf("bad: %s\n", api->last_error(m));
  if (api->read_state(m, "bn.running_mean", after, sizeof after) != 0)
    return 1;
  int kept = memcmp(before, after, sizeof before) == 0;
  printf("buffers: %s\n", kept ? "kept" : "changed");

  int64_t good[2] = {2, 12};
  in.shape = good;
  modelc_tensor out;
  if (api->forward(m, &in, 1) != 0 || api->get_output(m, 0, &out) != 0)
    return 1;
  if (api->read_state(m, "bn.running_mean", after, sizeof after) != 0)
    return 1;
  int updated = memcmp(before, after, sizeof before) != 0;
  printf("good: [%lld, %lld], buffers %s\n", (long long)out.shape[0], (long long)out.shape[1],
         updated ? "updated" : "kept");
  api->destroy(m);
  return !(kept && updated);
}
