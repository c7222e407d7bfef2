/*
 * main.c - runs the seed's TinyModel (tiny.mdl) from C through the model
 * library's C ABI (runtime/include/modelc/modelc.h, docs/ABI.md).
 *
 *   build/bin/modelc examples/tiny/tiny.mdl -o tiny.so
 *   cc examples/tiny/main.c -I runtime/include tiny.so -Wl,-rpath,'$ORIGIN' -o tiny
 *   ./tiny test/e2e/fixtures/tiny.state.safetensors [inputs.safetensors]
 *
 * The first argument is a state dict saved by PyTorch
 * (safetensors.torch.save_file(model.state_dict(), path)). Without a second
 * argument the program runs a deterministic batch of 2 rows; with one, it
 * runs the F32 tensor "x" of that safetensors file. It prints, per row, the
 * class probabilities, their sum and the most likely class.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modelc/modelc.h"

MODELC_DECLARE_MODEL(TinyModel) /* TinyModel_create, TinyModel_forward, ... */

/* Reports the model's last error (or the thread's when m is NULL). */
static int fail(const modelc_model *m, const char *what) {
  fprintf(stderr, "error: %s: %s\n", what, TinyModel_last_error(m));
  return 1;
}

/*
 * A minimal reader for one 2-D F32 tensor of a safetensors file: an 8-byte
 * little-endian header length, a JSON header, the data. It looks for
 * "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]} and
 * trusts the rest of the header (enough for an example; the runtime's own
 * reader, used by load_state, checks everything).
 */
static float *read_f32_matrix(const char *path, const char *name, int64_t shape[2]) {
  FILE *f = fopen(path, "rb");
  unsigned char len_bytes[8];
  uint64_t header_len = 0;
  char *header = NULL, key[128], *p;
  float *data = NULL;
  long long begin, end, dims[2] = {0, 0};
  int n = 0, i, ok = 0;

  if (!f || fread(len_bytes, 1, 8, f) != 8)
    goto done;
  for (i = 7; i >= 0; --i)
    header_len = (header_len << 8) | len_bytes[i];
  if (header_len > 100000000 || !(header = malloc(header_len + 1)) ||
      fread(header, 1, header_len, f) != header_len)
    goto done;
  header[header_len] = '\0';
  snprintf(key, sizeof key, "\"%s\"", name);
  if (!(p = strstr(header, key)) || !(p = strstr(p, "\"dtype\"")) ||
      !strstr(p, "\"F32\""))
    goto done;
  if (!(p = strstr(p, "\"shape\"")) || !(p = strchr(p, '[')))
    goto done;
  /* "shape": [rows, cols] */
  for (++p; n < 2; ++n) {
    dims[n] = strtoll(p, &p, 10);
    p += strspn(p, " ,");
  }
  if (*p != ']' || !(p = strstr(p, "\"data_offsets\"")) || !(p = strchr(p, '[')) ||
      sscanf(p, "[ %lld , %lld ]", &begin, &end) != 2 || dims[0] < 0 || dims[1] < 0 ||
      end - begin != (long long)sizeof(float) * dims[0] * dims[1])
    goto done;
  if (!(data = malloc((size_t)(end - begin))) ||
      fseek(f, (long)(8 + header_len + begin), SEEK_SET) != 0 ||
      fread(data, 1, (size_t)(end - begin), f) != (size_t)(end - begin))
    goto done;
  shape[0] = dims[0];
  shape[1] = dims[1];
  ok = 1;
done:
  if (!ok) {
    fprintf(stderr, "error: cannot read a 2-D F32 tensor '%s' of '%s'\n", name, path);
    free(data);
    data = NULL;
  }
  free(header);
  if (f)
    fclose(f);
  return data;
}

int main(int argc, char **argv) {
  modelc_model *m;
  modelc_tensor input, output;
  modelc_io_info in_info, out_info;
  int64_t shape[2] = {2, 100};
  float fixed[2 * 100];
  float *x = fixed;
  int status = 0;
  int64_t row, col, rows, classes;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s state.safetensors [inputs.safetensors]\n", argv[0]);
    return 2;
  }

  /* A new instance on the CPU; its own initial state comes from the seed,
   * but the state dict below replaces every parameter. */
  m = TinyModel_create("cpu", 0);
  if (!m)
    return fail(NULL, "create");

  /* strict = 1: every key of the model must be in the file and no other. */
  if (TinyModel_load_state(m, argv[1], 1) != 0) {
    status = fail(m, "load_state");
    goto out;
  }

  if (TinyModel_input_info(m, 0, &in_info) != 0 ||
      TinyModel_output_info(m, 0, &out_info) != 0) {
    status = fail(m, "input_info/output_info");
    goto out;
  }
  printf("model %s: input '%s' [?, %lld], output '%s' [?, %lld]\n",
         TinyModel_model_entry()->name, in_info.name, (long long)in_info.shape[1],
         out_info.name, (long long)out_info.shape[1]);

  if (argc == 3) {
    x = read_f32_matrix(argv[2], "x", shape);
    if (!x) {
      status = 1;
      goto out;
    }
  } else {
    /* A deterministic batch: 2 rows of 100 values in [-1, 1]. */
    for (row = 0; row < 2; ++row)
      for (col = 0; col < 100; ++col)
        fixed[row * 100 + col] = (float)((row * 37 + col * 11) % 21 - 10) / 10.0f;
  }

  /* forward() checks the dtype, the rank and every static size. */
  input.data = x;
  input.dtype = MODELC_F32;
  input.rank = 2;
  input.shape = shape;
  if (TinyModel_forward(m, &input, 1) != 0) {
    status = fail(m, "forward");
    goto out;
  }
  /* The result is runtime memory, valid until the next forward/destroy. */
  if (TinyModel_get_output(m, 0, &output) != 0) {
    status = fail(m, "get_output");
    goto out;
  }

  rows = output.shape[0];
  classes = output.shape[1];
  printf("probabilities [%lld, %lld]:\n", (long long)rows, (long long)classes);
  for (row = 0; row < rows; ++row) {
    const float *p = (const float *)output.data + row * classes;
    double sum = 0;
    int64_t best = 0;
    printf("row %lld:", (long long)row);
    for (col = 0; col < classes; ++col) {
      printf(" %.6f", p[col]);
      sum += p[col];
      if (p[col] > p[best])
        best = col;
    }
    printf("  sum=%.4f  class=%lld\n", sum, (long long)best);
  }

out:
  if (x != fixed)
    free(x);
  TinyModel_destroy(m);
  return status;
}
