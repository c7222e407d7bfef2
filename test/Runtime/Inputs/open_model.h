/* open_model(PATH): the function table of a model library opened with
 * dlopen, for the test programs that work with any model; prints why and
 * exits 1 when there is none. The library is never closed: a model.so
 * links libstdc++ statically, whose emergency exception pool (72 KB, never
 * freed) would then leak (docs/ABI.md). */
#ifndef MODELC_TEST_OPEN_MODEL_H
#define MODELC_TEST_OPEN_MODEL_H

#include "modelc/modelc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static const modelc_api *open_model(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    printf("FAILED: %s\n", dlerror());
    exit(1);
  }
  modelc_model_entry_fn entry =
      (modelc_model_entry_fn)dlsym(lib, "modelc_model_entry");
  const modelc_api *api = entry ? entry() : NULL;
  if (!api) {
    printf("FAILED: no modelc_model_entry in %s\n", path);
    exit(1);
  }
  return api;
}

#endif
