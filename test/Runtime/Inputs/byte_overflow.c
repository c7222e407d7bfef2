/* Inputs whose byte count does not fit in int64 are refused by forward,
 * which returns -1, and the model stays usable:
 *   - [46116860184273879, 100] F32: 4.6e18 elements fit in int64, their
 *     18.4e18 bytes do not (they fit in uint64, which the check used);
 *   - [2^62, 100] F32: the element count itself does not fit;
 * then a good call on [2, 100] adds x to itself.
 * Prints one line per call; exits 1 when a call goes otherwise. */
#include "modelc/modelc.h"

#include <stdio.h>

static int refused(const modelc_api *api, modelc_model *m, int64_t rows) {
  static float x[100];
  int64_t shape[2] = {rows, 100};
  modelc_tensor in = {x, MODELC_F32, 2, shape};
  if (api->forward(m, &in, 1) != -1)
    return 0;
  printf("[%lld, 100]: %s\n", (long long)rows, api->last_error(m));
  return 1;
}

int main(void) {
  const modelc_api *api = modelc_model_entry();
  modelc_model *m = api->create("cpu", 1);
  if (!m)
    return 1;
  if (!refused(api, m, 46116860184273879LL) || !refused(api, m, 1LL << 62))
    return 1;
  float x[2 * 100];
  for (int i = 0; i < 2 * 100; ++i)
    x[i] = (float)i;
  int64_t shape[2] = {2, 100};
  modelc_tensor in = {x, MODELC_F32, 2, shape}, out;
  if (api->forward(m, &in, 1) != 0 || api->get_output(m, 0, &out) != 0)
    return 1;
  /* The output belongs to the model: read it before destroy. */
  float last = ((const float *)out.data)[199];
  printf("good: [%lld, %lld], y[199] = %g\n", (long long)out.shape[0],
         (long long)out.shape[1], last);
  api->destroy(m);
  return last != 398.0f;
}
