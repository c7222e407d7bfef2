/*
 * A hand-written stand-in for the code modelc generates, used to test the
 * runtime: it defines the three hidden symbols of docs/ABI.md and implements
 * the packed calling convention by hand.
 *
 *   model Fake {
 *     param  scale: f32[] = 2            (state_dict order: own entries,
 *     buffer count: i64[] = 0             then the child `lin`)
 *     lin.weight: f32[3, 2] = uniform(-0.5, 0.5)     parameter
 *     lin.bias:   f32[3]    = normal(0, 1)           parameter
 *     lin.calls:  f32[1]    = 0                      non-persistent buffer
 *     lin.half:   f16[2]    = 1.5                    buffer
 *     forward(x: f32[N, 2]) -> (y: f32[N, 3], count: i64[], yT: f32[3, N], x)
 *       y = scale * (x @ lin.weight^T + lin.bias)
 *       training: count += 1; lin.calls += 1
 *   }
 *
 * The four results exercise the ownership rules: y is malloc'ed, count
 * aliases a state, yT is a strided view of y's allocation (freed once) and
 * the last one aliases the input.
 */
#include <stdint.h>
#include <stdlib.h>

#define HIDDEN __attribute__((visibility("hidden")))

#ifdef FAKE_BAD_DESC
HIDDEN const char modelc_generated_desc[] =
    "{\"name\":\"Fake\",\"prefix\":\"Fake\",\"states\":[{\"name\":\"w\","
    "\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[2],\"init\":"
    "\"kaiming\",\"init_args\":[]}],\"inputs\":[],\"outputs\":[]}";
#else
HIDDEN const char modelc_generated_desc[] =
    "{\"name\":\"Fake\",\"prefix\":\"Fake\",\"states\":["
    "{\"name\":\"scale\",\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[],"
    "\"init\":\"full\",\"init_args\":[2]},"
    "{\"name\":\"count\",\"kind\":\"buffer\",\"dtype\":\"I64\",\"shape\":[],"
    "\"init\":\"full\",\"init_args\":[0]},"
    "{\"name\":\"lin.weight\",\"kind\":\"parameter\",\"dtype\":\"F32\","
    "\"shape\":[3,2],\"init\":\"uniform\",\"init_args\":[-0.5,0.5]},"
    "{\"name\":\"lin.bias\",\"kind\":\"parameter\",\"dtype\":\"F32\","
    "\"shape\":[3],\"init\":\"normal\",\"init_args\":[0,1]},"
    "{\"name\":\"lin.calls\",\"kind\":\"nonpersistent_buffer\",\"dtype\":"
    "\"F32\",\"shape\":[1],\"init\":\"full\",\"init_args\":[0]},"
    "{\"name\":\"lin.half\",\"kind\":\"buffer\",\"dtype\":\"F16\","
    "\"shape\":[2],\"init\":\"full\",\"init_args\":[1.5]}],"
    "\"inputs\":[{\"name\":\"x\",\"dtype\":\"F32\",\"shape\":[-1,2]}],"
    "\"outputs\":[{\"dtype\":\"F32\",\"shape\":[-1,3]},"
    "{\"dtype\":\"I64\",\"shape\":[]},"
    "{\"dtype\":\"F32\",\"shape\":[3,-1]},"
    "{\"dtype\":\"F32\",\"shape\":[-1,2]}]}";
#endif

/* MLIR memref descriptors of rank 0, 1 and 2. */
typedef struct { void *allocated, *aligned; int64_t offset; } Memref0;
typedef struct {
  void *allocated, *aligned;
  int64_t offset, sizes[1], strides[1];
} Memref1;
typedef struct {
  void *allocated, *aligned;
  int64_t offset, sizes[2], strides[2];
} Memref2;

/* The results struct: the outputs' descriptors back to back. */
typedef struct {
  Memref2 y;
  Memref0 count;
  Memref2 yT;
  Memref2 x;
} Results;

static float *f32At(const Memref2 *m, int64_t i, int64_t j) {
  return (float *)m->aligned + m->offset + i * m->strides[0] + j * m->strides[1];
}

static void forward(void **args, int training) {
  Results *results = (Results *)args[0];
  Memref0 *scale = (Memref0 *)args[1];
  Memref0 *count = (Memref0 *)args[2];
  Memref2 *weight = (Memref2 *)args[3];
  Memref1 *bias = (Memref1 *)args[4];
  Memref1 *calls = (Memref1 *)args[5];
  /* args[6] is lin.half: unused by the computation. */
  Memref2 *x = (Memref2 *)args[7];

  int64_t n = x->sizes[0];
  float s = *((float *)scale->aligned + scale->offset);
  float *y = (float *)malloc((size_t)(n > 0 ? n : 1) * 3 * sizeof(float));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      float acc = ((float *)bias->aligned)[bias->offset + j * bias->strides[0]];
      for (int64_t k = 0; k < 2; ++k)
        acc += *f32At(x, i, k) * *f32At(weight, j, k);
      y[i * 3 + j] = s * acc;
    }
  if (training) {
    ((int64_t *)count->aligned)[count->offset] += 1;
    ((float *)calls->aligned)[calls->offset] += 1;
  }

  Memref2 yDesc = {y, y, 0, {n, 3}, {3, 1}};
  Memref2 yTDesc = {y, y, 0, {3, n}, {1, 3}};
  results->y = yDesc;
  results->count = *count;
  results->yT = yTDesc;
  results->x = *x;
}

HIDDEN void modelc_generated_forward_eval(void **args) { forward(args, 0); }
HIDDEN void modelc_generated_forward_train(void **args) { forward(args, 1); }

/* No state dict compiled in (modelc --weights). */
HIDDEN const unsigned char modelc_generated_weights[1] = {0};
HIDDEN const uint64_t modelc_generated_weights_size = 0;
