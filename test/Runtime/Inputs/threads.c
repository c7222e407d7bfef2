/* Concurrency stress test of a compiled model library (docs/ABI.md,
 * "Threads"), loaded with dlopen so that it works for any model:
 *
 *   threads MODEL.so NTHREADS ITERATIONS STATE_PATH
 *
 * 1. Independent models: NTHREADS threads each create their own instance
 *    (seed 1 + thread) and call forward ITERATIONS times; every result must
 *    equal, bit for bit, the one computed on the main thread beforehand.
 *    Each thread then saves its state to the same STATE_PATH at the same
 *    time: the file left must load and equal one thread's state exactly.
 *    Every third call is followed by trim, which empties the heap's cache
 *    that the other threads allocate from meanwhile.
 * 2. One model shared by two threads (a misuse): the runtime must refuse the
 *    concurrent calls with its "being used by another thread" error, never
 *    crash or mix results; every call that succeeds gives the right result.
 *    trim, which uses nothing of the model, is never refused.
 *
 * Inputs: every dynamic size is 3, the values a fixed function of the index.
 * Prints what it checked; exits 1 at the first mismatch. */
#define _POSIX_C_SOURCE 200809L
#include "modelc/modelc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "open_model.h"

#define MAX_THREADS 16
#define MAX_IO 8

static const modelc_api *api;
static const char *state_path;
static int iterations;
static int n_inputs, n_outputs;
static modelc_tensor inputs[MAX_IO];
static int64_t input_shapes[MAX_IO][8];

/* The results of one model: every output's bytes back to back. */
typedef struct {
  unsigned char *bytes;
  size_t size;
} Blob;

static size_t dtype_size(int32_t dtype) {
  switch (dtype) {
  case MODELC_F64: case MODELC_I64: return 8;
  case MODELC_F32: case MODELC_I32: return 4;
  case MODELC_F16: case MODELC_BF16: return 2;
  default: return 1;
  }
}

static void die(const char *what, const modelc_model *m) {
  printf("FAILED: %s: %s\n", what, api->last_error(m));
  exit(1);
}

/* Concatenates the outputs of the last forward of m into *out. Returns 0,
 * or -1 when get_output fails (the message is left for the caller). */
static int collect(const modelc_model *m, Blob *out) {
  size_t total = 0;
  for (int i = 0; i < n_outputs; ++i) {
    modelc_tensor t;
    if (api->get_output(m, i, &t) != 0)
      return -1;
    size_t n = dtype_size(t.dtype);
    for (int d = 0; d < t.rank; ++d)
      n *= (size_t)t.shape[d];
    out->bytes = realloc(out->bytes, total + n + 1);
    if (n)
      memcpy(out->bytes + total, t.data, n);
    total += n;
  }
  out->size = total;
  return 0;
}

static int same(const Blob *a, const Blob *b) {
  return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0;
}

static Blob reference[MAX_THREADS];
static Blob saved[MAX_THREADS];

static void *independent(void *arg) {
  int t = (int)(size_t)arg;
  modelc_model *m = api->create("cpu", 1 + (uint64_t)t);
  Blob got = {NULL, 0};
  if (!m)
    die("create", NULL);
  for (int i = 0; i < iterations; ++i) {
    if (api->forward(m, inputs, n_inputs) != 0 || collect(m, &got) != 0)
      die("forward on an independent model", m);
    if (!same(&got, &reference[t])) {
      printf("FAILED: thread %d iteration %d: results differ from the "
             "single-threaded ones\n", t, i);
      exit(1);
    }
    if ((i + t) % 3 == 0 && api->trim(m) != 0)
      die("trim on an independent model", m);
  }
  void *data;
  size_t size;
  if (api->save_state_to_memory(m, &data, &size) != 0)
    die("save_state_to_memory", m);
  saved[t].bytes = data;
  saved[t].size = size;
  if (api->save_state(m, state_path) != 0)
    die("save_state to the shared path", m);
  free(got.bytes);
  api->destroy(m);
  return NULL;
}

/* Phase 2: both threads call forward + get_output on one model. */
static modelc_model *shared;
static Blob shared_reference;
static volatile int refused_total, stop;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static char refusal[512];

static void *misuse(void *arg) {
  (void)arg;
  Blob got = {NULL, 0};
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int i = 0;; ++i) {
    pthread_mutex_lock(&count_lock);
    int done = stop;
    pthread_mutex_unlock(&count_lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done || (i >= iterations && now.tv_sec - start.tv_sec >= 20))
      break;
    if (i % 4 == 0 && api->trim(shared) != 0)
      die("trim on the shared model", NULL);
    int rc = api->forward(shared, inputs, n_inputs);
    if (rc == 0)
      rc = collect(shared, &got);
    if (rc != 0) {
      /* Refused: reported to this thread, last_error(NULL). */
      const char *message = api->last_error(NULL);
      if (!strstr(message, "the model is being used by another thread; use "
                           "one model per thread")) {
        printf("FAILED: unexpected error: %s\n", message);
        exit(1);
      }
      pthread_mutex_lock(&count_lock);
      if (!refused_total)
        snprintf(refusal, sizeof refusal, "%s", message);
      if (++refused_total >= 20 && i >= iterations)
        stop = 1;
      pthread_mutex_unlock(&count_lock);
      continue;
    }
    /* Only the other thread's forward on the same inputs can have run in
     * between: the results are the same either way. */
    if (!same(&got, &shared_reference)) {
      printf("FAILED: results of the shared model differ\n");
      exit(1);
    }
  }
  free(got.bytes);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: threads MODEL.so NTHREADS ITERATIONS STATE_PATH\n");
    return 2;
  }
  int n_threads = atoi(argv[2]);
  iterations = atoi(argv[3]);
  state_path = argv[4];
  if (n_threads < 1 || n_threads > MAX_THREADS)
    n_threads = MAX_THREADS;
  api = open_model(argv[1]);

  /* Inputs. */
  modelc_model *probe = api->create("cpu", 1);
  if (!probe)
    die("create", NULL);
  n_inputs = api->num_inputs(probe);
  n_outputs = api->num_outputs(probe);
  if (n_inputs > MAX_IO || n_outputs > MAX_IO) {
    printf("FAILED: too many inputs or outputs\n");
    return 1;
  }
  for (int i = 0; i < n_inputs; ++i) {
    modelc_io_info info;
    api->input_info(probe, i, &info);
    size_t n = 1;
    for (int d = 0; d < info.rank; ++d) {
      input_shapes[i][d] = info.shape[d] < 0 ? 3 : info.shape[d];
      n *= (size_t)input_shapes[i][d];
    }
    if (info.dtype != MODELC_F32) {
      printf("FAILED: only F32 inputs are supported here\n");
      return 1;
    }
    float *data = malloc(n * sizeof(float) + 1);
    for (size_t k = 0; k < n; ++k)
      data[k] = (float)sin(0.37 * (double)k + i);
    inputs[i].data = data;
    inputs[i].dtype = info.dtype;
    inputs[i].rank = info.rank;
    inputs[i].shape = input_shapes[i];
  }
  api->destroy(probe);

  /* The single-threaded results. */
  for (int t = 0; t < n_threads; ++t) {
    modelc_model *m = api->create("cpu", 1 + (uint64_t)t);
    if (!m || api->forward(m, inputs, n_inputs) != 0 ||
        collect(m, &reference[t]) != 0)
      die("single-threaded forward", m);
    api->destroy(m);
  }

  /* 1. One model per thread. */
  pthread_t threads[MAX_THREADS];
  for (int t = 0; t < n_threads; ++t)
    pthread_create(&threads[t], NULL, independent, (void *)(size_t)t);
  for (int t = 0; t < n_threads; ++t)
    pthread_join(threads[t], NULL);
  printf("%d threads x %d calls, one model each: same results as on one "
         "thread\n", n_threads, iterations);
  modelc_model *check = api->create("cpu", 99);
  if (!check || api->load_state(check, state_path, 1) != 0)
    die("loading the state saved by all threads at once", check);
  void *data;
  size_t size;
  if (api->save_state_to_memory(check, &data, &size) != 0)
    die("save_state_to_memory", check);
  int owner = -1;
  for (int t = 0; t < n_threads; ++t)
    if (saved[t].size == size && memcmp(saved[t].bytes, data, size) == 0)
      owner = t;
  if (owner < 0) {
    printf("FAILED: the state saved concurrently to one path is no thread's "
           "state\n");
    return 1;
  }
  printf("%d saves to one path at once: the file is one thread's state\n",
         n_threads);
  api->free_buffer(data);
  api->destroy(check);

  /* 2. One model, two threads. */
  shared = api->create("cpu", 1);
  if (!shared)
    die("create", NULL);
  shared_reference = reference[0];
  pthread_create(&threads[0], NULL, misuse, NULL);
  pthread_create(&threads[1], NULL, misuse, NULL);
  pthread_join(threads[0], NULL);
  pthread_join(threads[1], NULL);
  if (!refused_total) {
    printf("FAILED: concurrent calls on one model were never refused\n");
    return 1;
  }
  printf("one model, two threads: concurrent calls refused: %s\n", refusal);
  /* The model is still usable, and its own error slot was not touched by
   * the refused calls. */
  Blob got = {NULL, 0};
  if (api->forward(shared, inputs, n_inputs) != 0 || collect(shared, &got) != 0 ||
      !same(&got, &shared_reference))
    die("forward after the misuse", shared);
  if (strcmp(api->last_error(shared), "") != 0) {
    printf("FAILED: the model's last error is '%s'\n", api->last_error(shared));
    return 1;
  }
  printf("afterwards the model works and has no error\n");
  free(got.bytes);
  api->destroy(shared);
  for (int t = 0; t < n_threads; ++t) {
    free(reference[t].bytes);
    api->free_buffer(saved[t].bytes);
  }
  for (int i = 0; i < n_inputs; ++i)
    free(inputs[i].data);
  printf("ALL OK\n");
  return 0;
}
