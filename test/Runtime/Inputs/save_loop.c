/* Saves the state of a compiled model library (loaded with dlopen) for the
 * interrupted-save tests (save-interrupted.test):
 *
 *   save_loop MODEL.so save PATH VALUE   every F32 parameter filled with
 *                                        VALUE, saved once to PATH
 *   save_loop MODEL.so loop PATH         the same with VALUE = 1, 2, 3, ...
 *                                        until killed
 *   save_loop MODEL.so check PATH        PATH must load strictly and every
 *                                        F32 parameter hold one value:
 *                                        prints "intact VALUE"
 *
 * Errors print the runtime's message and exit 1. */
#define _POSIX_C_SOURCE 200809L
#include "modelc/modelc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const modelc_api *api;

/* Prints the model's error and destroys it. */
static int fail(modelc_model *m, const char *what) {
  printf("error: %s: %s\n", what, api->last_error(m));
  api->destroy(m);
  return 1;
}

static int fill(modelc_model *m, float value) {
  for (int i = 0; i < api->num_states(m); ++i) {
    modelc_state_info info;
    api->state_info(m, i, &info);
    if (info.kind != MODELC_PARAMETER || info.dtype != MODELC_F32)
      continue;
    float *data = malloc(info.nbytes + 1);
    for (uint64_t k = 0; k < info.numel; ++k)
      data[k] = value;
    int rc = api->write_state(m, info.name, data, info.nbytes);
    free(data);
    if (rc != 0)
      return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: save_loop MODEL.so save|loop|check PATH [VALUE]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    printf("error: %s\n", dlerror());
    return 1;
  }
  api = ((modelc_model_entry_fn)dlsym(lib, "modelc_model_entry"))();
  const char *mode = argv[2], *path = argv[3];
  modelc_model *m = api->create("cpu", 0);
  if (!m)
    return fail(NULL, "create");

  if (strcmp(mode, "save") == 0) {
    if (fill(m, argc > 4 ? strtof(argv[4], NULL) : 0) != 0)
      return fail(m, "write_state");
    if (api->save_state(m, path) != 0)
      return fail(m, "save_state");
    printf("saved\n");
  } else if (strcmp(mode, "loop") == 0) {
    for (float value = 1;; value += 1) {
      if (fill(m, value) != 0)
        return fail(m, "write_state");
      if (api->save_state(m, path) != 0)
        return fail(m, "save_state");
    }
  } else if (strcmp(mode, "check") == 0) {
    if (api->load_state(m, path, 1) != 0)
      return fail(m, "load_state");
    int first = 1;
    float value = 0;
    for (int i = 0; i < api->num_states(m); ++i) {
      modelc_state_info info;
      api->state_info(m, i, &info);
      if (info.kind != MODELC_PARAMETER || info.dtype != MODELC_F32)
        continue;
      float *data = malloc(info.nbytes + 1);
      api->read_state(m, info.name, data, info.nbytes);
      for (uint64_t k = 0; k < info.numel; ++k) {
        if (first)
          value = data[k], first = 0;
        if (data[k] != value) {
          printf("error: '%s'[%llu] is %g, not %g: a torn state\n", info.name,
                 (unsigned long long)k, data[k], value);
          free(data);
          api->destroy(m);
          return 1;
        }
      }
      free(data);
    }
    printf("intact %g\n", value);
  } else {
    fprintf(stderr, "unknown mode '%s'\n", mode);
    api->destroy(m);
    return 2;
  }
  api->destroy(m);
  /* No dlclose: a model.so links libstdc++ statically, whose emergency
   * exception pool (72 KB, never freed) would then leak (docs/ABI.md). */
  (void)lib;
  return 0;
}
