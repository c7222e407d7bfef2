/*
 * A fake CUDA driver, built by the tests as libcuda.so.1 and found through
 * LD_LIBRARY_PATH, to test the runtime's CUDA side without a GPU: "device"
 * memory is host memory, and the only kernel it can run is
 * "modelc_fake_host_kernel", whose first parameter is a host function and
 * second its argument (test/Runtime/Inputs/fake_model.c with -DFAKE_CUDA).
 * Any other kernel fails to launch with CUDA_ERROR_NOT_SUPPORTED.
 *
 * It is strict where the real driver is: memory calls need a current
 * context, frees and copies must name live allocations (a bad one is
 * counted, see fake_cuda_bad_calls). The environment changes it, read at
 * each call:
 *   FAKE_CUDA_DEVICES=N        the device count (default 2)
 *   FAKE_CUDA_INIT_ERROR=1     cuInit fails with CUDA_ERROR_NO_DEVICE
 *   FAKE_CUDA_LAUNCH_ERROR=1   every launch fails, CUDA_ERROR_LAUNCH_FAILED
 *   FAKE_CUDA_MEM_LIMIT=B      allocations fail past B live bytes
 * and the tests query it with fake_cuda_live_allocations(),
 * fake_cuda_live_bytes() and fake_cuda_bad_calls().
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

#define EXPORT __attribute__((visibility("default")))

enum {
  SUCCESS = 0,
  INVALID_VALUE = 1,
  OUT_OF_MEMORY = 2,
  NOT_INITIALIZED = 3,
  NO_DEVICE = 100,
  INVALID_DEVICE = 101,
  INVALID_CONTEXT = 201,
  INVALID_HANDLE = 400,
  NOT_FOUND = 500,
  LAUNCH_FAILED = 719,
  NOT_SUPPORTED = 801
};

static const struct {
  CUresult code;
  const char *name, *text;
} kErrors[] = {
    {SUCCESS, "CUDA_SUCCESS", "no error"},
    {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
};

static long long envNumber(const char *name, long long fallback) {
  const char *v = getenv(name);
  return v && *v ? atoll(v) : fallback;
}

static int initialized;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* One context per device; the current one per thread. */
#define MAX_DEVICES 16
static struct Context { int device; } contexts[MAX_DEVICES];
static __thread struct Context *current;

/* Live allocations, and the calls that named no live allocation. */
struct Allocation {
  struct Allocation *next;
  char *data;
  size_t size;
};
static struct Allocation *allocations;
static size_t liveBytes;
static int liveCount, badCalls;

EXPORT int fake_cuda_live_allocations(void) { return liveCount; }
EXPORT long long fake_cuda_live_bytes(void) { return (long long)liveBytes; }
EXPORT int fake_cuda_bad_calls(void) { return badCalls; }

static int numDevices(void) {
  long long n = envNumber("FAKE_CUDA_DEVICES", 2);
  return n < 0 ? 0 : n > MAX_DEVICES ? MAX_DEVICES : (int)n;
}

EXPORT CUresult cuInit(unsigned flags) {
  if (flags != 0)
    return INVALID_VALUE;
  if (envNumber("FAKE_CUDA_INIT_ERROR", 0))
    return NO_DEVICE;
  initialized = 1;
  return SUCCESS;
}

EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  for (size_t i = 0; i < sizeof kErrors / sizeof kErrors[0]; ++i)
    if (kErrors[i].code == error) {
      *name = kErrors[i].name;
      return SUCCESS;
    }
  *name = NULL;
  return INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  for (size_t i = 0; i < sizeof kErrors / sizeof kErrors[0]; ++i)
    if (kErrors[i].code == error) {
      *text = kErrors[i].text;
      return SUCCESS;
    }
  *text = NULL;
  return INVALID_VALUE;
}

EXPORT CUresult cuDeviceGetCount(int *count) {
  if (!initialized)
    return NOT_INITIALIZED;
  *count = numDevices();
  return SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (!initialized)
    return NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= numDevices())
    return INVALID_DEVICE;
  *device = ordinal;
  return SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(void **context, CUdevice device) {
  if (device < 0 || device >= numDevices())
    return INVALID_DEVICE;
  contexts[device].device = device;
  *context = &contexts[device];
  return SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) {
  return device < 0 || device >= numDevices() ? INVALID_DEVICE : SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(void **context) {
  *context = current;
  return SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(void *context) {
  current = (struct Context *)context;
  return SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void) {
  return current ? SUCCESS : INVALID_CONTEXT;
}

static CUresult allocate(CUdeviceptr *ptr, size_t size) {
  if (!current)
    return INVALID_CONTEXT;
  if (size == 0)
    return INVALID_VALUE;
  long long limit = envNumber("FAKE_CUDA_MEM_LIMIT", -1);
  pthread_mutex_lock(&lock);
  CUresult result = SUCCESS;
  struct Allocation *a = NULL;
  if (limit >= 0 && liveBytes + size > (unsigned long long)limit)
    result = OUT_OF_MEMORY;
  else if (!(a = malloc(sizeof *a)) || !(a->data = malloc(size))) {
    free(a);
    result = OUT_OF_MEMORY;
  } else {
    memset(a->data, 0xAB, size); /* device memory starts as garbage */
    a->size = size;
    a->next = allocations;
    allocations = a;
    liveBytes += size;
    ++liveCount;
    *ptr = (CUdeviceptr)(uintptr_t)a->data;
  }
  pthread_mutex_unlock(&lock);
  return result;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t size) {
  return allocate(ptr, size);
}

EXPORT CUresult cuMemAllocManaged(CUdeviceptr *ptr, size_t size,
                                  unsigned flags) {
  (void)flags;
  return allocate(ptr, size);
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr ptr) {
  if (!current)
    return INVALID_CONTEXT;
  CUresult result = INVALID_VALUE;
  pthread_mutex_lock(&lock);
  for (struct Allocation **a = &allocations; *a; a = &(*a)->next)
    if ((*a)->data == (char *)(uintptr_t)ptr) {
      struct Allocation *dead = *a;
      *a = dead->next;
      liveBytes -= dead->size;
      --liveCount;
      free(dead->data);
      free(dead);
      result = SUCCESS;
      break;
    }
  if (result != SUCCESS)
    ++badCalls;
  pthread_mutex_unlock(&lock);
  return result;
}

/* Whether [ptr, ptr + size) lies in one live allocation. */
static int isDeviceRange(CUdeviceptr ptr, size_t size) {
  const char *p = (const char *)(uintptr_t)ptr;
  int found = 0;
  pthread_mutex_lock(&lock);
  for (struct Allocation *a = allocations; a && !found; a = a->next)
    found = p >= a->data && size <= a->size &&
            (size_t)(p - a->data) <= a->size - size;
  if (!found)
    ++badCalls;
  pthread_mutex_unlock(&lock);
  return found;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
  if (!current)
    return INVALID_CONTEXT;
  if (!isDeviceRange(dst, n))
    return INVALID_VALUE;
  memcpy((void *)(uintptr_t)dst, src, n);
  return SUCCESS;
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
  if (!current)
    return INVALID_CONTEXT;
  if (!isDeviceRange(src, n))
    return INVALID_VALUE;
  memcpy(dst, (const void *)(uintptr_t)src, n);
  return SUCCESS;
}

/* Unified addressing: either side may be host or device memory. */
EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n,
                              void *stream) {
  (void)stream;
  if (!current)
    return INVALID_CONTEXT;
  memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
  return SUCCESS;
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value,
                                 size_t count, void *stream) {
  (void)stream;
  if (!current)
    return INVALID_CONTEXT;
  if (!isDeviceRange(dst, count * 4))
    return INVALID_VALUE;
  for (size_t i = 0; i < count; ++i)
    memcpy((char *)(uintptr_t)dst + 4 * i, &value, 4);
  return SUCCESS;
}

EXPORT CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value,
                                 size_t count, void *stream) {
  (void)stream;
  if (!current)
    return INVALID_CONTEXT;
  if (!isDeviceRange(dst, count * 2))
    return INVALID_VALUE;
  for (size_t i = 0; i < count; ++i)
    memcpy((char *)(uintptr_t)dst + 2 * i, &value, 2);
  return SUCCESS;
}

/* A module remembers its image and the functions handed out. */
struct Function {
  struct Function *next;
  char name[128];
};
struct Module {
  const void *image;
  struct Context *context;
  struct Function *functions;
};

EXPORT CUresult cuModuleLoadData(void **module, const void *image) {
  if (!current)
    return INVALID_CONTEXT;
  struct Module *m = calloc(1, sizeof *m);
  if (!m)
    return OUT_OF_MEMORY;
  m->image = image;
  m->context = current;
  *module = m;
  return SUCCESS;
}

EXPORT CUresult cuModuleUnload(void *module) {
  struct Module *m = (struct Module *)module;
  if (!m)
    return INVALID_HANDLE;
  while (m->functions) {
    struct Function *f = m->functions;
    m->functions = f->next;
    free(f);
  }
  free(m);
  return SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(void **function, void *module,
                                    const char *name) {
  struct Module *m = (struct Module *)module;
  if (!current || !m || m->context != current)
    return INVALID_CONTEXT;
  if (strlen(name) >= sizeof ((struct Function *)0)->name)
    return NOT_FOUND;
  struct Function *f = calloc(1, sizeof *f);
  if (!f)
    return OUT_OF_MEMORY;
  strcpy(f->name, name);
  f->next = m->functions;
  m->functions = f;
  *function = f;
  return SUCCESS;
}

EXPORT CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)attribute;
  (void)value;
  return function ? SUCCESS : INVALID_HANDLE;
}

EXPORT CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy,
                               unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned smem, void *stream,
                               void **params, void **extra) {
  (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)smem;
  (void)stream, (void)extra;
  struct Function *f = (struct Function *)function;
  if (!current)
    return INVALID_CONTEXT;
  if (!f)
    return INVALID_HANDLE;
  if (envNumber("FAKE_CUDA_LAUNCH_ERROR", 0))
    return LAUNCH_FAILED;
  if (strcmp(f->name, "modelc_fake_host_kernel") != 0 || !params)
    return NOT_SUPPORTED;
  void (*body)(void *) = *(void (**)(void *))params[0];
  body(*(void **)params[1]);
  return SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(void *stream) {
  (void)stream;
  return current ? SUCCESS : INVALID_CONTEXT;
}

EXPORT CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags) {
  (void)stream, (void)flags;
  return event ? SUCCESS : INVALID_HANDLE;
}

EXPORT CUresult cuEventCreate(void **event, unsigned flags) {
  (void)flags;
  if (!current)
    return INVALID_CONTEXT;
  *event = malloc(1);
  return *event ? SUCCESS : OUT_OF_MEMORY;
}

EXPORT CUresult cuEventDestroy_v2(void *event) {
  if (!event)
    return INVALID_HANDLE;
  free(event);
  return SUCCESS;
}

EXPORT CUresult cuEventRecord(void *event, void *stream) {
  (void)stream;
  return event ? SUCCESS : INVALID_HANDLE;
}

EXPORT CUresult cuEventSynchronize(void *event) {
  return event ? SUCCESS : INVALID_HANDLE;
}
