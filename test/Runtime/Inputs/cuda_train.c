/* Training on the "device": the fake training model with CUDA entries
 * (fake_train.c -DFAKE_CUDA) on the fake driver (fake_libcuda.c, found as
 * libcuda.so.1 through LD_LIBRARY_PATH). loss_backward runs the CUDA entry
 * on device memory, the gradients come back to the host and the optimizer
 * updates the parameters there and puts them back: the same steps on the
 * CPU and on cuda must give the same losses, gradients and state bit for
 * bit. Errors change nothing, and no device memory is left behind.
 * Prints the runtime's messages for FileCheck; exits 1 at the first unmet
 * expectation. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "modelc/modelc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MODEL FakeTrain
#include "fake_expect.h"

static int (*liveAllocations)(void);
static long long (*liveBytes)(void);
static int (*badCalls)(void);

/* Every state entry and every gradient, back to back. */
static size_t snapshot(modelc_model *m, unsigned char *buf, size_t size) {
  size_t at = 0;
  int n = FakeTrain_num_states(m);
  for (int i = 0; i < n; ++i) {
    modelc_state_info info;
    EXPECT(FakeTrain_state_info(m, i, &info) == 0);
    EXPECT(at + info.nbytes <= size);
    EXPECT(FakeTrain_read_state(m, info.name, buf + at, info.nbytes) == 0);
    at += info.nbytes;
  }
  const char *params[] = {"lin.weight", "lin.bias"};
  size_t sizes[] = {24, 8};
  for (int i = 0; i < 2; ++i) {
    EXPECT(FakeTrain_read_grad(m, params[i], buf + at, sizes[i]) == 0);
    at += sizes[i];
  }
  return at;
}

/* x (4 x 3) and y (4 x 2), or a batch of `rows` rows. */
static float xs[101 * 3], ys[101 * 2];
static int64_t xshape[2] = {4, 3}, yshape[2] = {4, 2};
static modelc_tensor batch[2];

static void makeBatch(int64_t rows) {
  xshape[0] = yshape[0] = rows;
  batch[0] = (modelc_tensor){xs, MODELC_F32, 2, xshape};
  batch[1] = (modelc_tensor){ys, MODELC_F32, 2, yshape};
}

/* `steps` training steps with AdamW (weight decay, amsgrad): the losses. */
static void train(modelc_model *m, int steps, float *losses) {
  EXPECT(FakeTrain_set_optimizer(m, "adamw",
                                 "{\"lr\": 0.05, \"weight_decay\": 0.1, \"amsgrad\": true}") == 0);
  EXPECT(FakeTrain_set_training(m, 1) == 0);
  makeBatch(4);
  for (int s = 0; s < steps; ++s)
    EXPECT(FakeTrain_train_step(m, batch, 2, &losses[s]) == 0);
}

int main(void) {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW);
  if (!driver) {
    printf("cannot open the fake driver: %s\n", dlerror());
    return 1;
  }
  *(void **)&liveAllocations = dlsym(driver, "fake_cuda_live_allocations");
  *(void **)&liveBytes = dlsym(driver, "fake_cuda_live_bytes");
  *(void **)&badCalls = dlsym(driver, "fake_cuda_bad_calls");
  if (!liveAllocations || !liveBytes || !badCalls) {
    printf("libcuda.so.1 is not the fake driver\n");
    return 1;
  }
  for (int i = 0; i < 101 * 3; ++i)
    xs[i] = (float)((i * 7) % 11) / 10.0f - 0.5f;
  for (int i = 0; i < 101 * 2; ++i)
    ys[i] = (float)((i * 5) % 7) / 7.0f;

  /* The same seed, the same steps: on the CPU, then on cuda. */
  unsigned char onCpu[256], onCuda[256];
  float cpuLosses[5], cudaLosses[5];
  modelc_model *cpu = FakeTrain_create("cpu", 7);
  EXPECT(cpu != NULL);
  train(cpu, 5, cpuLosses);
  size_t n = snapshot(cpu, onCpu, sizeof onCpu);
  FakeTrain_destroy(cpu);

  modelc_model *m = FakeTrain_create("cuda", 7);
  EXPECT(m != NULL);
  train(m, 5, cudaLosses);
  EXPECT(snapshot(m, onCuda, sizeof onCuda) == n);
  EXPECT(memcmp(onCpu, onCuda, n) == 0);
  EXPECT(memcmp(cpuLosses, cudaLosses, sizeof cpuLosses) == 0);
  EXPECT(cudaLosses[4] < cudaLosses[0]);
  printf("train_step: cuda == cpu (losses %.4f -> %.4f)\n", cudaLosses[0], cudaLosses[4]);

  /* loss_backward accumulates on the host, step then updates: as
   * train_step's zero_grad + loss_backward + step. */
  float loss;
  EXPECT(FakeTrain_zero_grad(m) == 0);
  EXPECT(FakeTrain_loss_backward(m, batch, 2, &loss) == 0);
  EXPECT(FakeTrain_loss_backward(m, batch, 2, &loss) == 0);
  float twice[6], once[6];
  EXPECT(FakeTrain_read_grad(m, "lin.weight", twice, sizeof twice) == 0);
  EXPECT(FakeTrain_zero_grad(m) == 0);
  EXPECT(FakeTrain_loss_backward(m, batch, 2, &loss) == 0);
  EXPECT(FakeTrain_read_grad(m, "lin.weight", once, sizeof once) == 0);
  for (int i = 0; i < 6; ++i)
    EXPECT(twice[i] == 2 * once[i]);
  EXPECT(FakeTrain_step(m) == 0);
  printf("loss_backward on cuda accumulates\n");

  /* forward_backward (y.backward(g)) on cuda: the outputs and the
   * gradients as on the CPU, from the same state. */
  static float g[4 * 2] = {1, -1, 0.5f, 2, -0.25f, 1, 3, 0};
  int64_t gshape[2] = {4, 2};
  modelc_tensor grad = {g, MODELC_F32, 2, gshape};
  unsigned char state[256];
  size_t bytes = snapshot(m, state, sizeof state);
  modelc_model *c = FakeTrain_create("cpu", 7);
  EXPECT(c != NULL);
  modelc_state_info info;
  size_t from = 0;
  for (int i = 0; i < FakeTrain_num_states(c); ++i) {
    EXPECT(FakeTrain_state_info(c, i, &info) == 0);
    EXPECT(FakeTrain_write_state(c, info.name, state + from, info.nbytes) == 0);
    from += info.nbytes;
  }
  EXPECT(from < bytes);
  EXPECT(FakeTrain_set_training(c, 1) == 0);
  float out[2][8], fbGrads[2][8];
  modelc_model *both[2] = {c, m};
  for (int k = 0; k < 2; ++k) {
    EXPECT(FakeTrain_zero_grad(both[k]) == 0);
    EXPECT(FakeTrain_forward_backward(both[k], batch, 1, &grad, 1) == 0);
    modelc_tensor y;
    EXPECT(FakeTrain_get_output(both[k], 0, &y) == 0 && y.shape[0] == 4 && y.shape[1] == 2);
    memcpy(out[k], y.data, sizeof out[k]);
    EXPECT(FakeTrain_read_grad(both[k], "lin.weight", fbGrads[k], 24) == 0);
    EXPECT(FakeTrain_read_grad(both[k], "lin.bias", fbGrads[k] + 6, 8) == 0);
  }
  EXPECT(memcmp(out[0], out[1], sizeof out[0]) == 0);
  EXPECT(memcmp(fbGrads[0], fbGrads[1], sizeof fbGrads[0]) == 0);
  FakeTrain_destroy(c);
  printf("forward_backward: cuda == cpu\n");

  /* Errors change nothing: a failed check of the generated code (more
   * than 100 rows), and no device memory for the inputs. */
  size_t at = snapshot(m, onCuda, sizeof onCuda);
  unsigned char after[256];
  makeBatch(101);
  EXPECT_ERROR(FakeTrain_loss_backward(m, batch, 2, &loss), m);
  EXPECT(snapshot(m, after, sizeof after) == at);
  EXPECT(memcmp(after, onCuda, at) == 0);
  makeBatch(4);
  char limit[32];
  snprintf(limit, sizeof limit, "%lld", liveBytes() + 8);
  setenv("FAKE_CUDA_MEM_LIMIT", limit, 1);
  EXPECT_ERROR(FakeTrain_loss_backward(m, batch, 2, &loss), m);
  unsetenv("FAKE_CUDA_MEM_LIMIT");
  EXPECT(snapshot(m, after, sizeof after) == at);
  EXPECT(memcmp(after, onCuda, at) == 0);
  printf("errors change nothing\n");

  FakeTrain_destroy(m);
  EXPECT(liveAllocations() == 0);
  EXPECT(badCalls() == 0);
  if (failures)
    return 1;
  printf("ALL OK\n");
  return 0;
}
