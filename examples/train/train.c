/*
 * train.c - trains DigitsCNN (digits.mdl) on scikit-learn's 8x8 digits
 * (digits.safetensors, written once by tools/make_digits.py) from C, through
 * the model library's training ABI (runtime/include/modelc/modelc.h,
 * docs/ABI.md section 2.2), and saves the trained state dict.
 *
 *   build/bin/modelc examples/train/digits.mdl -o digits.so
 *   cc examples/train/train.c -I runtime/include digits.so -Wl,-rpath,'$ORIGIN' -o train
 *   ./train examples/train/digits.safetensors trained.safetensors
 *   ./train --eval examples/train/digits.safetensors trained.safetensors
 *
 * Training: Adam (lr 0.01, then 0.003 from epoch 6, 0.001 from epoch 9)
 * for EPOCHS epochs over minibatches of BATCH
 * images, reshuffled every epoch with a fixed seed, after a fixed model seed:
 * every run gives the same state. After each epoch it prints the mean
 * training loss and the accuracy on the training and held-out images
 * (evaluation mode: BatchNorm's running statistics). Then it prints
 *
 *   held-out accuracy: 0.9722 (350/360)
 *   predictions: <the predicted digit of each held-out image>
 *
 * and saves the state dict, which PyTorch loads as is
 * (tools/check_digits_state.py). With --eval it loads a state dict instead of
 * training and prints those two lines for it. Any failure prints the
 * runtime's message and exits with status 1.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modelc/modelc.h"

MODELC_DECLARE_MODEL(DigitsCNN) /* DigitsCNN_create, DigitsCNN_train_step, ... */

enum { EPOCHS = 10, BATCH = 32, CLASSES = 10, PIXELS = 64 };
static const uint64_t MODEL_SEED = 1;   /* the initial parameters */
static const uint64_t SHUFFLE_SEED = 7; /* the order of the minibatches */

/* Reports the model's last error (or the thread's when m is NULL). */
static int fail(const modelc_model *m, const char *what) {
  fprintf(stderr, "error: %s: %s\n", what, DigitsCNN_last_error(m));
  return 1;
}

/* ---- a minimal safetensors reader ------------------------------------ */

/* A whole file in memory. */
typedef struct {
  const char *path;
  unsigned char *bytes;
  size_t size;
  char *header;              /* the JSON header, NUL-terminated */
  const unsigned char *data; /* the byte buffer after it */
  size_t data_size;
} st_file;

static int st_open(st_file *f, const char *path) {
  FILE *fp = fopen(path, "rb");
  uint64_t header_len = 0;
  long size;
  int i;

  memset(f, 0, sizeof *f);
  f->path = path;
  if (!fp) {
    fprintf(stderr, "error: cannot open '%s'\n", path);
    return -1;
  }
  if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 8 || fseek(fp, 0, SEEK_SET) != 0 ||
      !(f->bytes = malloc((size_t)size)) || fread(f->bytes, 1, (size_t)size, fp) != (size_t)size) {
    fprintf(stderr, "error: cannot read '%s'\n", path);
    fclose(fp);
    free(f->bytes);
    f->bytes = NULL;
    return -1;
  }
  fclose(fp);
  f->size = (size_t)size;
  for (i = 7; i >= 0; --i)
    header_len = (header_len << 8) | f->bytes[i];
  if (header_len > f->size - 8) {
    fprintf(stderr, "error: '%s' is not a safetensors file (header length)\n", path);
    return -1;
  }
  if (!(f->header = malloc(header_len + 1))) {
    fprintf(stderr, "error: out of memory\n");
    return -1;
  }
  memcpy(f->header, f->bytes + 8, header_len);
  f->header[header_len] = '\0';
  f->data = f->bytes + 8 + header_len;
  f->data_size = f->size - 8 - header_len;
  return 0;
}

static void st_close(st_file *f) {
  free(f->header);
  free(f->bytes);
}

/* Reads the integers of a JSON array "[a, b, ...]" starting at p (at most
 * max of them); returns their count, or -1. */
static int json_ints(const char *p, long long *out, int max) {
  int n = 0;
  char *end;
  p += strspn(p, " \t\r\n");
  if (*p++ != '[')
    return -1;
  for (;;) {
    p += strspn(p, " \t\r\n");
    if (*p == ']')
      return n;
    if (n == max)
      return -1;
    out[n++] = strtoll(p, &end, 10);
    if (end == p)
      return -1;
    p = end + strspn(end, " \t\r\n");
    if (*p == ',')
      ++p;
    else if (*p != ']')
      return -1;
  }
}

/* Finds `"field"` inside the object that starts at obj (up to its '}') and
 * returns the position after its ':', or NULL. */
static const char *json_field(const char *obj, const char *field) {
  const char *close = strchr(obj, '}');
  char quoted[64];
  const char *p;
  snprintf(quoted, sizeof quoted, "\"%s\"", field);
  p = strstr(obj, quoted);
  if (!p || (close && p > close))
    return NULL;
  p += strlen(quoted);
  p += strspn(p, " \t\r\n");
  return *p == ':' ? p + 1 : NULL;
}

/*
 * The tensor `name` of f, which must have dtype `dtype` ("U8", "I64"),
 * rank `rank`, the sizes of `shape` that are not -1 (those are filled in)
 * and elements of `elem_size` bytes. Returns a pointer into f's memory.
 */
static const void *st_tensor(const st_file *f, const char *name, const char *dtype,
                             int rank, int64_t *shape, size_t elem_size) {
  char key[128], want_dtype[16];
  const char *obj, *p;
  long long dims[8], offsets[2];
  size_t numel = 1;
  int i;

  snprintf(key, sizeof key, "\"%s\"", name);
  if (!(obj = strstr(f->header, key))) {
    fprintf(stderr, "error: '%s' has no tensor '%s'\n", f->path, name);
    return NULL;
  }
  obj += strlen(key);
  obj += strspn(obj, " \t\r\n");
  if (*obj++ != ':' || !(obj = strchr(obj, '{')))
    goto malformed;
  snprintf(want_dtype, sizeof want_dtype, "\"%s\"", dtype);
  if (!(p = json_field(obj, "dtype")))
    goto malformed;
  p += strspn(p, " \t\r\n");
  if (strncmp(p, want_dtype, strlen(want_dtype)) != 0) {
    fprintf(stderr, "error: tensor '%s' of '%s' is not %s\n", name, f->path, dtype);
    return NULL;
  }
  if (!(p = json_field(obj, "shape")) || json_ints(p, dims, 8) != rank)
    goto wrong_shape;
  for (i = 0; i < rank; ++i) {
    if (dims[i] < 0 || (shape[i] != -1 && dims[i] != shape[i]))
      goto wrong_shape;
    shape[i] = dims[i];
    numel *= (size_t)dims[i];
  }
  if (!(p = json_field(obj, "data_offsets")) || json_ints(p, offsets, 2) != 2 ||
      offsets[0] < 0 || offsets[1] < offsets[0] || (size_t)offsets[1] > f->data_size ||
      (size_t)(offsets[1] - offsets[0]) != numel * elem_size)
    goto malformed;
  return f->data + offsets[0];

wrong_shape:
  fprintf(stderr, "error: tensor '%s' of '%s' does not have the expected rank-%d shape\n",
          name, f->path, rank);
  return NULL;
malformed:
  fprintf(stderr, "error: tensor '%s' of '%s': malformed header entry\n", name, f->path);
  return NULL;
}

/* ---- the data set ---------------------------------------------------- */

typedef struct {
  int64_t n;
  float *images; /* [n, 1, 8, 8], pixels / 16 in [0, 1] */
  int64_t *labels;
} split;

static int load_split(const st_file *f, const char *name, split *s) {
  char key[64];
  int64_t image_shape[4] = {-1, 1, 8, 8}, label_shape[1] = {-1};
  const unsigned char *pixels;
  const void *labels;
  int64_t i;

  snprintf(key, sizeof key, "%s.images", name);
  if (!(pixels = st_tensor(f, key, "U8", 4, image_shape, 1)))
    return -1;
  snprintf(key, sizeof key, "%s.labels", name);
  if (!(labels = st_tensor(f, key, "I64", 1, label_shape, 8)))
    return -1;
  if (label_shape[0] != image_shape[0]) {
    fprintf(stderr, "error: '%s': %lld %s images but %lld labels\n", f->path,
            (long long)image_shape[0], name, (long long)label_shape[0]);
    return -1;
  }
  s->n = image_shape[0];
  s->images = malloc((size_t)s->n * PIXELS * sizeof(float) + 1);
  s->labels = malloc((size_t)s->n * sizeof(int64_t) + 1);
  if (!s->images || !s->labels) {
    fprintf(stderr, "error: out of memory\n");
    return -1;
  }
  for (i = 0; i < s->n * PIXELS; ++i)
    s->images[i] = pixels[i] / 16.0f;
  memcpy(s->labels, labels, (size_t)s->n * sizeof(int64_t)); /* little-endian */
  for (i = 0; i < s->n; ++i)
    if (s->labels[i] < 0 || s->labels[i] >= CLASSES) {
      fprintf(stderr, "error: '%s': %s label %lld is %lld\n", f->path, name, (long long)i,
              (long long)s->labels[i]);
      return -1;
    }
  return 0;
}

/* ---- evaluation and shuffling ---------------------------------------- */

/* Evaluation-mode forward over a whole split; counts the correct argmaxes
 * and, if `predicted` is not NULL, stores each prediction. -1 on error. */
static int64_t evaluate(modelc_model *m, const split *s, int64_t *predicted) {
  int64_t shape[4] = {s->n, 1, 8, 8}, i, c, correct = 0;
  modelc_tensor x = {NULL, MODELC_F32, 4, NULL}, out;
  const float *logits;

  x.data = s->images;
  x.shape = shape;
  if (DigitsCNN_set_training(m, 0) != 0 || DigitsCNN_forward(m, &x, 1) != 0 ||
      DigitsCNN_get_output(m, 0, &out) != 0)
    return -1;
  logits = out.data; /* [n, 10], valid until the next forward */
  for (i = 0; i < s->n; ++i) {
    int64_t best = 0;
    for (c = 1; c < CLASSES; ++c)
      if (logits[i * CLASSES + c] > logits[i * CLASSES + best])
        best = c;
    correct += best == s->labels[i];
    if (predicted)
      predicted[i] = best;
  }
  return correct;
}

/* A 64-bit LCG (Knuth's MMIX constants); the high bits are the good ones. */
static uint64_t lcg_state;
static uint32_t lcg_next(void) {
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(lcg_state >> 32);
}

/* Fisher-Yates; the modulo bias of n << 2^32 does not matter here. */
static void shuffle(int64_t *order, int64_t n) {
  int64_t i;
  for (i = n - 1; i > 0; --i) {
    int64_t j = (int64_t)(lcg_next() % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Prints the final accuracy and the predictions in the format that
 * tools/check_digits_state.py prints PyTorch's. */
static int report(modelc_model *m, const split *test) {
  int64_t *predicted = malloc((size_t)test->n * sizeof(int64_t) + 1), correct, i;
  if (!predicted) {
    fprintf(stderr, "error: out of memory\n");
    return -1;
  }
  if ((correct = evaluate(m, test, predicted)) < 0) {
    fail(m, "evaluate");
    free(predicted);
    return -1;
  }
  printf("held-out accuracy: %.4f (%lld/%lld)\npredictions: ", (double)correct / test->n,
         (long long)correct, (long long)test->n);
  for (i = 0; i < test->n; ++i)
    putchar('0' + (int)predicted[i]);
  putchar('\n');
  free(predicted);
  return 0;
}

int main(int argc, char **argv) {
  int eval_only = argc == 4 && strcmp(argv[1], "--eval") == 0;
  const char *data_path, *state_path;
  st_file file;
  split train = {0, NULL, NULL}, test = {0, NULL, NULL};
  modelc_model *m = NULL;
  float *xb = NULL;
  int64_t *yb = NULL, *order = NULL;
  int status = 1, epoch;
  double start;

  if (argc != 3 && !eval_only) {
    fprintf(stderr, "usage: %s digits.safetensors out-state.safetensors\n"
                    "       %s --eval digits.safetensors state.safetensors\n",
            argv[0], argv[0]);
    return 2;
  }
  data_path = argv[argc - 2];
  state_path = argv[argc - 1];

  if (st_open(&file, data_path) != 0 || load_split(&file, "train", &train) != 0 ||
      load_split(&file, "test", &test) != 0)
    goto out;

  m = DigitsCNN_create("cpu", MODEL_SEED);
  if (!m) {
    fail(NULL, "create");
    goto out;
  }

  if (eval_only) {
    /* strict = 1: exactly the model's keys. */
    if (DigitsCNN_load_state(m, state_path, 1) != 0) {
      fail(m, "load_state");
      goto out;
    }
    status = report(m, &test) == 0 ? 0 : 1;
    goto out;
  }

  printf("DigitsCNN: %lld training images, %lld held-out; Adam, batch %d\n",
         (long long)train.n, (long long)test.n, BATCH);
  /* torch.optim.Adam(model.parameters(), lr=0.01) */
  if (DigitsCNN_set_optimizer(m, "adam", "{\"lr\": 0.01}") != 0) {
    fail(m, "set_optimizer");
    goto out;
  }

  xb = malloc((size_t)BATCH * PIXELS * sizeof(float));
  yb = malloc((size_t)BATCH * sizeof(int64_t));
  order = malloc((size_t)train.n * sizeof(int64_t) + 1);
  if (!xb || !yb || !order) {
    fprintf(stderr, "error: out of memory\n");
    goto out;
  }
  for (int64_t i = 0; i < train.n; ++i)
    order[i] = i;
  lcg_state = SHUFFLE_SEED;
  start = seconds();

  for (epoch = 1; epoch <= EPOCHS; ++epoch) {
    double loss_sum = 0;
    int64_t train_correct, test_correct;

    /* A step schedule: for g in opt.param_groups: g["lr"] = lr. */
    double lr = epoch <= 5 ? 0.01 : epoch <= 8 ? 0.003 : 0.001;
    if (DigitsCNN_set_hyperparameter(m, "lr", lr) != 0) {
      fail(m, "set_hyperparameter");
      goto out;
    }
    /* model.train(): BatchNorm uses the batch's statistics and updates
     * its running ones. */
    if (DigitsCNN_set_training(m, 1) != 0) {
      fail(m, "set_training");
      goto out;
    }
    shuffle(order, train.n);
    for (int64_t first = 0; first < train.n; first += BATCH) {
      int64_t n = train.n - first < BATCH ? train.n - first : BATCH;
      int64_t x_shape[4] = {n, 1, 8, 8}, y_shape[1] = {n};
      modelc_tensor inputs[2] = {{xb, MODELC_F32, 4, x_shape}, {yb, MODELC_I64, 1, y_shape}};
      float loss;

      for (int64_t i = 0; i < n; ++i) {
        memcpy(xb + i * PIXELS, train.images + order[first + i] * PIXELS, PIXELS * sizeof(float));
        yb[i] = train.labels[order[first + i]];
      }
      /* opt.zero_grad(); loss = model.loss(x, y); loss.backward(); opt.step() */
      if (DigitsCNN_train_step(m, inputs, 2, &loss) != 0) {
        fail(m, "train_step");
        goto out;
      }
      loss_sum += (double)loss * n;
    }

    /* model.eval() on both splits. */
    if ((train_correct = evaluate(m, &train, NULL)) < 0 ||
        (test_correct = evaluate(m, &test, NULL)) < 0) {
      fail(m, "evaluate");
      goto out;
    }
    printf("epoch %2d  lr %.3f  loss %.4f  train accuracy %.4f  held-out accuracy %.4f\n", epoch,
           lr, loss_sum / train.n, (double)train_correct / train.n, (double)test_correct / test.n);
    fflush(stdout);
  }
  printf("trained %d epochs (%lld steps) in %.2f s\n", EPOCHS,
         (long long)(EPOCHS * ((train.n + BATCH - 1) / BATCH)), seconds() - start);

  if (report(m, &test) != 0)
    goto out;
  /* safetensors, written next to state_path and renamed into place. */
  if (DigitsCNN_save_state(m, state_path) != 0) {
    fail(m, "save_state");
    goto out;
  }
  printf("saved the state dict to %s\n", state_path);
  status = 0;

out:
  DigitsCNN_destroy(m);
  free(order);
  free(yb);
  free(xb);
  free(train.images);
  free(train.labels);
  free(test.images);
  free(test.labels);
  st_close(&file);
  return status;
}
