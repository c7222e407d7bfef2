/* read_file(PATH, &SIZE): the whole file, malloc'ed (never NULL for an empty
 * file), or NULL when it cannot be read; for the test programs that hand a
 * file's bytes to load_state_from_memory. */
#ifndef MODELC_TEST_READ_FILE_H
#define MODELC_TEST_READ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *data = NULL;
  size_t total = 0, n;
  unsigned char chunk[65536];
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    unsigned char *grown = realloc(data, total + n);
    if (!grown) {
      free(data);
      fclose(f);
      return NULL;
    }
    data = grown;
    memcpy(data + total, chunk, n);
    total += n;
  }
  fclose(f);
  *size = total;
  return data ? data : malloc(1);
}

#endif
