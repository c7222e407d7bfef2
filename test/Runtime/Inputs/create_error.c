/* create() of the library argv[1] must fail and say why through
 * last_error(NULL): prints "create failed: <message>". */
#include "modelc/modelc.h"

#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  void *handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return 2;
  modelc_model_entry_fn entry = (modelc_model_entry_fn)dlsym(handle, "modelc_model_entry");
  const modelc_api *api = entry ? entry() : NULL;
  if (!api)
    return 2;
  modelc_model *m = api->create("cpu", 0);
  if (m) {
    printf("create succeeded\n");
    api->destroy(m);
    return 1;
  }
  printf("create failed: %s\n", api->last_error(NULL));
  dlclose(handle);
  return 0;
}
