/* Uses a model through the header modelc --emit=header wrote. */
#include "tiny.h"

#include <stdio.h>

int main(void) {
  modelc_model *m = Tiny_create("cpu", 7);
  if (!m) {
    fprintf(stderr, "create: %s\n", Tiny_last_error(NULL));
    return 1;
  }
  float x[100];
  for (int i = 0; i < 100; ++i)
    x[i] = (float)i / 100.0f;
  int64_t shape[2] = {1, 100};
  modelc_tensor in = {x, MODELC_F32, 2, shape};
  modelc_tensor out;
  if (Tiny_forward(m, &in, 1) != 0 || Tiny_get_output(m, 0, &out) != 0) {
    fprintf(stderr, "forward: %s\n", Tiny_last_error(m));
    return 1;
  }
  printf("outputs %d, states %d\n", (int)Tiny_num_outputs(m), (int)Tiny_num_states(m));
  float sum = 0;
  for (int i = 0; i < 10; ++i)
    sum += ((const float *)out.data)[i];
  printf("sum %.4f\n", sum);
  /* trim, the last function of the ABI, is declared too. */
  if (Tiny_trim(m) != 0) {
    fprintf(stderr, "trim: %s\n", Tiny_last_error(m));
    return 1;
  }
  Tiny_destroy(m);
  return 0;
}
