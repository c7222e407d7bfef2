/*
 * modelc.h - the C ABI of a model library compiled by modelc.
 *
 * A model.so holds the generated code of one model and the modelc runtime.
 * It exports two kinds of symbols, and nothing else:
 *
 *   <Prefix>_<fn>          every function of MODELC_FOR_EACH_ABI_FUNCTION
 *                          below, e.g. TinyModel_create (declare them with
 *                          MODELC_DECLARE_MODEL(TinyModel) and link the .so);
 *   modelc_model_entry     one well-known entry point returning a table of
 *                          all of them, for programs that dlopen() a model
 *                          they were not compiled against (also exported as
 *                          <Prefix>_model_entry).
 *
 * Conventions, for every function:
 *  - No function aborts the process on bad input, NULL pointers included.
 *  - Functions returning int32_t return 0 (or a count) on success and -1 on
 *    failure; functions returning a pointer return NULL on failure. The reason
 *    is then available from last_error(model), and from last_error(NULL) in
 *    the calling thread.
 *  - A model is not thread-safe: call one instance from one thread at a time.
 *    Separate instances are fully independent, in any number of threads.
 *    The runtime detects overlapping calls on one instance: while one
 *    thread is inside a function that uses the state or the outputs
 *    (forward, get_output, set_training, read/write_state, load_state*,
 *    save_state*, to_device), another thread's such call fails with "<fn>:
 *    the model is being used by another thread; use one model per thread",
 *    reported by last_error(NULL) in that thread only. Outputs must not be
 *    read while another thread calls forward; destroy must overlap no call.
 *  - Tensors are dense, row-major and contiguous; the data is little-endian.
 *
 * See docs/ABI.md for the full description and example programs.
 */
#ifndef MODELC_MODELC_H
#define MODELC_MODELC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever modelc_api or a signature changes incompatibly. */
#define MODELC_ABI_VERSION 1

/* Element types; the names are the safetensors dtype strings. */
typedef enum modelc_dtype {
  MODELC_F32 = 0,
  MODELC_F64 = 1,
  MODELC_F16 = 2,
  MODELC_BF16 = 3,
  MODELC_I32 = 4,
  MODELC_I64 = 5,
  MODELC_BOOL = 6 /* one byte, 0 or 1 */
} modelc_dtype;

/* What a state entry is, as in PyTorch. */
typedef enum modelc_state_kind {
  MODELC_PARAMETER = 0,             /* named_parameters(); in the state dict */
  MODELC_BUFFER = 1,                /* named_buffers(); in the state dict */
  MODELC_NONPERSISTENT_BUFFER = 2   /* named_buffers(); not in the state dict */
} modelc_state_kind;

/* An opaque model instance. */
typedef struct modelc_model modelc_model;

/* A dense tensor. As an input of forward() every field is the caller's; as
 * an output of get_output() every pointer is the runtime's, valid until the
 * next forward() or destroy() of that model. `data` may be NULL when the
 * tensor has no element. */
typedef struct modelc_tensor {
  void *data;
  int32_t dtype;        /* a modelc_dtype */
  int32_t rank;         /* number of dimensions; 0 for a scalar */
  const int64_t *shape; /* `rank` sizes (may be NULL when rank is 0) */
} modelc_tensor;

/* One input or output of forward(). A size of -1 is dynamic (any size >= 0).
 * Pointers stay valid as long as the library is loaded. */
typedef struct modelc_io_info {
  const char *name; /* the argument's name; outputs: "output" or "output.<i>" */
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
} modelc_io_info;

/* One parameter or buffer. Pointers stay valid as long as the library is
 * loaded. */
typedef struct modelc_state_info {
  const char *name; /* the state-dict key, e.g. "layer1.0.bn1.running_mean" */
  int32_t kind;     /* a modelc_state_kind */
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
  uint64_t numel;   /* number of elements */
  uint64_t nbytes;  /* numel * element size: what read/write_state move */
} modelc_state_info;

/* Sums `count` floats at `data` in place over the ranks of data-parallel
 * training (an MPI_Allreduce); returns 0, or nonzero when it failed. See
 * set_all_reduce. */
typedef int32_t (*modelc_all_reduce_fn)(void *context, float *data, size_t count);

/*
 * The ABI functions, as an X-macro: X(P, return type, name, (parameters)).
 * This list is the single source of truth for the prototypes below, the
 * modelc_api table, the symbols a model library exports and the linker
 * flags the compiler passes (see docs/ABI.md).
 */
#define MODELC_FOR_EACH_ABI_FUNCTION(X, P)                                     \
  /* A new instance on `device` ("cpu", "cuda" or "cuda:N"; NULL           */ \
  /* means "cpu"), its state initialised from `seed` (one seed             */ \
  /* gives one model).                                                     */ \
  X(P, modelc_model *, create, (const char *device, uint64_t seed))            \
  /* Frees the instance and everything it owns; NULL is a no-op.           */ \
  X(P, void, destroy, (modelc_model * model))                                  \
  /* Runs forward (training or evaluation mode, see set_training) on       */ \
  /* n_inputs tensors, in the order of input_info. Checks their count,     */ \
  /* dtype, rank and sizes. The results are read with get_output.          */ \
  X(P, int32_t, forward,                                                       \
    (modelc_model * model, const modelc_tensor *inputs, int32_t n_inputs))     \
  X(P, int32_t, num_inputs, (const modelc_model *model))                       \
  X(P, int32_t, input_info,                                                    \
    (const modelc_model *model, int32_t index, modelc_io_info *info))          \
  X(P, int32_t, num_outputs, (const modelc_model *model))                      \
  X(P, int32_t, output_info,                                                   \
    (const modelc_model *model, int32_t index, modelc_io_info *info))          \
  /* Result `index` of the last forward(); runtime-owned memory.           */ \
  X(P, int32_t, get_output,                                                    \
    (const modelc_model *model, int32_t index, modelc_tensor *out))            \
  /* Training mode (1) updates buffers such as BatchNorm statistics;       */ \
  /* evaluation mode (0) is the default.                                   */ \
  X(P, int32_t, set_training, (modelc_model * model, int32_t training))        \
  X(P, int32_t, is_training, (const modelc_model *model))                      \
  /* Parameters then buffers, as PyTorch's named_parameters() followed by  */ \
  /* named_buffers().                                                      */ \
  X(P, int32_t, num_states, (const modelc_model *model))                       \
  X(P, int32_t, state_info,                                                    \
    (const modelc_model *model, int32_t index, modelc_state_info *info))       \
  /* Copy one state entry out / in by name; `nbytes` must equal its size.  */ \
  X(P, int32_t, read_state,                                                    \
    (const modelc_model *model, const char *name, void *dst, size_t nbytes))   \
  X(P, int32_t, write_state,                                                   \
    (modelc_model * model, const char *name, const void *src, size_t nbytes))  \
  /* Load a safetensors state dict. Everything is checked before anything  */ \
  /* changes; all problems are reported together. strict=0 ignores missing */ \
  /* and unexpected keys, never a shape or dtype mismatch.                 */ \
  X(P, int32_t, load_state,                                                    \
    (modelc_model * model, const char *path, int32_t strict))                  \
  X(P, int32_t, load_state_from_memory,                                        \
    (modelc_model * model, const void *data, size_t size, int32_t strict))     \
  /* Save the state dict (parameters and persistent buffers). The file is  */ \
  /* written next to `path` and renamed into place.                        */ \
  X(P, int32_t, save_state, (const modelc_model *model, const char *path))     \
  /* *data is malloc'ed: release it with free_buffer.                      */ \
  X(P, int32_t, save_state_to_memory,                                          \
    (const modelc_model *model, void **data, size_t *size))                    \
  X(P, void, free_buffer, (void *buffer))                                      \
  /* Move parameters and buffers to "cpu", "cuda" or "cuda:N" (all         */ \
  /* or nothing); device() says "cpu" or "cuda:N".                         */ \
  X(P, int32_t, to_device, (modelc_model * model, const char *device))         \
  X(P, const char *, device, (const modelc_model *model))                      \
  /* The last error of `model`, or of the calling thread when NULL; ""     */ \
  /* when there was none. Valid until the next failing call.               */ \
  X(P, const char *, last_error, (const modelc_model *model))                  \
  /* Gives the memory the library keeps for reuse back to the system: the  */ \
  /* blocks of its forward calls that it caches for all its instances (it  */ \
  /* does so by itself when the last instance is destroyed). The model     */ \
  /* stays as it was; the next forward allocates afresh. Appended last, so */ \
  /* that the table's earlier fields keep their places.                    */ \
  X(P, int32_t, trim, (const modelc_model *model))                             \
  /* Training (a model with a `loss` method; docs/ABI.md, "Training"):     */ \
  /* the rest fail with "the model has no loss method" otherwise.          */ \
  /* Chooses the optimizer, "sgd", "adam" or "adamw", with torch.optim's   */ \
  /* defaults and the options of the JSON object `options_json` (NULL:    */ \
  /* none), e.g. {"lr": 0.1, "momentum": 0.9, "groups": [{"params":       */ \
  /* "*.bias", "weight_decay": 0}]}; its state starts empty.               */ \
  X(P, int32_t, set_optimizer,                                                 \
    (modelc_model * model, const char *name, const char *options_json))        \
  /* group[name] = value in every parameter group: lr, weight_decay,       */ \
  /* maximize; SGD: momentum, dampening, nesterov; Adam(W): beta1, beta2,  */ \
  /* eps, amsgrad (flags: 0 or 1).                                         */ \
  X(P, int32_t, set_hyperparameter,                                            \
    (modelc_model * model, const char *name, double value))                    \
  /* optimizer.zero_grad(): gradients to zero, and none set.               */ \
  X(P, int32_t, zero_grad, (modelc_model * model))                             \
  /* Runs `loss` (current mode) on its inputs (order of loss_input_info)   */ \
  /* and adds the gradients; *loss (if not NULL) gets the loss.            */ \
  X(P, int32_t, loss_backward,                                                 \
    (modelc_model * model, const modelc_tensor *inputs, int32_t n_inputs,      \
     float *loss))                                                             \
  /* forward (results readable with get_output), then adds the            */ \
  /* vector-Jacobian product of its outputs with grad_outputs (one per     */ \
  /* output, of its shape) to the gradients: y.backward(g).                */ \
  X(P, int32_t, forward_backward,                                              \
    (modelc_model * model, const modelc_tensor *inputs, int32_t n_inputs,      \
     const modelc_tensor *grad_outputs, int32_t n_grad_outputs))               \
  /* optimizer.step(): updates the parameters that have a gradient.        */ \
  X(P, int32_t, step, (modelc_model * model))                                  \
  /* zero_grad, loss_backward, step.                                       */ \
  X(P, int32_t, train_step,                                                    \
    (modelc_model * model, const modelc_tensor *inputs, int32_t n_inputs,      \
     float *loss))                                                             \
  /* Copy the gradient of parameter `name` (F32, its shape) out / in;      */ \
  /* one without a gradient reads as zeros; write_grad sets it.            */ \
  X(P, int32_t, read_grad,                                                     \
    (const modelc_model *model, const char *name, void *dst, size_t nbytes))   \
  X(P, int32_t, write_grad,                                                    \
    (modelc_model * model, const char *name, const void *src, size_t nbytes))  \
  /* p.requires_grad_(flag); requires_grad returns 1 or 0 (-1: error).     */ \
  X(P, int32_t, set_requires_grad,                                             \
    (modelc_model * model, const char *name, int32_t flag))                    \
  X(P, int32_t, requires_grad, (const modelc_model *model, const char *name))  \
  /* The optimizer, its hyperparameters and state as safetensors           */ \
  /* (docs/ABI.md); loading checks everything first and replaces the       */ \
  /* optimizer (name and hyperparameters included).                        */ \
  X(P, int32_t, save_optimizer_state,                                          \
    (const modelc_model *model, const char *path))                             \
  X(P, int32_t, load_optimizer_state,                                          \
    (modelc_model * model, const char *path))                                  \
  X(P, int32_t, save_optimizer_state_to_memory,                                \
    (const modelc_model *model, void **data, size_t *size))                    \
  X(P, int32_t, load_optimizer_state_from_memory,                              \
    (modelc_model * model, const void *data, size_t size))                     \
  /* The loss method's arguments, as num_inputs/input_info.                */ \
  X(P, int32_t, num_loss_inputs, (const modelc_model *model))                  \
  X(P, int32_t, loss_input_info,                                               \
    (const modelc_model *model, int32_t index, modelc_io_info *info))          \
  /* The gradients in place: one F32 block, every parameter's gradient     */ \
  /* (named_parameters() order) at a 64-byte aligned offset (grad_offset). */ \
  /* Valid while the model lives; see docs/ABI.md for writing into it.     */ \
  X(P, int32_t, grad_buffer,                                                   \
    (modelc_model * model, void **data, size_t *nbytes))                       \
  X(P, int32_t, grad_offset,                                                   \
    (const modelc_model *model, const char *name, size_t *offset))             \
  /* Data-parallel training (libmodelc_dist, docs/DISTRIBUTED.md): the     */ \
  /* sum over the ranks that a model compiled with --sync-batchnorm calls  */ \
  /* during its training-mode forward and backward. Every rank must then   */ \
  /* make the same calls: a rank whose call fails before its generated     */ \
  /* code runs would leave the others waiting, so check_loss_inputs first. */ \
  /* NULL fn: one process (the default; nothing to sum).                   */ \
  X(P, int32_t, set_all_reduce,                                                \
    (modelc_model * model, modelc_all_reduce_fn fn, void *context))            \
  /* 1 when the training code calls the all-reduce (--sync-batchnorm), 0   */ \
  /* when it does not.                                                     */ \
  X(P, int32_t, uses_all_reduce, (const modelc_model *model))                  \
  /* The checks loss_backward makes of its inputs, and nothing else.       */ \
  X(P, int32_t, check_loss_inputs,                                             \
    (const modelc_model *model, const modelc_tensor *inputs, int32_t n_inputs)) \
  /* The CPU whose code this process runs ("x86-64-v4": a portable         */ \
  /* library's best variant this CPU has, chosen once at load from CPUID;  */ \
  /* $MODELC_CPU=x86-64-v3 forces the other).                              */ \
  X(P, const char *, cpu, (const modelc_model *model))

/* The table returned by modelc_model_entry(). */
typedef struct modelc_api {
  uint32_t abi_version; /* MODELC_ABI_VERSION of the library */
  uint32_t size;        /* sizeof(modelc_api) in the library */
  const char *name;     /* the model's name, e.g. "TinyModel" */
  const char *prefix;   /* the symbol prefix, e.g. "TinyModel" */
  const char *desc_json; /* the model description (docs/ABI.md) */
#define MODELC_API_FIELD_(P, ret, fn, params) ret(*fn) params;
  MODELC_FOR_EACH_ABI_FUNCTION(MODELC_API_FIELD_, _)
#undef MODELC_API_FIELD_
} modelc_api;

/* The well-known entry point: dlsym(handle, "modelc_model_entry"). */
typedef const modelc_api *(*modelc_model_entry_fn)(void);
const modelc_api *modelc_model_entry(void);

/* Declares Prefix_create, Prefix_destroy, ... and Prefix_model_entry, the
 * symbols a model library compiled with --prefix=Prefix exports. */
#ifdef __cplusplus
#define MODELC_EXTERN_C_BEGIN_ extern "C" {
#define MODELC_EXTERN_C_END_ }
#else
#define MODELC_EXTERN_C_BEGIN_
#define MODELC_EXTERN_C_END_
#endif
#define MODELC_DECLARE_FUNCTION_(P, ret, fn, params) ret P##_##fn params;
#define MODELC_DECLARE_MODEL(Prefix)                                           \
  MODELC_EXTERN_C_BEGIN_                                                       \
  MODELC_FOR_EACH_ABI_FUNCTION(MODELC_DECLARE_FUNCTION_, Prefix)               \
  const modelc_api *Prefix##_model_entry(void);                                \
  MODELC_EXTERN_C_END_

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MODELC_MODELC_H */
