/* Drives a model library through the C header, linked at build time with
 * MODELC_DECLARE_MODEL: every ABI function, the error paths (NULL pointers
 * included) and the all-or-nothing state load. Prints the runtime's
 * messages for FileCheck; exits 1 at the first unmet expectation. */
#include "modelc/modelc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_expect.h"

int main(int argc, char **argv) {
  const char *tmp = argc > 1 ? argv[1] : "api_test";
  char path[4096];

  /* The entry table and the prefixed functions are the same functions. */
  const modelc_api *api = Fake_model_entry();
  EXPECT(api == modelc_model_entry());
  EXPECT(api->abi_version == MODELC_ABI_VERSION);
  EXPECT(api->size == sizeof(modelc_api));
  EXPECT(strcmp(api->name, "Fake") == 0 && strcmp(api->prefix, "Fake") == 0);
  EXPECT(api->create == Fake_create && api->last_error == Fake_last_error);
  EXPECT(api->trim == Fake_trim);
  EXPECT(strstr(api->desc_json, "\"lin.weight\"") != NULL);

  /* create: devices. */
  EXPECT(Fake_create("cuda", 0) == NULL);
  printf("cuda: %s\n", Fake_last_error(NULL));
  EXPECT(Fake_create("tpu", 0) == NULL);
  printf("tpu: %s\n", Fake_last_error(NULL));
  EXPECT(Fake_create("cuda:1", 0) == NULL);
  printf("cuda:1: %s\n", Fake_last_error(NULL));
  EXPECT(Fake_create("", 0) == NULL);
  printf("empty: %s\n", Fake_last_error(NULL));
  modelc_model *m = Fake_create(NULL, 7);
  EXPECT(m != NULL);
  EXPECT(strcmp(Fake_device(m), "cpu") == 0);
  EXPECT(strcmp(Fake_last_error(m), "") == 0);
  EXPECT(Fake_to_device(m, "cpu") == 0);
  EXPECT_ERROR(Fake_to_device(m, "cuda:0"), m);

  /* Listing: parameters, then buffers. */
  EXPECT(Fake_num_states(m) == 6);
  for (int32_t i = 0; i < Fake_num_states(m); ++i) {
    modelc_state_info info;
    EXPECT(Fake_state_info(m, i, &info) == 0);
    printf("state %d: %s kind=%d dtype=%d rank=%d nbytes=%llu\n", i, info.name,
           info.kind, info.dtype, info.rank, (unsigned long long)info.nbytes);
  }
  modelc_io_info io;
  EXPECT(Fake_num_inputs(m) == 1 && Fake_num_outputs(m) == 4);
  EXPECT(Fake_input_info(m, 0, &io) == 0);
  EXPECT(strcmp(io.name, "x") == 0 && io.rank == 2 && io.shape[0] == -1 &&
         io.shape[1] == 2 && io.dtype == MODELC_F32);
  EXPECT(Fake_output_info(m, 2, &io) == 0);
  EXPECT(strcmp(io.name, "output.2") == 0 && io.shape[0] == 3);
  EXPECT_ERROR(Fake_input_info(m, 1, &io), m);
  EXPECT_ERROR(Fake_state_info(m, -1, NULL), m);

  /* Initial values: full() is exact, uniform() stays in range. */
  float scale = 0, weight[6];
  EXPECT(Fake_read_state(m, "scale", &scale, sizeof scale) == 0);
  EXPECT(scale == 2.0f);
  EXPECT(Fake_read_state(m, "lin.weight", weight, sizeof weight) == 0);
  for (int i = 0; i < 6; ++i)
    EXPECT(weight[i] >= -0.5f && weight[i] < 0.5f);
  EXPECT_ERROR(Fake_read_state(m, "lin.weight", weight, 20), m);
  EXPECT_ERROR(Fake_read_state(m, "nope", weight, 24), m);
  EXPECT_ERROR(Fake_read_state(m, NULL, weight, 24), m);
  EXPECT_ERROR(Fake_read_state(m, "scale", NULL, 4), m);
  EXPECT_ERROR(Fake_write_state(m, "lin.weight", weight, 20), m);
  EXPECT_ERROR(Fake_state_info(m, 6, &(modelc_state_info){0}), m);

  /* forward with known weights: y = 2 * (x W^T + b). */
  const float w[6] = {1, 0, 0, 1, 1, 1}, b[3] = {0.5f, 0, -1};
  EXPECT(Fake_write_state(m, "lin.weight", w, sizeof w) == 0);
  EXPECT(Fake_write_state(m, "lin.bias", b, sizeof b) == 0);
  float x[4] = {1, 2, 3, 4};
  int64_t shape[2] = {2, 2};
  modelc_tensor in = {x, MODELC_F32, 2, shape};
  modelc_tensor out;
  EXPECT_ERROR(Fake_get_output(m, 0, &out), m);
  EXPECT(Fake_forward(m, &in, 1) == 0);
  EXPECT(Fake_get_output(m, 0, &out) == 0);
  EXPECT(out.rank == 2 && out.shape[0] == 2 && out.shape[1] == 3);
  const float *y = (const float *)out.data;
  printf("y = %g %g %g %g %g %g\n", y[0], y[1], y[2], y[3], y[4], y[5]);
  EXPECT(Fake_get_output(m, 2, &out) == 0); /* the transposed view */
  y = (const float *)out.data;
  printf("yT = %g %g %g %g %g %g\n", y[0], y[1], y[2], y[3], y[4], y[5]);
  EXPECT(Fake_get_output(m, 3, &out) == 0); /* aliases the input: copied */
  EXPECT(out.data != x && ((const float *)out.data)[3] == 4);
  /* trim gives the heap's cached blocks back; the results stay, and the
   * next forward allocates afresh. */
  EXPECT(Fake_trim(m) == 0);
  EXPECT(Fake_get_output(m, 0, &out) == 0 && ((const float *)out.data)[5] == 12);
  EXPECT(Fake_forward(m, &in, 1) == 0 && Fake_trim(m) == 0);
  EXPECT_ERROR(Fake_get_output(m, 4, &out), m);
  EXPECT_ERROR(Fake_get_output(m, -1, &out), m);

  /* forward: every kind of bad input, each named. */
  EXPECT_ERROR(Fake_forward(m, &in, 2), m);
  EXPECT_ERROR(Fake_forward(m, NULL, 1), m);
  modelc_tensor bad = in;
  bad.dtype = MODELC_F64;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  bad = in;
  bad.rank = 1;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  int64_t wrong[2] = {2, 5};
  bad = in;
  bad.shape = wrong;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  int64_t negative[2] = {-1, 2};
  bad.shape = negative;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  bad = in;
  bad.data = NULL;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  bad = in;
  bad.dtype = 99;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  /* A rank that disagrees with the shape array: no size is read before the
   * rank is known to be right (regression: the runtime read `rank` sizes
   * first, past the end of this one-element array; ASan in the sanitizer
   * build reports that). */
  int64_t one[1] = {2};
  bad = in;
  bad.rank = 3;
  bad.shape = one;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  bad = in;
  bad.shape = NULL;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  bad = in;
  bad.rank = -1;
  EXPECT_ERROR(Fake_forward(m, &bad, 1), m);
  EXPECT_ERROR(Fake_forward(m, &in, -1), m);
  /* A batch of 0 is a valid dynamic size. */
  int64_t empty[2] = {0, 2};
  modelc_tensor none = {NULL, MODELC_F32, 2, empty};
  EXPECT(Fake_forward(m, &none, 1) == 0);
  EXPECT(Fake_get_output(m, 0, &out) == 0 && out.shape[0] == 0);

  /* Training mode updates the buffers in place. */
  EXPECT(Fake_is_training(m) == 0);
  EXPECT(Fake_set_training(m, 1) == 0 && Fake_is_training(m) == 1);
  EXPECT(Fake_forward(m, &in, 1) == 0 && Fake_forward(m, &in, 1) == 0);
  int64_t count = 0;
  float calls = 0;
  EXPECT(Fake_read_state(m, "count", &count, sizeof count) == 0 && count == 2);
  EXPECT(Fake_read_state(m, "lin.calls", &calls, sizeof calls) == 0 && calls == 2);
  EXPECT(Fake_get_output(m, 1, &out) == 0 && *(int64_t *)out.data == 2);
  Fake_set_training(m, 0);

  /* Save, change, reload from memory and from a file. */
  void *saved = NULL;
  size_t savedSize = 0;
  EXPECT(Fake_save_state_to_memory(m, &saved, &savedSize) == 0);
  snprintf(path, sizeof path, "%s.state.safetensors", tmp);
  EXPECT(Fake_save_state(m, path) == 0);
  modelc_model *other = Fake_create("cpu", 8);
  float otherWeight[6];
  EXPECT(Fake_read_state(other, "lin.weight", otherWeight, sizeof otherWeight) == 0);
  EXPECT(memcmp(otherWeight, w, sizeof w) != 0); /* independent instances */
  EXPECT(Fake_load_state(other, path, 1) == 0);
  EXPECT(Fake_read_state(other, "lin.weight", otherWeight, sizeof otherWeight) == 0);
  EXPECT(memcmp(otherWeight, w, sizeof w) == 0);
  /* Non-persistent buffers are not in the state dict. */
  EXPECT(Fake_read_state(other, "lin.calls", &calls, sizeof calls) == 0 && calls == 0);
  EXPECT(Fake_write_state(other, "count", &(int64_t){41}, 8) == 0);
  EXPECT(Fake_load_state_from_memory(other, saved, savedSize, 1) == 0);
  EXPECT(Fake_read_state(other, "count", &count, 8) == 0 && count == 2);

  /* A failed load changes nothing, even the entries that matched. */
  EXPECT(Fake_write_state(other, "count", &(int64_t){41}, 8) == 0);
  void *before = NULL, *after = NULL;
  size_t beforeSize = 0, afterSize = 0;
  EXPECT(Fake_save_state_to_memory(other, &before, &beforeSize) == 0);
  snprintf(path, sizeof path, "%s.partial.safetensors", tmp);
  EXPECT_ERROR(Fake_load_state(other, path, 1), other);
  EXPECT_ERROR(Fake_load_state(other, path, 0), other);
  EXPECT_ERROR(Fake_load_state_from_memory(other, saved, savedSize - 1, 1), other);
  EXPECT_ERROR(Fake_load_state(other, "/nonexistent/s.safetensors", 1), other);
  EXPECT(Fake_save_state_to_memory(other, &after, &afterSize) == 0);
  EXPECT(beforeSize == afterSize && memcmp(before, after, afterSize) == 0);
  Fake_free_buffer(before);
  Fake_free_buffer(after);
  Fake_free_buffer(saved);
  EXPECT_ERROR(Fake_save_state(other, "/nonexistent/dir/s.safetensors"), other);

  /* NULL everywhere: errors, never crashes. */
  EXPECT(Fake_num_states(NULL) == -1);
  printf("null model: %s\n", Fake_last_error(NULL));
  EXPECT(Fake_forward(NULL, &in, 1) == -1);
  EXPECT(Fake_is_training(NULL) == -1 && Fake_device(NULL) == NULL);
  EXPECT(Fake_set_training(NULL, 1) == -1 && Fake_get_output(NULL, 0, &out) == -1);
  EXPECT(Fake_read_state(NULL, "scale", &scale, 4) == -1);
  EXPECT(Fake_save_state_to_memory(NULL, &saved, &savedSize) == -1);
  EXPECT(Fake_input_info(m, 0, NULL) == -1 && Fake_output_info(NULL, 0, &io) == -1);
  EXPECT(Fake_get_output(m, 0, NULL) == -1);
  EXPECT(Fake_load_state(m, NULL, 1) == -1);
  EXPECT(Fake_load_state_from_memory(m, NULL, 0, 1) == -1);
  EXPECT(Fake_save_state(m, NULL) == -1);
  EXPECT(Fake_save_state_to_memory(m, NULL, NULL) == -1);
  EXPECT(Fake_write_state(m, "scale", NULL, 4) == -1);
  EXPECT(Fake_to_device(m, NULL) == -1);
  EXPECT_ERROR(Fake_trim(NULL), NULL);
  Fake_free_buffer(NULL);
  Fake_destroy(NULL);

  Fake_destroy(other);
  Fake_destroy(m);
  printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}
