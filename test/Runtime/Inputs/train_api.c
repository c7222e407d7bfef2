/* The training ABI on Inputs/fake_train.c (a model with a loss) and
 * Inputs/fake_model.c (one without): gradients accumulate until zero_grad,
 * step skips parameters without a gradient, frozen parameters get none,
 * failures change nothing. Usage: train_api train.so plain.so */
#include "modelc/modelc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "line %d: %s failed: %s\n", __LINE__, #cond,            \
              api->last_error(m));                                             \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static const modelc_api *open_api(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "%s\n", dlerror());
    exit(1);
  }
  return ((modelc_model_entry_fn)dlsym(h, "modelc_model_entry"))();
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  const modelc_api *api = open_api(argv[1]);
  modelc_model *m = api->create("cpu", 0);
  CHECK(m);
  float x[6] = {1, 2, 3, 4, 5, 6}, y[4] = {1, 0, 0, 1};
  int64_t xs[2] = {2, 3}, ys[2] = {2, 2};
  modelc_tensor in[2] = {{x, MODELC_F32, 2, xs}, {y, MODELC_F32, 2, ys}};
  float w0[6], w[6], g1[6], g2[6], b[2], loss = 0;

  CHECK(api->num_loss_inputs(m) == 2);
  size_t off = 1;
  CHECK(api->grad_offset(m, "lin.bias", &off) == 0 && off == 64);
  void *block;
  size_t nbytes;
  CHECK(api->grad_buffer(m, &block, &nbytes) == 0 && nbytes == 192 &&
        ((size_t)block % 64) == 0);

  /* Accumulation: two backward calls give twice the gradient. */
  CHECK(api->loss_backward(m, in, 2, &loss) == 0 && loss > 0);
  CHECK(api->read_grad(m, "lin.weight", g1, sizeof g1) == 0);
  CHECK(api->loss_backward(m, in, 2, NULL) == 0);
  CHECK(api->read_grad(m, "lin.weight", g2, sizeof g2) == 0);
  for (int i = 0; i < 6; ++i)
    CHECK(g2[i] == g1[i] + g1[i]);
  CHECK(memcmp((char *)block, g2, sizeof g2) == 0);
  CHECK(api->zero_grad(m) == 0);
  CHECK(api->read_grad(m, "lin.weight", g2, sizeof g2) == 0 && g2[0] == 0);

  /* step without an optimizer; then SGD skips parameters without grad. */
  CHECK(api->step(m) == -1 && strstr(api->last_error(m), "no optimizer yet"));
  CHECK(api->set_optimizer(m, "sgd", "{\"lr\": 0.5}") == 0);
  CHECK(api->read_state(m, "lin.weight", w0, sizeof w0) == 0);
  float fake[2] = {1, 1};
  CHECK(api->write_grad(m, "lin.bias", fake, sizeof fake) == 0);
  CHECK(api->read_state(m, "lin.bias", b, sizeof b) == 0);
  CHECK(api->step(m) == 0);
  CHECK(api->read_state(m, "lin.weight", w, sizeof w) == 0 && memcmp(w, w0, sizeof w) == 0);
  float b2[2];
  CHECK(api->read_state(m, "lin.bias", b2, sizeof b2) == 0 && b2[0] == b[0] - 0.5f);

  /* Freezing: no gradient from backward. */
  CHECK(api->zero_grad(m) == 0);
  CHECK(api->requires_grad(m, "temp") == 0 && api->requires_grad(m, "lin.weight") == 1);
  CHECK(api->set_requires_grad(m, "lin.weight", 0) == 0);
  CHECK(api->loss_backward(m, in, 2, NULL) == 0);
  CHECK(api->read_grad(m, "lin.weight", g2, sizeof g2) == 0 && g2[0] == 0 && g2[5] == 0);
  CHECK(api->set_requires_grad(m, "lin.weight", 1) == 0);
  CHECK(api->set_requires_grad(m, "calls", 1) == -1 &&
        strstr(api->last_error(m), "'calls' is a buffer, not a parameter"));

  /* Errors name what is at fault and change nothing. */
  CHECK(api->loss_backward(m, in, 1, NULL) == -1 &&
        strstr(api->last_error(m), "loss_backward takes 2 inputs (x, y), got 1"));
  int64_t bad[2] = {3, 2};
  modelc_tensor wrong[2] = {in[0], {y, MODELC_F32, 2, bad}};
  CHECK(api->loss_backward(m, wrong, 2, NULL) == -1 &&
        strstr(api->last_error(m), "input 'y' has size 3 in dimension 0 (N)"));
  CHECK(api->set_optimizer(m, "adam", "{\"lr\": 0.1, \"nesterov\": true}") == -1 &&
        strstr(api->last_error(m), "option 'nesterov' is not an option of adam"));
  CHECK(api->set_optimizer(m, "adam", "{\"lr\": 0.1, \"bogus\": 1}") == -1 &&
        strstr(api->last_error(m), "unknown option 'bogus'"));
  CHECK(api->set_optimizer(m, "adam", "{\"betas\": [0.9]}") == -1 &&
        strstr(api->last_error(m), "'betas' must be an array of two numbers"));
  CHECK(api->set_optimizer(m, "rmsprop", NULL) == -1 &&
        strstr(api->last_error(m), "unknown optimizer 'rmsprop'"));
  CHECK(api->set_hyperparameter(m, "eps", 1e-3) == -1 &&
        strstr(api->last_error(m), "'eps' is not a hyperparameter of sgd"));
  CHECK(api->set_hyperparameter(m, "lr", -1) == -1 &&
        strstr(api->last_error(m), "Invalid learning rate: -1"));
  CHECK(api->set_hyperparameter(m, "lr", 0.25) == 0);
  CHECK(api->forward_backward(m, in, 1, NULL, 0) == -1);

  /* Optimizer state: save, then a corrupt file changes nothing. */
  CHECK(api->set_optimizer(m, "adam", NULL) == 0);
  CHECK(api->train_step(m, in, 2, &loss) == 0);
  void *saved;
  size_t size;
  CHECK(api->save_optimizer_state_to_memory(m, &saved, &size) == 0);
  char *copy = malloc(size);
  memcpy(copy, saved, size);
  char *key = memmem(copy, size, "lin.bias.exp_avg_sq", 19);
  CHECK(key != NULL);
  memcpy(key, "lin.bias.exp_avg_sX", 19);
  CHECK(api->load_optimizer_state_from_memory(m, copy, size) == -1 &&
        strstr(api->last_error(m), "key 'lin.bias.exp_avg_sX': adam keeps no state 'exp_avg_sX'"));
  void *again;
  size_t size2;
  CHECK(api->save_optimizer_state_to_memory(m, &again, &size2) == 0);
  CHECK(size2 == size && memcmp(again, saved, size) == 0);
  CHECK(api->load_optimizer_state_from_memory(m, saved, size) == 0);
  api->free_buffer(saved);
  api->free_buffer(again);
  free(copy);
  api->destroy(m);

  /* A model without loss. */
  const modelc_api *plain = open_api(argv[2]);
  api = plain;
  m = plain->create("cpu", 0);
  CHECK(m);
  CHECK(plain->num_loss_inputs(m) == -1);
  CHECK(plain->loss_backward(m, in, 2, NULL) == -1 &&
        strcmp(plain->last_error(m), "loss_backward: the model has no loss method") == 0);
  CHECK(plain->set_optimizer(m, "sgd", NULL) == -1 &&
        strstr(plain->last_error(m), "the model has no loss method"));
  plain->destroy(m);
  puts("ALL OK");
  return 0;
}
