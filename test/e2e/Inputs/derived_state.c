/* The values a model derives from its parameters (Winograd-transformed
 * filters, packed Linear weights: docs/ABI.md) follow every change of them:
 *   - a model whose first forward ran on its random initial state, then
 *     loaded STATE, gives bit for bit the results of one that loaded STATE
 *     first ("reload: same");
 *   - write_state of PARAMETER (scaled by 2) changes the results
 *     ("write: changed"), writing it back restores them ("restore: same").
 *
 *   derived_state STATE.safetensors PARAMETER BATCH
 *
 * Any model linked in (through modelc_model_entry) whose first input is f32;
 * its dynamic sizes take BATCH. The first output is compared. Exits 1 when
 * any of these fails. */
#include "modelc/modelc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const modelc_api *api;
static modelc_tensor input;
static int64_t shape[8];
static size_t outBytes;

/* One forward on `input`; its first output copied into *out (malloc'ed on
 * the first call, of outBytes). */
static int run(modelc_model *m, float **out) {
  modelc_tensor y;
  if (api->forward(m, &input, 1) != 0 || api->get_output(m, 0, &y) != 0) {
    fprintf(stderr, "forward: %s\n", api->last_error(m));
    return 0;
  }
  size_t bytes = sizeof(float);
  for (int32_t d = 0; d < y.rank; ++d)
    bytes *= (size_t)y.shape[d];
  if (!*out) {
    outBytes = bytes;
    *out = malloc(bytes);
  }
  if (!*out || bytes != outBytes)
    return 0;
  memcpy(*out, y.data, bytes);
  return 1;
}

static const char *same(const float *a, const float *b) {
  return memcmp(a, b, outBytes) == 0 ? "same" : "changed";
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: derived_state STATE.safetensors PARAMETER BATCH\n");
    return 2;
  }
  api = modelc_model_entry();
  modelc_model *first = api->create("cpu", 1);
  modelc_model *later = api->create("cpu", 2);
  modelc_io_info info;
  if (!first || !later || api->input_info(first, 0, &info) != 0 || info.dtype != MODELC_F32 ||
      info.rank > 8)
    return 1;
  size_t count = 1;
  for (int32_t d = 0; d < info.rank; ++d) {
    shape[d] = info.shape[d] < 0 ? atoll(argv[3]) : info.shape[d];
    count *= (size_t)shape[d];
  }
  float *x = malloc(sizeof(float) * count);
  for (size_t i = 0; i < count; ++i)
    x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  input = (modelc_tensor){x, MODELC_F32, info.rank, shape};

  float *expected = NULL, *got = NULL;
  if (api->load_state(first, argv[1], 1) != 0 || !run(first, &expected) || !run(later, &got) ||
      api->load_state(later, argv[1], 1) != 0 || !run(later, &got))
    return 1;
  const char *reload = same(got, expected);
  printf("reload: %s\n", reload);

  modelc_state_info state = {0};
  for (int32_t i = 0; i < api->num_states(later); ++i)
    if (api->state_info(later, i, &state) == 0 && strcmp(state.name, argv[2]) == 0)
      break;
  if (!state.name || strcmp(state.name, argv[2]) != 0 || state.dtype != MODELC_F32) {
    fprintf(stderr, "no f32 state entry %s\n", argv[2]);
    return 1;
  }
  float *weight = malloc(state.nbytes), *doubled = malloc(state.nbytes);
  if (!weight || !doubled || api->read_state(later, argv[2], weight, state.nbytes) != 0)
    return 1;
  for (uint64_t i = 0; i < state.numel; ++i)
    doubled[i] = 2 * weight[i];
  if (api->write_state(later, argv[2], doubled, state.nbytes) != 0 || !run(later, &got))
    return 1;
  const char *write = same(got, expected);
  printf("write: %s\n", write);
  if (api->write_state(later, argv[2], weight, state.nbytes) != 0 || !run(later, &got))
    return 1;
  const char *restore = same(got, expected);
  printf("restore: %s\n", restore);
  api->destroy(first);
  api->destroy(later);
  free(x);
  free(expected);
  free(got);
  free(weight);
  free(doubled);
  return strcmp(reload, "same") || strcmp(write, "changed") || strcmp(restore, "same");
}
