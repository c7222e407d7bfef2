/* Drives the fake model with CUDA entries (fake_model.c -DFAKE_CUDA) on
 * the fake driver (fake_libcuda.c, found as libcuda.so.1 through
 * LD_LIBRARY_PATH): devices, the state moving between host and device,
 * forward on the device against forward on the CPU, its errors, and no
 * leak or bad pointer in device memory. Prints the runtime's messages for
 * FileCheck; exits 1 at the first unmet expectation.
 *
 *   cuda_test TMP   (writes TMP.cuda.safetensors and TMP.cpu.safetensors) */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "modelc/modelc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_expect.h"

/* The fake driver's counters, and its current context. */
static int (*liveAllocations)(void);
static long long (*liveBytes)(void);
static int (*badCalls)(void);
static int (*ctxGetCurrent)(void **);

static void bindFakeDriver(void) {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (!lib) {
    printf("cannot open the fake driver: %s\n", dlerror());
    exit(1);
  }
  /* (POSIX's way of turning dlsym's object pointer into a function one.) */
  *(void **)&liveAllocations = dlsym(lib, "fake_cuda_live_allocations");
  *(void **)&liveBytes = dlsym(lib, "fake_cuda_live_bytes");
  *(void **)&badCalls = dlsym(lib, "fake_cuda_bad_calls");
  *(void **)&ctxGetCurrent = dlsym(lib, "cuCtxGetCurrent");
  if (!liveAllocations || !liveBytes || !badCalls || !ctxGetCurrent) {
    printf("libcuda.so.1 is not the fake driver\n");
    exit(1);
  }
}

/* The calls leave no context current in this thread. */
static int noContextLeft(void) {
  void *context = (void *)1;
  return ctxGetCurrent(&context) == 0 && context == NULL;
}

/* Every state entry, back to back, in state_info order. */
static size_t readStates(modelc_model *m, unsigned char *buf, size_t size) {
  size_t at = 0;
  int n = Fake_num_states(m);
  for (int i = 0; i < n; ++i) {
    modelc_state_info info;
    EXPECT(Fake_state_info(m, i, &info) == 0);
    EXPECT(at + info.nbytes <= size);
    EXPECT(Fake_read_state(m, info.name, buf + at, info.nbytes) == 0);
    at += info.nbytes;
  }
  return at;
}

static int sameStates(modelc_model *a, modelc_model *b) {
  unsigned char x[256], y[256];
  size_t nx = readStates(a, x, sizeof x), ny = readStates(b, y, sizeof y);
  return nx == ny && memcmp(x, y, nx) == 0;
}

static int sameOutputs(modelc_model *a, modelc_model *b) {
  int same = Fake_num_outputs(a) == Fake_num_outputs(b);
  for (int i = 0; same && i < Fake_num_outputs(a); ++i) {
    modelc_tensor x, y;
    if (Fake_get_output(a, i, &x) != 0 || Fake_get_output(b, i, &y) != 0)
      return 0;
    size_t bytes = x.dtype == MODELC_I64 ? 8 : 4;
    same = x.dtype == y.dtype && x.rank == y.rank;
    for (int d = 0; same && d < x.rank; ++d) {
      same = x.shape[d] == y.shape[d];
      bytes *= (size_t)x.shape[d];
    }
    same = same && (bytes == 0 || memcmp(x.data, y.data, bytes) == 0);
  }
  return same;
}

static int forward(modelc_model *m, const float *x, int64_t rows) {
  int64_t shape[2] = {rows, 2};
  modelc_tensor in = {(void *)x, MODELC_F32, 2, shape};
  return Fake_forward(m, &in, 1);
}

static void printY(modelc_model *m) {
  modelc_tensor y;
  EXPECT(Fake_get_output(m, 0, &y) == 0);
  printf("y [%lld, %lld] =", (long long)y.shape[0], (long long)y.shape[1]);
  for (int64_t i = 0; i < y.shape[0] * y.shape[1]; ++i)
    printf(" %g", ((float *)y.data)[i]);
  printf("\n");
}

/* A thread training one model on `device` and one on the CPU side by side;
 * returns NULL when they always agree. */
static void *trainBeside(void *device) {
  const float x[6] = {1, 2, 3, 4, -1, 0.5f};
  modelc_model *g = Fake_create((const char *)device, 5);
  modelc_model *h = Fake_create("cpu", 5);
  int ok = g && h && Fake_set_training(g, 1) == 0 &&
           Fake_set_training(h, 1) == 0;
  for (int i = 0; ok && i < 50; ++i)
    ok = forward(g, x, 1 + i % 3) == 0 && forward(h, x, 1 + i % 3) == 0 &&
         sameOutputs(g, h);
  int64_t count = 0;
  ok = ok && Fake_read_state(g, "count", &count, sizeof count) == 0 &&
       count == 50;
  Fake_destroy(g);
  Fake_destroy(h);
  return ok ? NULL : device;
}

static void *saveToMemory(modelc_model *m, size_t *size) {
  void *data = NULL;
  EXPECT(Fake_save_state_to_memory(m, &data, size) == 0);
  return data;
}

int main(int argc, char **argv) {
  const char *tmp = argc > 1 ? argv[1] : "cuda_test";
  char path[4096];
  const float x[8] = {1, 2, 3, 4, -1, 0.5f, 2, -3};

  /* Devices: "cuda" is cuda:0; the fake driver has two. */
  modelc_model *c = Fake_create("cuda", 3);
  EXPECT(c != NULL);
  bindFakeDriver();
  EXPECT(noContextLeft());
  printf("device: %s\n", Fake_device(c));
  modelc_model *c1 = Fake_create("cuda:1", 3);
  EXPECT(c1 != NULL);
  printf("device: %s\n", Fake_device(c1));
  const char *bad[] = {"cuda:2", "cuda:x", "cuda:", "cuda:-1", "cuda:1000"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    EXPECT(Fake_create(bad[i], 3) == NULL);
    printf("%s: %s\n", bad[i], Fake_last_error(NULL));
  }
  EXPECT_ERROR(Fake_to_device(c, "cuda:7"), c);
  EXPECT(strcmp(Fake_device(c), "cuda:0") == 0);

  /* One seed, one model, on either device. */
  modelc_model *h = Fake_create("cpu", 3);
  EXPECT(h != NULL && strcmp(Fake_device(h), "cpu") == 0);
  EXPECT(sameStates(c, h));
  EXPECT(sameStates(c1, h));
  printf("create: cuda state == cpu state\n");

  /* write_state / read_state on the device. */
  float w[6] = {1, -2, 3, -4, 5, -6}, back[6] = {0};
  EXPECT(Fake_write_state(c, "lin.weight", w, sizeof w) == 0);
  EXPECT(Fake_read_state(c, "lin.weight", back, sizeof back) == 0);
  EXPECT(memcmp(w, back, sizeof w) == 0);
  EXPECT_ERROR(Fake_read_state(c, "lin.weight", back, 20), c);
  EXPECT(Fake_write_state(h, "lin.weight", w, sizeof w) == 0);
  EXPECT(sameStates(c, h));

  /* Saving on the device is saving after moving to the CPU. */
  size_t sizeC, sizeH;
  void *savedC = saveToMemory(c, &sizeC), *savedH = saveToMemory(h, &sizeH);
  EXPECT(savedC && savedH && sizeC == sizeH && memcmp(savedC, savedH, sizeC) == 0);
  snprintf(path, sizeof path, "%s.cuda.safetensors", tmp);
  EXPECT(Fake_save_state(c, path) == 0);
  snprintf(path, sizeof path, "%s.cpu.safetensors", tmp);
  EXPECT(Fake_save_state(h, path) == 0);

  /* Loading on the device: another model's state, then back to the CPU. */
  modelc_model *other = Fake_create("cpu", 11);
  size_t sizeO;
  void *savedO = saveToMemory(other, &sizeO);
  EXPECT(!sameStates(c1, other));
  EXPECT(Fake_load_state_from_memory(c1, savedO, sizeO, 1) == 0);
  EXPECT(sameStates(c1, other));
  snprintf(path, sizeof path, "%s.cuda.safetensors", tmp);
  EXPECT(Fake_load_state(c1, path, 1) == 0);
  EXPECT(sameStates(c1, h));
  EXPECT(Fake_load_state_from_memory(c1, savedO, sizeO, 1) == 0);
  EXPECT(Fake_to_device(c1, "cpu") == 0);
  printf("device: %s\n", Fake_device(c1));
  EXPECT(sameStates(c1, other));
  /* A failed load changes nothing on the device either. */
  EXPECT_ERROR(Fake_load_state_from_memory(c, savedO, sizeO - 1, 1), c);
  EXPECT(sameStates(c, h));
  Fake_free_buffer(savedO);

  /* to_device round trips: cpu -> cuda:1 -> cuda:0 -> cpu -> cuda. */
  EXPECT(Fake_to_device(c1, "cuda:1") == 0);
  EXPECT(sameStates(c1, other));
  EXPECT(Fake_to_device(c1, "cuda:0") == 0);
  printf("device: %s\n", Fake_device(c1));
  EXPECT(sameStates(c1, other));
  EXPECT(Fake_to_device(c1, "cuda") == 0); /* already there */
  EXPECT(Fake_to_device(c1, "cpu") == 0);
  EXPECT(Fake_to_device(c1, NULL) == -1);
  EXPECT(sameStates(c1, other));
  printf("to_device: round trips keep the state\n");
  Fake_destroy(other);
  Fake_free_buffer(savedC);
  Fake_free_buffer(savedH);

  {
    /* forward on the device equals forward on the CPU, in both modes and
     * with inputs that grow and shrink (the device copy is reused). */
    int64_t rows[] = {2, 1, 4, 0, 3};
    for (int training = 0; training <= 1; ++training)
      for (size_t r = 0; r < sizeof rows / sizeof rows[0]; ++r) {
        EXPECT(Fake_set_training(c, training) == 0);
        EXPECT(Fake_set_training(h, training) == 0);
        EXPECT(forward(c, x, rows[r]) == 0);
        EXPECT(forward(h, x, rows[r]) == 0);
        EXPECT(sameOutputs(c, h));
        EXPECT(sameStates(c, h));
      }
    printY(c);
    int64_t count = 0;
    float calls = 0;
    EXPECT(Fake_read_state(c, "count", &count, sizeof count) == 0);
    EXPECT(Fake_read_state(c, "lin.calls", &calls, sizeof calls) == 0);
    printf("forward: cuda == cpu; training count %lld, calls %g\n",
           (long long)count, calls);
    EXPECT(noContextLeft());
  }

  /* A kernel that fails: a clean error, no output, nothing leaked, and
   * the model still works. */
  int before = liveAllocations();
  setenv("FAKE_CUDA_LAUNCH_ERROR", "1", 1);
  EXPECT_ERROR(forward(c, x, 2), c);
  unsetenv("FAKE_CUDA_LAUNCH_ERROR");
  modelc_tensor out;
  EXPECT_ERROR(Fake_get_output(c, 0, &out), c);
  EXPECT(liveAllocations() == before);
  EXPECT(forward(c, x, 2) == 0);
  EXPECT(forward(h, x, 2) == 0);
  EXPECT(sameOutputs(c, h));
  EXPECT(Fake_to_device(c, "cpu") == 0);
  EXPECT(forward(c, x, 2) == 0);
  EXPECT(forward(h, x, 2) == 0);
  EXPECT(sameOutputs(c, h));
  EXPECT(sameStates(c, h));
  printf("after a failed launch: forward works\n");

  /* Out of device memory: to_device and create change nothing. */
  EXPECT(Fake_to_device(c, "cuda") == 0);
  char limit[32];
  snprintf(limit, sizeof limit, "%lld", liveBytes() + 20);
  setenv("FAKE_CUDA_MEM_LIMIT", limit, 1);
  before = liveAllocations();
  EXPECT_ERROR(Fake_to_device(h, "cuda"), h);
  EXPECT(strcmp(Fake_device(h), "cpu") == 0);
  EXPECT(liveAllocations() == before);
  EXPECT(Fake_create("cuda", 3) == NULL);
  printf("create: %s\n", Fake_last_error(NULL));
  EXPECT(liveAllocations() == before);
  float big[2000] = {0};
  EXPECT_ERROR(forward(c, big, 1000), c);
  EXPECT(liveAllocations() == before);
  unsetenv("FAKE_CUDA_MEM_LIMIT");
  EXPECT(forward(h, x, 2) == 0);
  EXPECT(forward(c, x, 2) == 0);
  EXPECT(sameOutputs(c, h));
  EXPECT(sameStates(c, h));
  EXPECT(noContextLeft());

  /* Models on both devices in four threads at once. */
  pthread_t threads[4];
  const char *devices[4] = {"cuda:0", "cuda:1", "cuda", "cuda:1"};
  for (int i = 0; i < 4; ++i)
    EXPECT(pthread_create(&threads[i], NULL, trainBeside, (void *)devices[i]) == 0);
  for (int i = 0; i < 4; ++i) {
    void *result = (void *)1;
    EXPECT(pthread_join(threads[i], &result) == 0 && result == NULL);
  }
  printf("threads: cuda == cpu\n");

  /* Everything freed, and no call named memory that was not the device's. */
  Fake_destroy(c);
  Fake_destroy(c1);
  Fake_destroy(h);
  printf("device memory left: %d allocations; bad calls: %d\n",
         liveAllocations(), badCalls());
  if (failures)
    printf("%d FAILED\n", failures);
  else
    printf("ALL OK\n");
  return failures ? 1 : 0;
}
