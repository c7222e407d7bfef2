/* The values a model derives from its parameters (the Winograd-transformed
 * filters, docs/ABI.md) follow every change of them:
 *   - a model whose first forward ran on its random initial state, then
 *     loaded STATE, gives bit for bit the results of one that loaded STATE
 *     first ("reload: same");
 *   - write_state of conv2.weight (scaled by 2) changes the results
 *     ("write: changed"), writing it back restores them ("restore: same").
 *
 *   derived_state STATE.safetensors
 *
 * Exits 1 when any of these fails. */
#include "modelc/modelc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

MODELC_DECLARE_MODEL(Winograd)

enum { kBatch = 2, kIn = kBatch * 3 * 32 * 32, kOut = kBatch * 5 * 30 * 30 };
static float input[kIn];

static int run(modelc_model *m, float *out) {
  static const int64_t shape[4] = {kBatch, 3, 32, 32};
  modelc_tensor x = {input, MODELC_F32, 4, shape};
  modelc_tensor y;
  if (Winograd_forward(m, &x, 1) != 0 || Winograd_get_output(m, 0, &y) != 0) {
    fprintf(stderr, "forward: %s\n", Winograd_last_error(m));
    return 0;
  }
  memcpy(out, y.data, sizeof(float) * kOut);
  return 1;
}

static const char *same(const float *a, const float *b) {
  return memcmp(a, b, sizeof(float) * kOut) == 0 ? "same" : "changed";
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: derived_state STATE.safetensors\n");
    return 2;
  }
  for (int i = 0; i < kIn; ++i)
    input[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  static float expected[kOut], got[kOut];
  modelc_model *first = Winograd_create("cpu", 1);
  modelc_model *later = Winograd_create("cpu", 2);
  if (!first || !later || Winograd_load_state(first, argv[1], 1) != 0 || !run(first, expected) ||
      !run(later, got) || Winograd_load_state(later, argv[1], 1) != 0 || !run(later, got))
    return 1;
  const char *reload = same(got, expected);
  printf("reload: %s\n", reload);

  static float weight[8 * 8 * 3 * 3], doubled[8 * 8 * 3 * 3];
  if (Winograd_read_state(later, "conv2.weight", weight, sizeof weight) != 0)
    return 1;
  for (size_t i = 0; i < sizeof weight / sizeof *weight; ++i)
    doubled[i] = 2 * weight[i];
  if (Winograd_write_state(later, "conv2.weight", doubled, sizeof doubled) != 0 ||
      !run(later, got))
    return 1;
  const char *write = same(got, expected);
  printf("write: %s\n", write);
  if (Winograd_write_state(later, "conv2.weight", weight, sizeof weight) != 0 ||
      !run(later, got))
    return 1;
  const char *restore = same(got, expected);
  printf("restore: %s\n", restore);
  Winograd_destroy(first);
  Winograd_destroy(later);
  return strcmp(reload, "same") || strcmp(write, "changed") || strcmp(restore, "same");
}
