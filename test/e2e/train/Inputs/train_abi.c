/* PyTorch parity of the training ABI driven from C (test/e2e/train/abi-*.test;
 * references from tools/gen_train_fixtures.py, section "ABI cases").
 *
 * Usage: train_abi MODE model.so FIXTURES_DIR OUT_PREFIX
 *   accum     mlp: two rounds of zero_grad; loss_backward(batch 0);
 *             loss_backward(batch 1); step (SGD momentum): gradients
 *             accumulate across calls
 *   schedule  mlp: train_step x3 with set_hyperparameter("lr") 0.1, 0.05,
 *             0.025 before each (SGD momentum); step 2's targets hold -100
 *             (the default ignore_index)
 *   freeze    frozen: step 0 as declared, then set_requires_grad freezes
 *             fc.weight and unfreezes temperature for steps 1 and 2
 *   resume    cnn_bn: 2 steps, save_optimizer_state + save_state, a fresh
 *             model loads both and takes 2 more; and 4 steps straight
 * Writes OUT_PREFIX.{losses,grads,state,optim}.safetensors (resume: also
 * .step2.state/.step2.optim after 2 steps and .resumed.state/.resumed.optim).
 */
#include "abi_checks.h"
#include "st_io.h"

#include <dlfcn.h>

static const char *fixdir, *out;
static char path_buf[4096];

static const char *fix(const char *name) {
  snprintf(path_buf, sizeof path_buf, "%s/%s", fixdir, name);
  return path_buf;
}
static const char *outp(const char *suffix) {
  snprintf(path_buf, sizeof path_buf, "%s.%s.safetensors", out, suffix);
  return path_buf;
}

/* A batch: the tensors of a fixtures inputs file in loss_input_info order. */
typedef struct batch {
  st_file file;
  modelc_tensor t[8];
  int n;
} batch;

static batch load_batch(modelc_model *m, const char *file) {
  batch b;
  b.file = st_open(fix(file));
  b.n = api->num_loss_inputs(m);
  CHECK(b.n > 0 && b.n <= 8);
  for (int i = 0; i < b.n; ++i) {
    modelc_io_info info;
    OK(m, api->loss_input_info(m, i, &info));
    b.t[i] = st_get(&b.file, info.name, i);
  }
  return b;
}

static void free_batches(batch *b, int n) {
  for (int i = 0; i < n; ++i)
    st_close(&b[i].file);
}

static modelc_model *new_model(const char *state_file) {
  modelc_model *m = api->create("cpu", 7);
  CHECK(m);
  if (state_file)
    OK(m, api->load_state(m, fix(state_file), 1));
  OK(m, api->set_training(m, 1));
  return m;
}

/* The gradients of the parameters that require grad, as a safetensors file. */
static void write_grads(modelc_model *m, const char *suffix) {
  int n = api->num_states(m), k = 0;
  const char *names[64];
  float *data[64];
  const int64_t *shapes[64];
  int32_t ranks[64];
  for (int i = 0; i < n; ++i) {
    modelc_state_info info;
    OK(m, api->state_info(m, i, &info));
    if (info.kind != MODELC_PARAMETER || api->requires_grad(m, info.name) != 1)
      continue;
    names[k] = info.name;
    data[k] = malloc(info.nbytes ? info.nbytes : 4);
    shapes[k] = info.shape;
    ranks[k] = info.rank;
    OK(m, api->read_grad(m, info.name, data[k], info.nbytes));
    ++k;
  }
  st_write(outp(suffix), k, names, data, shapes, ranks);
  for (int i = 0; i < k; ++i)
    free(data[i]);
}

static void write_losses(const float *losses, int64_t k) {
  const char *names[1] = {"loss"};
  float *data[1] = {(float *)losses};
  const int64_t *shapes[1] = {&k};
  int32_t ranks[1] = {1};
  st_write(outp("losses"), 1, names, data, shapes, ranks);
}

static void save_all(modelc_model *m, const char *state, const char *optim) {
  OK(m, api->save_state(m, outp(state)));
  OK(m, api->save_optimizer_state(m, outp(optim)));
}

static void accum(void) {
  modelc_model *m = new_model("mlp.state.safetensors");
  batch b0 = load_batch(m, "mlp.step0.inputs.safetensors");
  batch b1 = load_batch(m, "mlp.step1.inputs.safetensors");
  OK(m, api->set_optimizer(m, "sgd", "{\"lr\": 0.05, \"momentum\": 0.9, \"weight_decay\": 0.001}"));
  float losses[4];
  for (int r = 0; r < 2; ++r) {
    OK(m, api->zero_grad(m));
    OK(m, api->loss_backward(m, b0.t, b0.n, &losses[2 * r]));
    OK(m, api->loss_backward(m, b1.t, b1.n, &losses[2 * r + 1]));
    if (r == 1)
      write_grads(m, "grads");
    OK(m, api->step(m));
  }
  write_losses(losses, 4);
  save_all(m, "state", "optim");
  api->destroy(m);
  free_batches(&b0, 1);
  free_batches(&b1, 1);
}

static void schedule(void) {
  modelc_model *m = new_model("mlp.state.safetensors");
  batch b[3] = {load_batch(m, "mlp.step0.inputs.safetensors"),
                load_batch(m, "mlp.step1.inputs.safetensors"),
                load_batch(m, "mlp.ignore100.inputs.safetensors")};
  OK(m, api->set_optimizer(m, "sgd", "{\"lr\": 0.1, \"momentum\": 0.9}"));
  const double lr[3] = {0.1, 0.05, 0.025};
  float losses[3];
  for (int i = 0; i < 3; ++i) {
    OK(m, api->set_hyperparameter(m, "lr", lr[i]));
    OK(m, api->train_step(m, b[i].t, b[i].n, &losses[i]));
  }
  /* train_step leaves the gradients of its loss_backward in place. */
  write_grads(m, "grads");
  write_losses(losses, 3);
  save_all(m, "state", "optim");
  api->destroy(m);
  free_batches(b, 3);
}

static void freeze(void) {
  modelc_model *m = new_model("frozen.state.safetensors");
  batch b[3] = {load_batch(m, "frozen.step0.inputs.safetensors"),
                load_batch(m, "frozen.step1.inputs.safetensors"),
                load_batch(m, "frozen.step2.inputs.safetensors")};
  OK(m, api->set_optimizer(m, "sgd", "{\"lr\": 0.1, \"momentum\": 0.9}"));
  float losses[3];
  CHECK(api->requires_grad(m, "temperature") == 0);
  CHECK(api->requires_grad(m, "fc.weight") == 1);
  OK(m, api->train_step(m, b[0].t, b[0].n, &losses[0]));
  OK(m, api->set_requires_grad(m, "fc.weight", 0));
  OK(m, api->set_requires_grad(m, "temperature", 1));
  CHECK(api->requires_grad(m, "temperature") == 1);
  CHECK(api->requires_grad(m, "fc.weight") == 0);
  static float w1[10 * 128], w2[10 * 128];
  OK(m, api->read_state(m, "fc.weight", w1, sizeof w1));
  for (int i = 1; i < 3; ++i)
    OK(m, api->train_step(m, b[i].t, b[i].n, &losses[i]));
  /* A frozen parameter keeps its value bit for bit, momentum or not. */
  OK(m, api->read_state(m, "fc.weight", w2, sizeof w2));
  CHECK(memcmp(w1, w2, sizeof w1) == 0);
  write_grads(m, "grads");
  write_losses(losses, 3);
  save_all(m, "state", "optim");
  api->destroy(m);
  free_batches(b, 3);
}

static const char *const OPT_RESUME = "{\"lr\": 0.01, \"weight_decay\": 0.1, \"amsgrad\": true}";

static void resume(void) {
  const char *files[3] = {"cnn_bn.step0.inputs.safetensors", "cnn_bn.step1.inputs.safetensors",
                          "cnn_bn.step2.inputs.safetensors"};
  float losses[4], resumed_losses[4];
  /* 2 steps, saved. */
  modelc_model *a = new_model("cnn_bn.state.safetensors");
  batch b[3] = {load_batch(a, files[0]), load_batch(a, files[1]), load_batch(a, files[2])};
  OK(a, api->set_optimizer(a, "adamw", OPT_RESUME));
  for (int i = 0; i < 2; ++i)
    OK(a, api->train_step(a, b[i].t, b[i].n, &resumed_losses[i]));
  save_all(a, "step2.state", "step2.optim");
  api->destroy(a);
  /* A fresh model (another seed) loads both and takes steps 2 and 3. */
  modelc_model *r = api->create("cpu", 12345);
  CHECK(r);
  char st[4096], op[4096];
  snprintf(st, sizeof st, "%s", outp("step2.state"));
  snprintf(op, sizeof op, "%s", outp("step2.optim"));
  OK(r, api->load_state(r, st, 1));
  OK(r, api->load_optimizer_state(r, op));
  OK(r, api->set_training(r, 1));
  for (int i = 2; i < 4; ++i)
    OK(r, api->train_step(r, b[i % 3].t, b[i % 3].n, &resumed_losses[i]));
  save_all(r, "resumed.state", "resumed.optim");
  api->destroy(r);
  /* 4 steps straight. */
  modelc_model *s = new_model("cnn_bn.state.safetensors");
  OK(s, api->set_optimizer(s, "adamw", OPT_RESUME));
  for (int i = 0; i < 4; ++i)
    OK(s, api->train_step(s, b[i % 3].t, b[i % 3].n, &losses[i]));
  for (int i = 0; i < 4; ++i)
    CHECK(memcmp(&losses[i], &resumed_losses[i], sizeof(float)) == 0);
  write_grads(s, "grads");
  write_losses(losses, 4);
  save_all(s, "state", "optim");
  api->destroy(s);
  free_batches(b, 3);
}

/* cnn_bn in training mode: forward_backward(x, g) = y = model(x);
 * y.backward(g). First with a cotangent of the wrong batch size, which must
 * fail and change nothing, then with the right one. */
static void fb(void) {
  modelc_model *m = new_model("cnn_bn.state.safetensors");
  st_file f = st_open(fix("cnn_bn.fb.inputs.safetensors"));
  modelc_tensor x = st_get(&f, "x", 0), g = st_get(&f, "g", 1);
  void *before = NULL, *after = NULL;
  size_t nbefore = 0, nafter = 0;
  OK(m, api->save_state_to_memory(m, &before, &nbefore));
  modelc_tensor half = g;
  int64_t halfShape[2] = {g.shape[0] / 2, g.shape[1]};
  half.shape = halfShape;
  CHECK(api->forward_backward(m, &x, 1, &half, 1) == -1);
  printf("wrong cotangent: %s\n", api->last_error(m));
  OK(m, api->save_state_to_memory(m, &after, &nafter));
  CHECK(nbefore == nafter && !memcmp(before, after, nbefore));
  api->free_buffer(after);
  api->free_buffer(before);
  OK(m, api->forward_backward(m, &x, 1, &g, 1));
  modelc_tensor y;
  OK(m, api->get_output(m, 0, &y));
  const char *names[1] = {"output"};
  float *data[1] = {(float *)y.data};
  const int64_t *shapes[1] = {y.shape};
  int32_t ranks[1] = {y.rank};
  st_write(outp("out"), 1, names, data, shapes, ranks);
  write_grads(m, "grads");
  OK(m, api->save_state(m, outp("state")));
  api->destroy(m);
  st_close(&f);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: train_abi accum|schedule|freeze|resume|fb model.so FIXTURES OUT\n");
    return 2;
  }
  void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  api = ((modelc_model_entry_fn)dlsym(h, "modelc_model_entry"))();
  fixdir = argv[3];
  out = argv[4];
  if (!strcmp(argv[1], "accum"))
    accum();
  else if (!strcmp(argv[1], "schedule"))
    schedule();
  else if (!strcmp(argv[1], "freeze"))
    freeze();
  else if (!strcmp(argv[1], "resume"))
    resume();
  else if (!strcmp(argv[1], "fb"))
    fb();
  else
    return 2;
  puts("OK");
  return 0;
}
