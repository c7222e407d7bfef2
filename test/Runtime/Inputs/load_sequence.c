/* Loads state dicts through load_state_from_memory, one after another, into
 * one freshly created instance of the model linked in (any model, through
 * modelc_model_entry), then saves its state:
 *
 *   load_sequence OUT.safetensors [--non-strict] FILE...
 *
 * prints "NAME: loaded" or "NAME: refused, unchanged" per FILE (NAME its
 * base name), the refusal's message after it; a refused load must leave the
 * state dict byte for byte as it was. Exits 1 when one changed anything or
 * the files or the saved state cannot be read or written. */
#include "modelc/modelc.h"
#include "read_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  const modelc_api *api = modelc_model_entry();
  if (argc < 3) {
    fprintf(stderr, "usage: load_sequence OUT.safetensors [--non-strict] FILE...\n");
    return 1;
  }
  modelc_model *m = api->create("cpu", 0);
  if (!m) {
    fprintf(stderr, "create: %s\n", api->last_error(NULL));
    return 1;
  }
  int strict = 1, status = 0;
  for (int a = 2; a < argc && status == 0; ++a) {
    if (strcmp(argv[a], "--non-strict") == 0) {
      strict = 0;
      continue;
    }
    const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
    size_t size = 0, beforeSize = 0, afterSize = 0;
    void *before = NULL, *after = NULL;
    unsigned char *bytes = read_file(argv[a], &size);
    if (!bytes || api->save_state_to_memory(m, &before, &beforeSize) != 0) {
      fprintf(stderr, "%s: cannot read it or save the state\n", name);
      status = 1;
    } else if (api->load_state_from_memory(m, bytes, size, strict) == 0) {
      printf("%s: loaded\n", name);
    } else {
      printf("%s: refused, ", name);
      if (api->save_state_to_memory(m, &after, &afterSize) != 0 ||
          afterSize != beforeSize || memcmp(before, after, afterSize) != 0) {
        printf("CHANGED\n");
        status = 1;
      } else {
        printf("unchanged\n");
      }
      printf("%s\n", api->last_error(m));
    }
    api->free_buffer(before);
    api->free_buffer(after);
    free(bytes);
  }
  if (status == 0 && api->save_state(m, argv[1]) != 0) {
    fprintf(stderr, "save_state: %s\n", api->last_error(m));
    status = 1;
  }
  api->destroy(m);
  return status;
}
