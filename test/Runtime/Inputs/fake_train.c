/*
 * A hand-written stand-in for the code modelc generates for a model with a
 * `loss` method (docs/ABI.md, "Training"), to test the runtime's training
 * without the compiler:
 *
 *   model FakeTrain {
 *     lin.weight: f32[2, 3] = uniform(-0.5, 0.5)    parameter
 *     lin.bias:   f32[2]    = 0.25                  parameter
 *     temp:       f32[]     = 2                     param(requires_grad=false)
 *     calls:      i64[]     = 0                     buffer: training calls
 *     forward(x: f32[N, 3]) -> f32[N, 2]  { (x @ lin.weight^T + lin.bias) / temp }
 *     loss(x: f32[N, 3], y: f32[N, 2]) -> f32[] { mse_loss(forward(x), y) }
 *   }
 *
 * The gradients come back as the generated code may return them: those of
 * the weight and the bias share one allocation of the runtime's heap (freed
 * once), that of the frozen temp is a constant (MLIR's 0xdeadbeef marker).
 * A batch of more than 100 rows fails a shape check after the buffer was
 * counted, as a size known only at run time may: the runtime must then
 * change nothing. With -DFAKE_CUDA it also has CUDA entries
 * (see below).
 */
#include <stdint.h>

#define HIDDEN __attribute__((visibility("hidden")))

HIDDEN const char modelc_generated_desc[] =
    "{\"name\":\"FakeTrain\",\"prefix\":\"FakeTrain\",\"source\":\"fake.mdl\","
    "\"shape_checks\":true,\"states\":["
    "{\"name\":\"lin.weight\",\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[2,3],"
    "\"init\":\"uniform\",\"init_args\":[-0.5,0.5]},"
    "{\"name\":\"lin.bias\",\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[2],"
    "\"init\":\"full\",\"init_args\":[0.25]},"
    "{\"name\":\"temp\",\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[],"
    "\"init\":\"full\",\"init_args\":[2],\"requires_grad\":false},"
    "{\"name\":\"calls\",\"kind\":\"buffer\",\"dtype\":\"I64\",\"shape\":[],"
    "\"init\":\"full\",\"init_args\":[0]}],"
    "\"inputs\":[{\"name\":\"x\",\"dtype\":\"F32\",\"shape\":[-1,3],\"dims\":[\"N\",null]}],"
    "\"outputs\":[{\"dtype\":\"F32\",\"shape\":[-1,2]}],"
    "\"loss_inputs\":[{\"name\":\"x\",\"dtype\":\"F32\",\"shape\":[-1,3],\"dims\":[\"N\",null]},"
    "{\"name\":\"y\",\"dtype\":\"F32\",\"shape\":[-1,2],\"dims\":[\"N\",null]}]}";

typedef struct { void *allocated, *aligned; int64_t offset; } Memref0;
typedef struct { void *allocated, *aligned; int64_t offset, sizes[1], strides[1]; } Memref1;
typedef struct { void *allocated, *aligned; int64_t offset, sizes[2], strides[2]; } Memref2;

void *_mlir_memref_to_llvm_alloc(uint64_t size);
void modelc_shape_check_failed(int64_t line, int64_t column, int64_t a, int64_t b,
                               int64_t kind);

static const float kZero = 0.0f;

/* pred (n x 2) of rows x. */
static void predict(void **args, const Memref2 *x, float *pred) {
  const float *w = (const float *)((Memref2 *)args[1])->aligned;
  const float *b = (const float *)((Memref1 *)args[2])->aligned;
  float t = *(const float *)((Memref0 *)args[3])->aligned;
  const float *xs = (const float *)x->aligned;
  for (int64_t i = 0; i < x->sizes[0]; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      float acc = b[j];
      for (int64_t k = 0; k < 3; ++k)
        acc += xs[i * 3 + k] * w[j * 3 + k];
      pred[i * 2 + j] = acc / t;
    }
}

static void forwardWith(void **args, int training, void *(*alloc)(uint64_t)) {
  Memref2 *x = (Memref2 *)args[5];
  int64_t n = x->sizes[0];
  float *y = (float *)alloc((uint64_t)(n > 0 ? n : 1) * 2 * sizeof(float));
  predict(args, x, y);
  if (training)
    *(int64_t *)((Memref0 *)args[4])->aligned += 1;
  Memref2 out = {y, y, 0, {n, 2}, {2, 1}};
  *(Memref2 *)args[0] = out;
}

static void forward(void **args, int training) {
  forwardWith(args, training, _mlir_memref_to_llvm_alloc);
}

HIDDEN void modelc_generated_forward_eval(void **args) { forward(args, 0); }
HIDDEN void modelc_generated_forward_train(void **args) { forward(args, 1); }

/* The results of loss_backward. */
typedef struct {
  Memref0 loss;
  Memref2 dweight;
  Memref1 dbias;
  Memref0 dtemp;
} LossResults;

static void lossBackwardWith(void **args, int training, void *(*alloc)(uint64_t)) {
  Memref2 *x = (Memref2 *)args[5], *y = (Memref2 *)args[6];
  int64_t n = x->sizes[0];
  float t = *(const float *)((Memref0 *)args[3])->aligned;
  /* One block: the loss, the weight's gradient (6), the bias's (2). */
  float *block = (float *)alloc(9 * sizeof(float));
  float *dw = block + 1, *db = block + 7;
  float pred[2 * 100];
  const float *xs = (const float *)x->aligned, *ys = (const float *)y->aligned;
  if (training)
    *(int64_t *)((Memref0 *)args[4])->aligned += 1;
  if (n > 100) {
    modelc_shape_check_failed(9, 5, n, 100, 2);
    n = 0;
  }
  if (n > 0) /* (pred holds 100 rows) */
    predict(args, x, pred);
  float loss = 0;
  for (int k = 0; k < 8; ++k)
    block[1 + k] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      float r = pred[i * 2 + j] - ys[i * 2 + j];
      loss += r * r;
      float g = 2 * r / (float)(2 * n) / t; /* d loss / d (x w^T + b) */
      for (int64_t k = 0; k < 3; ++k)
        dw[j * 3 + k] += g * xs[i * 3 + k];
      db[j] += g;
    }
  block[0] = n > 0 ? loss / (float)(2 * n) : 0;
  LossResults *results = (LossResults *)args[0];
  Memref0 l = {block, block, 0};
  Memref2 w = {block, block, 1, {2, 3}, {3, 1}};
  Memref1 b = {block, block, 7, {2}, {1}};
  Memref0 z = {(void *)0xdeadbeef, (void *)&kZero, 0};
  results->loss = l;
  results->dweight = w;
  results->dbias = b;
  results->dtemp = z;
}

static void lossBackward(void **args, int training) {
  lossBackwardWith(args, training, _mlir_memref_to_llvm_alloc);
}

/* The results of forward_backward (modelc --forward-backward). */
typedef struct {
  Memref2 out;
  Memref2 dweight;
  Memref1 dbias;
  Memref0 dtemp;
} ForwardBackwardResults;

/* forward on x, then the vector-Jacobian product with g (n x 2). */
static void forwardBackwardWith(void **args, int training, void *(*alloc)(uint64_t)) {
  Memref2 *x = (Memref2 *)args[5], *g = (Memref2 *)args[6];
  int64_t n = x->sizes[0];
  float t = *(const float *)((Memref0 *)args[3])->aligned;
  float *out = (float *)alloc((uint64_t)(n > 0 ? n : 1) * 2 * sizeof(float));
  float *grads = (float *)alloc(8 * sizeof(float));
  const float *xs = (const float *)x->aligned, *gs = (const float *)g->aligned;
  predict(args, x, out);
  if (training)
    *(int64_t *)((Memref0 *)args[4])->aligned += 1;
  for (int k = 0; k < 8; ++k)
    grads[k] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      for (int64_t k = 0; k < 3; ++k)
        grads[j * 3 + k] += gs[i * 2 + j] / t * xs[i * 3 + k];
      grads[6 + j] += gs[i * 2 + j] / t;
    }
  ForwardBackwardResults *results = (ForwardBackwardResults *)args[0];
  Memref2 o = {out, out, 0, {n, 2}, {2, 1}};
  Memref2 w = {grads, grads, 0, {2, 3}, {3, 1}};
  Memref1 b = {grads, grads, 6, {2}, {1}};
  Memref0 z = {(void *)0xdeadbeef, (void *)&kZero, 0};
  results->out = o;
  results->dweight = w;
  results->dbias = b;
  results->dtemp = z;
}

HIDDEN void modelc_generated_forward_backward_eval(void **args) {
  forwardBackwardWith(args, 0, _mlir_memref_to_llvm_alloc);
}
HIDDEN void modelc_generated_forward_backward_train(void **args) {
  forwardBackwardWith(args, 1, _mlir_memref_to_llvm_alloc);
}

HIDDEN void modelc_generated_loss_backward_eval(void **args) { lossBackward(args, 0); }
HIDDEN void modelc_generated_loss_backward_train(void **args) { lossBackward(args, 1); }

#ifdef FAKE_CUDA
/*
 * The CUDA entries of forward, loss_backward and forward_backward (with -DFAKE_CUDA, for the fake driver
 * fake_libcuda.c, whose device memory is host memory): every pointer in
 * args is device memory, and the results' block is allocated as the code
 * of `modelc --target=cuda` allocates, through the runtime's mgpuMemAlloc.
 * The arithmetic is the CPU entries', so that a model trained on the
 * "device" must equal one trained on the CPU bit for bit.
 */
#include <stdbool.h>
HIDDEN void *mgpuMemAlloc(uint64_t size, void *stream, bool hostShared);
HIDDEN void *mgpuStreamCreate(void);
HIDDEN void mgpuStreamSynchronize(void *stream);
HIDDEN void mgpuStreamDestroy(void *stream);

static void *stream;
static void *deviceAlloc(uint64_t size) { return mgpuMemAlloc(size, stream, false); }

static void cudaForward(void **args, int training) {
  stream = mgpuStreamCreate();
  forwardWith(args, training, deviceAlloc);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}

HIDDEN void modelc_generated_cuda_forward_eval(void **args) { cudaForward(args, 0); }
HIDDEN void modelc_generated_cuda_forward_train(void **args) { cudaForward(args, 1); }

static void cudaLossBackward(void **args, int training) {
  stream = mgpuStreamCreate();
  lossBackwardWith(args, training, deviceAlloc);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}

HIDDEN void modelc_generated_cuda_loss_backward_eval(void **args) { cudaLossBackward(args, 0); }
HIDDEN void modelc_generated_cuda_loss_backward_train(void **args) { cudaLossBackward(args, 1); }

static void cudaForwardBackward(void **args, int training) {
  stream = mgpuStreamCreate();
  forwardBackwardWith(args, training, deviceAlloc);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
}

HIDDEN void modelc_generated_cuda_forward_backward_eval(void **args) {
  cudaForwardBackward(args, 0);
}
HIDDEN void modelc_generated_cuda_forward_backward_train(void **args) {
  cudaForwardBackward(args, 1);
}
#endif

HIDDEN const unsigned char modelc_generated_weights[1] = {0};
HIDDEN const uint64_t modelc_generated_weights_size = 0;
