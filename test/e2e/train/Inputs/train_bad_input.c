/* Bad input to the training ABI (test/e2e/train/bad-input.test): each failing
 * call returns -1 with a message naming the input at fault (printed for
 * FileCheck) and changes nothing: the state dict (parameters and BatchNorm
 * running statistics), the optimizer state and the gradients are compared
 * bit for bit with a snapshot taken before it, and the model then trains on
 * exactly as one that never saw the bad calls.
 * Usage: train_bad_input cnn_bn.so FIXTURES_DIR tiny.so */
#include "abi_checks.h"
#include "st_io.h"

#include <dlfcn.h>

typedef struct snapshot {
  void *state, *optim, *grads;
  size_t state_size, optim_size, grads_size;
} snapshot;

static snapshot take(modelc_model *m, int training) {
  snapshot s = {0, 0, 0, 0, 0, 0};
  OK(m, api->save_state_to_memory(m, &s.state, &s.state_size));
  if (!training)
    return s;
  OK(m, api->save_optimizer_state_to_memory(m, &s.optim, &s.optim_size));
  void *block;
  OK(m, api->grad_buffer(m, &block, &s.grads_size));
  s.grads = malloc(s.grads_size);
  memcpy(s.grads, block, s.grads_size);
  return s;
}

static int same(const snapshot *a, const snapshot *b) {
  return a->state_size == b->state_size && !memcmp(a->state, b->state, a->state_size) &&
         a->optim_size == b->optim_size && (!a->optim || !memcmp(a->optim, b->optim, a->optim_size)) &&
         (!a->grads || (a->grads_size == b->grads_size && !memcmp(a->grads, b->grads, a->grads_size)));
}

static void release(snapshot *s) {
  api->free_buffer(s->state);
  api->free_buffer(s->optim);
  free(s->grads);
}

/* A failing call: -1, its message printed, nothing changed. */
static void expect_failure(modelc_model *m, const char *what, int rc, const snapshot *before,
                           int training) {
  if (rc != -1) {
    fprintf(stderr, "%s: returned %d, expected -1\n", what, rc);
    exit(1);
  }
  printf("%s: %s\n", what, api->last_error(m));
  snapshot after = take(m, training);
  if (!same(before, &after)) {
    fprintf(stderr, "%s: the failed call changed the model (state %s, optimizer state %s, gradients %s)\n",
            what, before->state_size == after.state_size && !memcmp(before->state, after.state, after.state_size) ? "same" : "changed",
            before->optim_size == after.optim_size && (!after.optim || !memcmp(before->optim, after.optim, after.optim_size)) ? "same" : "changed",
            before->grads_size == after.grads_size && (!after.grads || !memcmp(before->grads, after.grads, after.grads_size)) ? "same" : "changed");
    exit(1);
  }
  release(&after);
  CHECK(api->is_training(m) == 1);
}

static const char *fixdir;
static const char *fix(const char *name) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/%s", fixdir, name);
  return buf;
}

static modelc_model *trained_model(modelc_tensor *b0, modelc_tensor *b1) {
  modelc_model *m = api->create("cpu", 1);
  CHECK(m);
  OK(m, api->load_state(m, fix("cnn_bn.state.safetensors"), 1));
  OK(m, api->set_training(m, 1));
  OK(m, api->set_optimizer(m, "adam", "{\"lr\": 0.01}"));
  OK(m, api->train_step(m, b0, 2, NULL));
  /* accumulated, not yet stepped: the gradients are not zero */
  OK(m, api->loss_backward(m, b1, 2, NULL));
  return m;
}

int main(int argc, char **argv) {
  if (argc != 4)
    return 2;
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CHECK(h);
  api = ((modelc_model_entry_fn)dlsym(h, "modelc_model_entry"))();
  fixdir = argv[2];
  st_file f0 = st_open(fix("cnn_bn.step0.inputs.safetensors"));
  st_file f1 = st_open(fix("cnn_bn.step1.inputs.safetensors"));
  modelc_tensor b0[2] = {st_get(&f0, "x", 0), st_get(&f0, "y", 1)};
  modelc_tensor b1[2] = {st_get(&f1, "x", 0), st_get(&f1, "y", 1)};
  CHECK(b1[1].dtype == MODELC_I64 && b1[1].rank == 1 && b1[1].shape[0] == 8);

  modelc_model *m = trained_model(b0, b1);
  modelc_model *ref = trained_model(b0, b1);
  snapshot before = take(m, 1);

  /* Out-of-range class indices (10 classes): 10, then -3 (not ignore_index). */
  int64_t y[8];
  memcpy(y, b1[1].data, sizeof y);
  modelc_tensor bad[2] = {b1[0], {y, MODELC_I64, 1, b1[1].shape}};
  modelc_tensor bad3[2] = {b1[0], {NULL, MODELC_I64, 1, b1[1].shape}};
  int64_t y3[8];
  memcpy(y3, b1[1].data, sizeof y3);
  bad3[1].data = y3;
  y[5] = 10;
  y3[2] = -3;
  float loss = 0;
  expect_failure(m, "loss_backward target 10", api->loss_backward(m, bad, 2, &loss), &before, 1);
  expect_failure(m, "loss_backward target -3", api->loss_backward(m, bad3, 2, &loss), &before, 1);

  /* Targets of the wrong dtype: f32 class indices. */
  float yf[8];
  for (int i = 0; i < 8; ++i)
    yf[i] = (float)((int64_t *)b1[1].data)[i];
  modelc_tensor wrong[2] = {b1[0], {yf, MODELC_F32, 1, b1[1].shape}};
  expect_failure(m, "loss_backward f32 targets", api->loss_backward(m, wrong, 2, &loss), &before, 1);
  expect_failure(m, "train_step f32 targets", api->train_step(m, wrong, 2, &loss), &before, 1);

  /* train_step with out-of-range targets: docs/ABI.md says a check of the
   * generated code fails after train_step's zero_grad, so the gradients are
   * left zeroed (and unset: the step below then changes nothing, as after
   * zero_grad); parameters, buffers and the optimizer state stay. */
  OK(ref, api->zero_grad(ref));
  snapshot zeroed = take(ref, 1);
  free(zeroed.grads);
  zeroed.grads = NULL;
  expect_failure(m, "train_step target 10", api->train_step(m, bad, 2, &loss), &zeroed, 1);
  expect_failure(m, "train_step target -3", api->train_step(m, bad3, 2, &loss), &zeroed, 1);
  void *block;
  size_t nbytes;
  OK(m, api->grad_buffer(m, &block, &nbytes));
  for (size_t i = 0; i < nbytes / 4; ++i)
    CHECK(((float *)block)[i] == 0.0f);

  /* The model then trains on as one that never saw the bad calls. */
  OK(m, api->step(m));
  OK(ref, api->step(ref));
  OK(m, api->train_step(m, b1, 2, &loss));
  OK(ref, api->train_step(ref, b1, 2, &loss));
  snapshot sm = take(m, 1), sr = take(ref, 1);
  CHECK(same(&sm, &sr));
  release(&sm);
  release(&sr);
  release(&before);
  release(&zeroed);
  api->destroy(m);
  api->destroy(ref);
  puts("cnn_bn: unchanged");

  /* A model without loss: every training entry fails, nothing changes. */
  void *ht = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
  CHECK(ht);
  api = ((modelc_model_entry_fn)dlsym(ht, "modelc_model_entry"))();
  modelc_model *t = api->create("cpu", 1);
  CHECK(t);
  OK(t, api->set_training(t, 1));
  static float x[4 * 100];
  int64_t xs[2] = {4, 100};
  modelc_tensor in[1] = {{x, MODELC_F32, 2, xs}};
  snapshot tb = take(t, 0);
  expect_failure(t, "tiny loss_backward", api->loss_backward(t, in, 1, &loss), &tb, 0);
  expect_failure(t, "tiny train_step", api->train_step(t, in, 1, &loss), &tb, 0);
  expect_failure(t, "tiny set_optimizer", api->set_optimizer(t, "sgd", NULL), &tb, 0);
  expect_failure(t, "tiny step", api->step(t), &tb, 0);
  expect_failure(t, "tiny zero_grad", api->zero_grad(t), &tb, 0);
  release(&tb);
  api->destroy(t);
  puts("tiny: unchanged");
  st_close(&f0);
  st_close(&f1);
  return 0;
}
