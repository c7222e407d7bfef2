/*
 * dist.h - data-parallel training of a modelc model library over MPI, as
 * PyTorch's DistributedDataParallel does it with its defaults.
 *
 * A separate library, libmodelc_dist.so: the model library itself never
 * links MPI. It drives any model through its modelc_api table
 * (modelc_model_entry() or Prefix_model_entry()), so one libmodelc_dist
 * serves every model. One modelc_dist per model instance, on a duplicate of
 * the caller's communicator (its messages never mix with the caller's).
 *
 *   - create broadcasts the parameters and buffers from rank 0;
 *   - train_step / loss_backward broadcast the buffers from rank 0 before
 *     the forward (DDP's broadcast_buffers=True), run the model's own
 *     loss_backward on this rank's shard, and average the gradients over
 *     the ranks (each divided by the world size, then summed, as DDP's
 *     reducer), in buckets of `bucket_mb` MB;
 *   - every rank then applies the same optimizer step;
 *   - save_* write on rank 0 only (atomically, as the model's own save_*);
 *     load_* read on rank 0 and broadcast what they read.
 *
 * Conventions, as modelc.h: 0 / -1 (or NULL), never an abort. Every
 * function here is collective: all ranks call it, in the same order. A
 * failure on any rank makes the call fail on every rank, with the same
 * message naming the rank ("rank 1: loss_backward: ..."), so that no rank
 * waits for another that gave up. When train_step fails, no rank's
 * parameters, buffers or optimizer state change; the gradients are zero.
 *
 * Options (JSON object, NULL for none): {"bucket_mb": 25,
 * "broadcast_buffers": true}.
 *
 * See docs/DISTRIBUTED.md.
 */
#ifndef MODELC_DIST_H
#define MODELC_DIST_H

#include "modelc/modelc.h"

#ifndef MODELC_DIST_NO_MPI_H
#include <mpi.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct modelc_dist modelc_dist;

#ifndef MODELC_DIST_NO_MPI_H
/* On the ranks of `comm` (MPI must be initialised, with at least
 * MPI_THREAD_FUNNELED). The model must have a loss method. */
modelc_dist *modelc_dist_create(const modelc_api *api, modelc_model *model,
                                MPI_Comm comm, const char *options_json);
#endif

/* For programs that do not include mpi.h (modelc-run loads this library
 * with dlopen): initialises MPI when nobody has (then finalize finalises
 * it), and gives this process's rank and the world size. */
int32_t modelc_dist_init_world(int32_t *rank, int32_t *world_size);
/* modelc_dist_create on MPI_COMM_WORLD, after init_world. */
modelc_dist *modelc_dist_create_world(const modelc_api *api, modelc_model *model,
                                      const char *options_json);
/* Finalises MPI if init_world initialised it. */
int32_t modelc_dist_finalize(void);
/* MPI_Abort on MPI_COMM_WORLD: for errors that leave ranks out of step. */
void modelc_dist_abort(int32_t code);

void modelc_dist_destroy(modelc_dist *dist);
int32_t modelc_dist_rank(const modelc_dist *dist);
int32_t modelc_dist_world_size(const modelc_dist *dist);
/* The last error of `dist`, or of the calling thread when NULL (create);
 * "" when there was none. */
const char *modelc_dist_last_error(const modelc_dist *dist);

/* Every rank passes whether it succeeded (`ok` nonzero) and, if not, why;
 * returns 0 when all did, else -1 on every rank, last_error naming the
 * first rank that failed and its message. */
int32_t modelc_dist_agree(modelc_dist *dist, int32_t ok, const char *error);

/* The rows [*begin, *end) of a batch of `batch` rows that this rank takes:
 * rank r of W takes [r*B/W, (r+1)*B/W). B not divisible by W is an error. */
int32_t modelc_dist_shard_rows(const modelc_dist *dist, int64_t batch,
                               int64_t *begin, int64_t *end);

/* Parameters and buffers (every state entry) from rank 0. */
int32_t modelc_dist_broadcast_state(modelc_dist *dist);
/* Buffers (persistent or not) from rank 0. */
int32_t modelc_dist_broadcast_buffers(modelc_dist *dist);
/* The gradient block averaged over the ranks, in place. */
int32_t modelc_dist_allreduce_grads(modelc_dist *dist);

/* Broadcast buffers (if the option is on), the model's loss_backward on
 * this rank's inputs (its shard), all-reduce the gradients. *loss: this
 * rank's loss. */
int32_t modelc_dist_loss_backward(modelc_dist *dist, const modelc_tensor *inputs,
                                  int32_t n_inputs, float *loss);
/* zero_grad, loss_backward (above), step. */
int32_t modelc_dist_train_step(modelc_dist *dist, const modelc_tensor *inputs,
                               int32_t n_inputs, float *loss);

/* Rank 0 saves (the others write nothing); every rank returns rank 0's
 * result. */
int32_t modelc_dist_save_state(modelc_dist *dist, const char *path);
int32_t modelc_dist_save_optimizer_state(modelc_dist *dist, const char *path);
/* Rank 0 loads the file, then every rank gets its contents. */
int32_t modelc_dist_load_state(modelc_dist *dist, const char *path, int32_t strict);
int32_t modelc_dist_load_optimizer_state(modelc_dist *dist, const char *path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MODELC_DIST_H */
