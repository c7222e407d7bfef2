/* A minimal safetensors reader and writer for the training ABI tests
 * (the C programs in test/e2e/train/Inputs): enough for the files that
 * tools/gen_train_fixtures.py writes (compact JSON header) and for
 * st-compare to read what st_write writes. Exits on any error. */
#ifndef ST_IO_H
#define ST_IO_H

#include "modelc/modelc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_file {
  char *header; /* NUL-terminated JSON */
  char *data;   /* the byte buffer after the header */
  int64_t (*shapes)[8]; /* 16 slots of up to 8 sizes, on the heap */
} st_file;

static inline void st_die(const char *what, const char *detail) {
  fprintf(stderr, "st_io: %s: %s\n", what, detail);
  exit(1);
}

static inline st_file st_open(const char *path) {
  st_file f;
  memset(&f, 0, sizeof f);
  f.shapes = calloc(16, sizeof *f.shapes);
  FILE *fp = fopen(path, "rb");
  if (!fp)
    st_die("cannot open", path);
  uint64_t n = 0;
  unsigned char len[8];
  if (fread(len, 1, 8, fp) != 8)
    st_die("short file", path);
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | len[i];
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 8, SEEK_SET);
  f.header = malloc(n + 1);
  f.data = malloc((size_t)size - 8 - n + 1);
  if (fread(f.header, 1, n, fp) != n ||
      fread(f.data, 1, (size_t)size - 8 - n, fp) != (size_t)size - 8 - n)
    st_die("short file", path);
  f.header[n] = 0;
  fclose(fp);
  return f;
}

static inline void st_close(st_file *f) {
  free(f->header);
  free(f->data);
  free(f->shapes);
  memset(f, 0, sizeof *f);
}

/* Tensor `name` of `f` (slot: a distinct 0..15 per live tensor, for its
 * shape array). */
static inline modelc_tensor st_get(st_file *f, const char *name, int slot) {
  char key[256];
  snprintf(key, sizeof key, "\"%s\":{", name);
  const char *p = strstr(f->header, key);
  if (!p)
    st_die("no tensor", name);
  if (slot < 0 || slot >= 16)
    st_die("slot out of range", name);
  const char *dt = strstr(p, "\"dtype\":\"");
  const char *sh = strstr(p, "\"shape\":[");
  const char *off = strstr(p, "\"data_offsets\":[");
  if (!dt || !sh || !off)
    st_die("bad header entry", name);
  dt += 9;
  modelc_tensor t;
  t.dtype = !strncmp(dt, "F32\"", 4)   ? MODELC_F32
            : !strncmp(dt, "I64\"", 4) ? MODELC_I64
            : !strncmp(dt, "F64\"", 4) ? MODELC_F64
                                       : (st_die("unsupported dtype", name), 0);
  sh += 9;
  t.rank = 0;
  while (*sh != ']') {
    f->shapes[slot][t.rank++] = strtoll(sh, (char **)&sh, 10);
    if (*sh == ',')
      ++sh;
  }
  t.shape = f->shapes[slot];
  long long begin = strtoll(off + 16, NULL, 10);
  t.data = f->data + begin;
  return t;
}

/* Writes n F32 tensors (names[i], data[i], shapes[i] of ranks[i]). */
static inline void st_write(const char *path, int n, const char *const *names,
                     float *const *data, const int64_t *const *shapes,
                     const int32_t *ranks) {
  size_t cap = 65536, len = 0, offset = 0;
  char *h = malloc(cap);
  len += (size_t)snprintf(h + len, cap - len, "{");
  for (int i = 0; i < n; ++i) {
    size_t numel = 1;
    len += (size_t)snprintf(h + len, cap - len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                            i ? "," : "", names[i]);
    for (int d = 0; d < ranks[i]; ++d) {
      numel *= (size_t)shapes[i][d];
      len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "",
                              (long long)shapes[i][d]);
    }
    len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}",
                            offset, offset + 4 * numel);
    offset += 4 * numel;
  }
  len += (size_t)snprintf(h + len, cap - len, "}");
  if (len + 8 >= cap)
    st_die("header too long", path);
  while (len % 8)
    h[len++] = ' ';
  FILE *fp = fopen(path, "wb");
  if (!fp)
    st_die("cannot write", path);
  unsigned char le[8];
  for (int i = 0; i < 8; ++i)
    le[i] = (unsigned char)(((uint64_t)len >> (8 * i)) & 0xff);
  fwrite(le, 1, 8, fp);
  fwrite(h, 1, len, fp);
  for (int i = 0; i < n; ++i) {
    size_t numel = 1;
    for (int d = 0; d < ranks[i]; ++d)
      numel *= (size_t)shapes[i][d];
    fwrite(data[i], 4, numel, fp);
  }
  fclose(fp);
  free(h);
}

#endif
