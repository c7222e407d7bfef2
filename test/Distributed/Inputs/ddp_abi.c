/* Drives libmodelc_dist from C (modelc/dist.h), as an application would:
 *
 *   mpirun -np W ddp_abi train MODEL.so FIXTURES CASE OPTIMIZER OPTIONS STEPS OUT
 *     trains STEPS steps on FIXTURES/CASE.step<i>.inputs.safetensors from
 *     FIXTURES/CASE.state.safetensors with tiny gradient buckets (many
 *     all-reduces per step); rank 0 writes OUT.losses/.state/.optim through
 *     the library, and every rank writes its own OUT.rank<r>.state with the
 *     model's save_state, for the test to compare rank 1's buffers.
 *   mpirun -np W ddp_abi fail MODEL.so FIXTURES CASE OPTIMIZER OPTIONS
 *     one good step, then a step where rank W-1 alone passes a batch of the
 *     wrong width: every rank must fail with rank W-1's message and keep
 *     its state, then train on.
 */
#define _GNU_SOURCE
#include "modelc/dist.h"

#include "../../e2e/train/Inputs/st_io.h"

#include <dlfcn.h>

static const modelc_api *api;
static modelc_model *model;
static modelc_dist *dist;
static int rank, world;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "rank %d: %s: %s\n", rank, what,
            dist ? modelc_dist_last_error(dist) : modelc_dist_last_error(NULL));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

/* Batch `step` of CASE, this rank's rows, in aligned memory. */
typedef struct batch {
  modelc_tensor t[8];
  int64_t shapes[8][8];
  int n;
} batch;

static void load_batch(batch *out, const char *dir, const char *name, int step) {
  char path[4096];
  int files = 0;
  for (;; ++files) {
    snprintf(path, sizeof path, "%s/%s.step%d.inputs.safetensors", dir, name, files);
    FILE *fp = fopen(path, "rb");
    if (!fp)
      break;
    fclose(fp);
  }
  check(files > 0, "no batches");
  snprintf(path, sizeof path, "%s/%s.step%d.inputs.safetensors", dir, name, step % files);
  st_file f = st_open(path);
  batch *b = out; /* (the tensors point into it: not returned by value) */
  memset(b, 0, sizeof *b);
  b->n = api->num_loss_inputs(model);
  for (int i = 0; i < b->n; ++i) {
    modelc_io_info info;
    api->loss_input_info(model, i, &info);
    modelc_tensor whole = st_get(&f, info.name, i);
    int64_t begin, end;
    check(modelc_dist_shard_rows(dist, whole.shape[0], &begin, &end) == 0, "shard_rows");
    size_t row = whole.dtype == MODELC_I64 || whole.dtype == MODELC_F64 ? 8 : 4;
    for (int d = 1; d < whole.rank; ++d)
      row *= (size_t)whole.shape[d];
    memcpy(b->shapes[i], whole.shape, sizeof(int64_t) * (size_t)whole.rank);
    b->shapes[i][0] = end - begin;
    b->t[i] = whole;
    b->t[i].shape = b->shapes[i];
    b->t[i].data = aligned_alloc(64, (row * (size_t)(end - begin) + 63) / 64 * 64 + 64);
    memcpy(b->t[i].data, (char *)whole.data + row * (size_t)begin, row * (size_t)(end - begin));
  }
  st_close(&f);
}

static void free_batch(batch *b) {
  for (int i = 0; i < b->n; ++i)
    free(b->t[i].data);
}

static void setup(char **argv) {
  void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  check(h != NULL, "dlopen");
  api = ((modelc_model_entry_fn)dlsym(h, "modelc_model_entry"))();
  model = api->create("cpu", 0);
  check(model != NULL, "create");
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.state.safetensors", argv[3], argv[4]);
  check(api->load_state(model, path, 1) == 0, api->last_error(model));
  api->set_training(model, 1);
  check(api->set_optimizer(model, argv[5], argv[6]) == 0, api->last_error(model));
  /* Buckets of about 1 KB: every step runs many all-reduces. */
  dist = modelc_dist_create(api, model, MPI_COMM_WORLD, "{\"bucket_mb\": 0.001}");
  check(dist != NULL, "modelc_dist_create");
  check(modelc_dist_rank(dist) == rank && modelc_dist_world_size(dist) == world, "rank");
}

static void train(char **argv) {
  int steps = atoi(argv[7]);
  const char *out = argv[8];
  float losses[64];
  for (int i = 0; i < steps && i < 64; ++i) {
    batch b;
    load_batch(&b, argv[3], argv[4], i);
    check(modelc_dist_train_step(dist, b.t, b.n, &losses[i]) == 0, "train_step");
    free_batch(&b);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s.state.safetensors", out);
  check(modelc_dist_save_state(dist, path) == 0, "save_state");
  snprintf(path, sizeof path, "%s.optim.safetensors", out);
  check(modelc_dist_save_optimizer_state(dist, path) == 0, "save_optimizer_state");
  snprintf(path, sizeof path, "%s.rank%d.state.safetensors", out, rank);
  check(api->save_state(model, path) == 0, api->last_error(model));
  if (rank == 0) {
    snprintf(path, sizeof path, "%s.losses.safetensors", out);
    const char *names[] = {"loss"};
    float *data[] = {losses};
    int64_t shape[] = {steps};
    const int64_t *shapes[] = {shape};
    int32_t ranks[] = {1};
    st_write(path, 1, names, data, shapes, ranks);
  }
  printf("rank %d of %d: trained %d steps\n", rank, world, steps);
}

static void fail(char **argv) {
  float loss;
  batch b;
  load_batch(&b, argv[3], argv[4], 0);
  check(modelc_dist_train_step(dist, b.t, b.n, &loss) == 0, "first step");
  void *before = NULL, *after = NULL, *optBefore = NULL, *optAfter = NULL;
  size_t n1, n2, o1, o2;
  api->save_state_to_memory(model, &before, &n1);
  api->save_optimizer_state_to_memory(model, &optBefore, &o1);
  if (rank == world - 1)
    b.shapes[0][1] += 1; /* the wrong width, on this rank only */
  int rc = modelc_dist_train_step(dist, b.t, b.n, &loss);
  api->save_state_to_memory(model, &after, &n2);
  api->save_optimizer_state_to_memory(model, &optAfter, &o2);
  int same = n1 == n2 && !memcmp(before, after, n1) && o1 == o2 && !memcmp(optBefore, optAfter, o1);
  /* One line per rank, printed by rank 0 in rank order (mpirun forwards
   * each rank's output on its own: their order would be chance). */
  char line[512], *all = malloc(sizeof line * (size_t)world);
  snprintf(line, sizeof line, "rank %d: rc %d, state %s: %s", rank, rc,
           same ? "unchanged" : "CHANGED", modelc_dist_last_error(dist));
  MPI_Gather(line, sizeof line, MPI_CHAR, all, sizeof line, MPI_CHAR, 0, MPI_COMM_WORLD);
  for (int r = 0; rank == 0 && r < world; ++r)
    printf("%s\n", all + (size_t)r * sizeof line);
  free(all);
  if (rank == world - 1)
    b.shapes[0][1] -= 1;
  check(modelc_dist_train_step(dist, b.t, b.n, &loss) == 0, "step after the failure");
  if (rank == 0)
    printf("trained on after the failure\n");
  api->free_buffer(before);
  api->free_buffer(after);
  api->free_buffer(optBefore);
  api->free_buffer(optAfter);
  free_batch(&b);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc < 7 || (strcmp(argv[1], "train") == 0 && argc != 9)) {
    fprintf(stderr, "usage: see the comment at the top of ddp_abi.c\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  setup(argv);
  if (strcmp(argv[1], "train") == 0)
    train(argv);
  else
    fail(argv);
  modelc_dist_destroy(dist);
  api->destroy(model);
  MPI_Finalize();
  return 0;
}
