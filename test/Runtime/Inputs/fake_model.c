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
 * The four results exercise the ownership rules: y is allocated as the
 * generated code allocates (from the runtime's heap, runtime/src/Alloc.h), count
 * aliases a state, yT is a strided view of y's allocation (freed once) and
 * the last one aliases the input.
 *
 * With -DFAKE_CUDA it also defines the CUDA entries (see below), for the
 * runtime's CUDA tests with the fake driver fake_libcuda.c.
 */
#include <stdint.h>
#include <stdlib.h>

#define HIDDEN __attribute__((visibility("hidden")))

#ifdef FAKE_BAD_DESC
HIDDEN const char modelc_generated_desc[] =
    "{\"name\":\"Fake\",\"prefix\":\"Fake\",\"states\":[{\"name\":\"w\","
    "\"kind\":\"parameter\",\"dtype\":\"F32\",\"shape\":[2],\"init\":"
    "\"kaiming\",\"init_args\":[]}],\"inputs\":[],\"outputs\":[]}";
#elif defined(FAKE_BAD_DIMS)
HIDDEN const char modelc_generated_desc[] =
    "{\"name\":\"Fake\",\"prefix\":\"Fake\",\"states\":[],\"inputs\":[{\"name\":\"x\","
    "\"dtype\":\"F32\",\"shape\":[-1,2],\"dims\":[\"N\",\"K\"]}],\"outputs\":[]}";
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

/* Computes y (n x 3, dense) and, in training, updates the buffers. */
static void compute(void **args, int training, float *y) {
  Memref0 *scale = (Memref0 *)args[1];
  Memref0 *count = (Memref0 *)args[2];
  Memref2 *weight = (Memref2 *)args[3];
  Memref1 *bias = (Memref1 *)args[4];
  Memref1 *calls = (Memref1 *)args[5];
  /* args[6] is lin.half: unused by the computation. */
  Memref2 *x = (Memref2 *)args[7];

  int64_t n = x->sizes[0];
  float s = *((float *)scale->aligned + scale->offset);
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
}

/* The results: y, the count buffer, y transposed (a view of y's
 * allocation) and x. */
static void setResults(void **args, float *y) {
  Results *results = (Results *)args[0];
  Memref0 *count = (Memref0 *)args[2];
  Memref2 *x = (Memref2 *)args[7];
  int64_t n = x->sizes[0];
  Memref2 yDesc = {y, y, 0, {n, 3}, {3, 1}};
  Memref2 yTDesc = {y, y, 0, {3, n}, {1, 3}};
  results->y = yDesc;
  results->count = *count;
  results->yT = yTDesc;
  results->x = *x;
}

/* The runtime's heap, which compiled code allocates from. */
void *_mlir_memref_to_llvm_alloc(uint64_t size);

static void forward(void **args, int training) {
  int64_t n = ((Memref2 *)args[7])->sizes[0];
  float *y = (float *)_mlir_memref_to_llvm_alloc((uint64_t)(n > 0 ? n : 1) * 3 * sizeof(float));
  compute(args, training, y);
  setResults(args, y);
}

HIDDEN void modelc_generated_forward_eval(void **args) { forward(args, 0); }
HIDDEN void modelc_generated_forward_train(void **args) { forward(args, 1); }

#ifdef FAKE_CUDA
/*
 * The CUDA entries, as `modelc --target=cuda` host code would call the
 * runtime's mgpu* functions: every pointer in args is device memory. The
 * fake driver (fake_libcuda.c) keeps device memory on the host and runs
 * "modelc_fake_host_kernel" by calling its first parameter, so the kernel
 * here is compute() itself.
 */
#include <stdbool.h>
#include <stddef.h>
HIDDEN void *mgpuModuleLoad(void *data, size_t size);
HIDDEN void mgpuModuleUnload(void *module);
HIDDEN void *mgpuModuleGetFunction(void *module, const char *name);
HIDDEN void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy,
                             intptr_t gz, intptr_t bx, intptr_t by,
                             intptr_t bz, int32_t smem, void *stream,
                             void **params, void **extra, size_t nparams);
HIDDEN void *mgpuStreamCreate(void);
HIDDEN void mgpuStreamSynchronize(void *stream);
HIDDEN void mgpuStreamDestroy(void *stream);
HIDDEN void *mgpuEventCreate(void);
HIDDEN void mgpuEventRecord(void *event, void *stream);
HIDDEN void mgpuEventSynchronize(void *event);
HIDDEN void mgpuEventDestroy(void *event);
HIDDEN void mgpuStreamWaitEvent(void *stream, void *event);
HIDDEN void *mgpuMemAlloc(uint64_t size, void *stream, bool hostShared);
HIDDEN void mgpuMemFree(void *ptr, void *stream);
HIDDEN void mgpuMemcpy(void *dst, void *src, size_t size, void *stream);
HIDDEN void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
HIDDEN void mgpuMemset16(void *dst, unsigned short value, size_t count,
                         void *stream);

static const char kernelsBinary[] = "not really a fatbinary";
static void *kernels;

/* As MLIR's gpu-to-llvm does: load at dlopen, unload at dlclose. */
__attribute__((constructor)) static void loadKernels(void) {
  kernels = mgpuModuleLoad((void *)kernelsBinary, sizeof kernelsBinary);
}
__attribute__((destructor)) static void unloadKernels(void) {
  mgpuModuleUnload(kernels);
}

struct KernelArgs {
  void **args;
  int training;
  float *y;
};

static void kernel(void *p) {
  struct KernelArgs *k = (struct KernelArgs *)p;
  compute(k->args, k->training, k->y);
}

static void cudaForward(void **args, int training) {
  int64_t n = ((Memref2 *)args[7])->sizes[0];
  void *stream = mgpuStreamCreate();
  /* Scratch memory, set, copied and freed within the call. */
  char *scratch = (char *)mgpuMemAlloc(16, stream, false);
  mgpuMemset32(scratch, 7, 2, stream);
  mgpuMemset16(scratch + 8, 7, 4, stream);
  mgpuMemcpy(scratch + 8, scratch, 8, stream);
  void *event = mgpuEventCreate();
  mgpuEventRecord(event, stream);
  mgpuStreamWaitEvent(stream, event);
  mgpuEventSynchronize(event);
  mgpuEventDestroy(event);
  mgpuMemFree(scratch, stream);

  float *y = (float *)mgpuMemAlloc((uint64_t)n * 3 * sizeof(float), stream,
                                   false); /* NULL when n == 0 */
  void *function = mgpuModuleGetFunction(kernels, "modelc_fake_host_kernel");
  void (*body)(void *) = kernel;
  struct KernelArgs k = {args, training, y};
  void *kp = &k;
  void *params[2] = {&body, &kp};
  mgpuLaunchKernel(function, n > 0 ? n : 1, 1, 1, 3, 1, 1, 0, stream, params,
                   NULL, 2);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  setResults(args, y);
}

HIDDEN void modelc_generated_cuda_forward_eval(void **args) {
  cudaForward(args, 0);
}
HIDDEN void modelc_generated_cuda_forward_train(void **args) {
  cudaForward(args, 1);
}
#endif

/* No state dict compiled in (modelc --weights). */
HIDDEN const unsigned char modelc_generated_weights[1] = {0};
HIDDEN const uint64_t modelc_generated_weights_size = 0;
