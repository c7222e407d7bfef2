/* The headers modelc_add_model generates (modelc --emit=header): each
 * declares its model's prefixed ABI, so a program includes them instead of
 * writing MODELC_DECLARE_MODEL itself. Prints each model's state count, and
 * whether the library with PyTorch's state baked in (WEIGHTS) starts from
 * it: its first parameter equals the state file's, which argv[1] names. */
#include <stdio.h>
#include <string.h>

#include "mlp.h"
#include "tiny.h"
#include "tiny_baked.h"

int main(int argc, char **argv) {
  modelc_model *tiny = TinyModel_create("cpu", 0);
  modelc_model *mlp = SmallMLP_create("cpu", 0);
  if (!tiny || !mlp) {
    fprintf(stderr, "error: %s\n", TinyModel_last_error(NULL));
    return 1;
  }
  printf("TinyModel states: %d\n", (int)TinyModel_num_states(tiny));
  printf("SmallMLP states: %d\n", (int)SmallMLP_num_states(mlp));
  modelc_model *baked = Baked_create("cpu", 0);
  float a[200], b[200]; /* linear1.bias: f32[200] */
  if (!baked || argc < 2 || TinyModel_load_state(tiny, argv[1], 1) != 0 ||
      TinyModel_read_state(tiny, "linear1.bias", a, sizeof a) != 0 ||
      Baked_read_state(baked, "linear1.bias", b, sizeof b) != 0) {
    fprintf(stderr, "error: %s\n", baked ? Baked_last_error(baked) : TinyModel_last_error(NULL));
    return 1;
  }
  printf("Baked starts from the state file: %s\n", memcmp(a, b, sizeof a) ? "no" : "yes");
  Baked_destroy(baked);
  TinyModel_destroy(tiny);
  SmallMLP_destroy(mlp);
  return 0;
}
