//===- Dist.cpp - data-parallel training over MPI (modelc/dist.h) ---------===//
//
// DistributedDataParallel's defaults on top of a model's training ABI: the
// model library computes a rank's gradients into its one contiguous block
// (grad_buffer), which this file averages over the ranks in place. The
// model never sees MPI.
//
// Every entry point is collective and ends in an agreement (agree()), so
// that a failure on one rank (a bad input, a shape error) fails the call on
// all of them instead of leaving the others blocked in the next collective.
//
//===----------------------------------------------------------------------===//
#include "modelc/dist.h"

#include "support/Format.h"
#include "support/Json.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>
#include <string>
#include <vector>

using namespace modelc::rt;

#define MODELC_DIST_EXPORT extern "C" __attribute__((visibility("default")))

struct modelc_dist {
  const modelc_api *api = nullptr;
  modelc_model *model = nullptr;
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  size_t bucketBytes = size_t(25) << 20; // PyTorch's bucket_cap_mb
  bool broadcastBuffers = true;
  /// The model's training code all-reduces (SyncBatchNorm): every rank
  /// must enter it, so the inputs are checked and agreed on first.
  bool collectiveForward = false;
  std::string error;
  /// Parameter and buffer indices (state_info order) and their sizes.
  std::vector<int32_t> params, buffers;
  std::vector<modelc_state_info> infos;
  /// The buffers broadcast from rank 0, and this rank's own as they were
  /// before the step (restored when it fails on any rank).
  std::vector<unsigned char> bufferBytes, savedBuffers;
};

namespace {

thread_local std::string threadError;
bool initialisedHere = false;

/// Calls MPI and turns its error code into a message.
bool mpiOk(int code, const char *what, std::string &error) {
  if (code == MPI_SUCCESS)
    return true;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  error = format("%s: %.*s", what, length, text);
  return false;
}

bool fail(modelc_dist *d, std::string message) {
  d->error = std::move(message);
  return false;
}

/// Whether the model's call returned `rc` 0; if not, its error is ours.
bool modelOk(modelc_dist *d, int32_t rc) {
  return rc == 0 || fail(d, d->api->last_error(d->model));
}

/// `save` on rank 0 alone; every rank returns its result.
template <typename Save> int32_t saveOnRoot(modelc_dist *d, Save &&save) {
  if (!d)
    return -1;
  bool ok = d->rank != 0 || modelOk(d, save());
  return modelc_dist_agree(d, ok, d->error.c_str());
}

/// Whether every rank of `comm` passed `ok`; if not, `out` gets the first
/// failing rank's message, the same on every rank ("rank 1: ...").
bool agreeOn(MPI_Comm comm, int rank, bool ok, const char *error, std::string &out) {
  int mine = ok ? INT_MAX : rank, first = INT_MAX;
  if (!mpiOk(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce", out))
    return false;
  if (first == INT_MAX)
    return true;
  std::vector<char> text;
  if (rank == first) {
    const char *message = error && *error ? error : "failed";
    text.assign(message, message + std::strlen(message));
  }
  unsigned long long size = text.size();
  MPI_Bcast(&size, 1, MPI_UNSIGNED_LONG_LONG, first, comm);
  text.resize(static_cast<size_t>(size));
  MPI_Bcast(text.data(), static_cast<int>(size), MPI_CHAR, first, comm);
  out = format("rank %d: %.*s", first, static_cast<int>(size), text.data());
  return false;
}

/// Copies the state entries `indices` out of (pack) or into (!pack) `bytes`.
bool moveStates(modelc_dist *d, const std::vector<int32_t> &indices,
                std::vector<unsigned char> &bytes, bool pack) {
  size_t total = 0;
  for (int32_t i : indices)
    total += d->infos[i].nbytes;
  if (pack)
    bytes.resize(total);
  else if (bytes.size() != total)
    return fail(d, "the broadcast state has the wrong size");
  size_t at = 0;
  for (int32_t i : indices) {
    const modelc_state_info &info = d->infos[i];
    int32_t rc = pack ? d->api->read_state(d->model, info.name, bytes.data() + at, info.nbytes)
                      : d->api->write_state(d->model, info.name, bytes.data() + at, info.nbytes);
    if (rc != 0)
      return fail(d, format("%s '%s': %s", pack ? "read_state" : "write_state", info.name,
                            d->api->last_error(d->model)));
    at += info.nbytes;
  }
  return true;
}

/// MPI_Bcast of any number of bytes (MPI counts are int) from rank 0.
bool broadcastBytes(modelc_dist *d, void *data, size_t size) {
  unsigned char *p = static_cast<unsigned char *>(data);
  const size_t chunk = size_t(1) << 30;
  for (size_t at = 0; at < size; at += chunk) {
    int n = static_cast<int>(std::min(chunk, size - at));
    if (!mpiOk(MPI_Bcast(p + at, n, MPI_BYTE, 0, d->comm), "MPI_Bcast", d->error))
      return false;
  }
  return true;
}

/// Rank 0's byte string on every rank.
bool broadcastString(modelc_dist *d, std::vector<unsigned char> &bytes) {
  unsigned long long size = bytes.size();
  if (!mpiOk(MPI_Bcast(&size, 1, MPI_UNSIGNED_LONG_LONG, 0, d->comm), "MPI_Bcast", d->error))
    return false;
  bytes.resize(static_cast<size_t>(size));
  return broadcastBytes(d, bytes.data(), bytes.size());
}

/// Broadcasts the state entries `indices` from rank 0 and writes them on
/// the others; on every rank `bytes` ends holding them.
bool broadcastStates(modelc_dist *d, const std::vector<int32_t> &indices,
                     std::vector<unsigned char> &bytes) {
  bool ok = d->rank != 0 || moveStates(d, indices, bytes, /*pack=*/true);
  // Rank 0 failing to read its own state must not leave the others waiting.
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
    return false;
  ok = broadcastString(d, bytes) && (d->rank == 0 || moveStates(d, indices, bytes, false));
  return modelc_dist_agree(d, ok, d->error.c_str()) == 0;
}

bool parseOptions(modelc_dist *d, const char *json) {
  if (!json)
    return true;
  JsonValue options;
  std::string error;
  if (!parseJson(json, std::strlen(json), options, error) || !options.isObject())
    return fail(d, format("options: not a JSON object%s%s", error.empty() ? "" : ": ",
                          error.c_str()));
  for (const auto &[key, value] : options.object) {
    if (key == "bucket_mb") {
      if (!value.isNumber() || !(value.number > 0) || value.number > 1 << 20)
        return fail(d, "options: \"bucket_mb\" must be a number of megabytes in (0, 1048576]");
      d->bucketBytes = std::max<size_t>(64, static_cast<size_t>(value.number * (1 << 20)));
    } else if (key == "broadcast_buffers") {
      if (value.kind != JsonValue::Kind::Bool)
        return fail(d, "options: \"broadcast_buffers\" must be true or false");
      d->broadcastBuffers = value.boolean;
    } else {
      return fail(d, format("options: unknown option \"%s\" (known: bucket_mb, "
                            "broadcast_buffers)", key.c_str()));
    }
  }
  return true;
}

/// Puts back the buffers saved at the start of a failed step, keeping the
/// step's error.
void restoreBuffers(modelc_dist *d) {
  std::string why = d->error;
  moveStates(d, d->buffers, d->savedBuffers, /*pack=*/false);
  d->error = why;
}

/// The model's loss_backward, with the buffers broadcast before and the
/// gradients averaged after; on failure (any rank) the buffers are as
/// they were before the call.
/// The model's all-reduce (set_all_reduce): SyncBatchNorm's sums, on this
/// instance's communicator.
int32_t allReduceHook(void *context, float *data, size_t count) {
  auto *d = static_cast<modelc_dist *>(context);
  const size_t chunk = INT_MAX;
  for (size_t at = 0; at < count; at += chunk) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, static_cast<int>(std::min(chunk, count - at)),
                           MPI_FLOAT, MPI_SUM, d->comm);
    if (rc != MPI_SUCCESS)
      return rc;
  }
  return 0;
}

bool lossBackward(modelc_dist *d, const modelc_tensor *inputs, int32_t n, float *loss) {
  // With SyncBatchNorm the generated code itself communicates: a rank
  // that refused its inputs before running it would leave the others in
  // its first all-reduce.
  if (d->collectiveForward) {
    bool ok = modelOk(d, d->api->check_loss_inputs(d->model, inputs, n));
    if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
      return false;
  }
  // This rank's buffers as they are, restored if the step fails anywhere:
  // the broadcast below replaces them on ranks other than 0.
  bool ok = moveStates(d, d->buffers, d->savedBuffers, /*pack=*/true);
  if (d->broadcastBuffers) {
    if (modelc_dist_agree(d, ok, d->error.c_str()) != 0 ||
        !broadcastStates(d, d->buffers, d->bufferBytes))
      return restoreBuffers(d), false;
  }
  ok = ok && modelOk(d, d->api->loss_backward(d->model, inputs, n, loss));
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
    return restoreBuffers(d), false;
  return modelc_dist_allreduce_grads(d) == 0;
}

modelc_dist *create(const modelc_api *api, modelc_model *model, MPI_Comm comm,
                    const char *options) {
  if (!api || !model) {
    threadError = "modelc_dist_create: the api table and the model must not be NULL";
    return nullptr;
  }
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (!initialised || finalised) {
    threadError = "modelc_dist_create: MPI is not initialised";
    return nullptr;
  }
  modelc_dist *d = new (std::nothrow) modelc_dist;
  if (!d) {
    threadError = "modelc_dist_create: out of memory";
    return nullptr;
  }
  d->api = api;
  d->model = model;
  if (!mpiOk(MPI_Comm_dup(comm, &d->comm), "MPI_Comm_dup", threadError)) {
    delete d;
    return nullptr;
  }
  // Errors come back as codes, reported as messages, instead of aborting.
  MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(d->comm, &d->rank);
  MPI_Comm_size(d->comm, &d->size);

  bool ok = parseOptions(d, options);
  if (ok && api->num_loss_inputs(model) < 0)
    ok = fail(d, format("the model cannot train: %s", api->last_error(model)));
  int32_t n = ok ? api->num_states(model) : 0;
  for (int32_t i = 0; ok && i < n; ++i) {
    modelc_state_info info;
    if (api->state_info(model, i, &info) != 0)
      ok = fail(d, api->last_error(model));
    d->infos.push_back(info);
    (info.kind == MODELC_PARAMETER ? d->params : d->buffers).push_back(i);
  }
  // The same model on every rank: a mismatch would corrupt every
  // collective below.
  unsigned long long shape[2] = {static_cast<unsigned long long>(n), 0};
  for (const modelc_state_info &info : d->infos)
    shape[1] = shape[1] * 1000003u + info.nbytes;
  unsigned long long root[2] = {shape[0], shape[1]};
  if (ok && !mpiOk(MPI_Bcast(root, 2, MPI_UNSIGNED_LONG_LONG, 0, d->comm), "MPI_Bcast",
                   d->error))
    ok = false;
  if (ok && (root[0] != shape[0] || root[1] != shape[1]))
    ok = fail(d, "this rank's model differs from rank 0's (state entries or sizes)");
  d->collectiveForward = ok && api->uses_all_reduce(model) == 1;
  if (ok && api->set_all_reduce(model, allReduceHook, d) != 0)
    ok = fail(d, api->last_error(model));
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0 ||
      modelc_dist_broadcast_state(d) != 0) {
    api->set_all_reduce(model, nullptr, nullptr);
    threadError = "modelc_dist_create: " + d->error;
    MPI_Comm_free(&d->comm);
    delete d;
    return nullptr;
  }
  return d;
}

} // namespace

MODELC_DIST_EXPORT modelc_dist *modelc_dist_create(const modelc_api *api, modelc_model *model,
                                                   MPI_Comm comm, const char *options_json) {
  return create(api, model, comm, options_json);
}

MODELC_DIST_EXPORT int32_t modelc_dist_init_world(int32_t *rank, int32_t *world_size) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
      threadError = "MPI_Init_thread failed";
      return -1;
    }
    initialisedHere = true;
  }
  int r = 0, s = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  if (rank)
    *rank = r;
  if (world_size)
    *world_size = s;
  return 0;
}

MODELC_DIST_EXPORT modelc_dist *modelc_dist_create_world(const modelc_api *api,
                                                         modelc_model *model,
                                                         const char *options_json) {
  return create(api, model, MPI_COMM_WORLD, options_json);
}

MODELC_DIST_EXPORT int32_t modelc_dist_finalize(void) {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (initialisedHere && !finalised)
    MPI_Finalize();
  initialisedHere = false;
  return 0;
}

MODELC_DIST_EXPORT void modelc_dist_abort(int32_t code) { MPI_Abort(MPI_COMM_WORLD, code); }

MODELC_DIST_EXPORT void modelc_dist_destroy(modelc_dist *d) {
  if (!d)
    return;
  d->api->set_all_reduce(d->model, nullptr, nullptr); // one process again
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised)
    MPI_Comm_free(&d->comm);
  delete d;
}

MODELC_DIST_EXPORT int32_t modelc_dist_rank(const modelc_dist *d) { return d ? d->rank : -1; }
MODELC_DIST_EXPORT int32_t modelc_dist_world_size(const modelc_dist *d) {
  return d ? d->size : -1;
}
MODELC_DIST_EXPORT const char *modelc_dist_last_error(const modelc_dist *d) {
  return d ? d->error.c_str() : threadError.c_str();
}

MODELC_DIST_EXPORT int32_t modelc_dist_agree(modelc_dist *d, int32_t ok, const char *error) {
  if (d)
    return agreeOn(d->comm, d->rank, ok, error, d->error) ? 0 : -1;
  // No instance yet (a program's own set-up): on MPI_COMM_WORLD.
  int initialised = 0, rank = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    threadError = "modelc_dist_agree: MPI is not initialised";
    return -1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return agreeOn(MPI_COMM_WORLD, rank, ok, error, threadError) ? 0 : -1;
}

MODELC_DIST_EXPORT int32_t modelc_dist_shard_rows(const modelc_dist *d, int64_t batch,
                                                  int64_t *begin, int64_t *end) {
  if (!d || !begin || !end) {
    threadError = "modelc_dist_shard_rows: NULL argument";
    return -1;
  }
  if (batch < 0 || batch % d->size != 0) {
    const_cast<modelc_dist *>(d)->error =
        format("a batch of %lld rows does not split evenly over %d ranks",
               static_cast<long long>(batch), d->size);
    return -1;
  }
  *begin = batch / d->size * d->rank;
  *end = *begin + batch / d->size;
  return 0;
}

MODELC_DIST_EXPORT int32_t modelc_dist_broadcast_state(modelc_dist *d) {
  if (!d)
    return -1;
  std::vector<int32_t> all(d->infos.size());
  for (size_t i = 0; i < all.size(); ++i)
    all[i] = static_cast<int32_t>(i);
  std::vector<unsigned char> bytes;
  return broadcastStates(d, all, bytes) ? 0 : -1;
}

MODELC_DIST_EXPORT int32_t modelc_dist_broadcast_buffers(modelc_dist *d) {
  return d && broadcastStates(d, d->buffers, d->bufferBytes) ? 0 : -1;
}

MODELC_DIST_EXPORT int32_t modelc_dist_allreduce_grads(modelc_dist *d) {
  if (!d)
    return -1;
  void *data = nullptr;
  size_t nbytes = 0;
  bool ok = modelOk(d, d->api->grad_buffer(d->model, &data, &nbytes));
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
    return -1;
  float *grads = static_cast<float *>(data);
  size_t count = nbytes / sizeof(float);
  // As DDP's reducer: each rank's gradient divided by the world size,
  // then summed (for two ranks the same as summing first).
  float world = static_cast<float>(d->size);
  for (size_t i = 0; i < count; ++i)
    grads[i] /= world;
  // Buckets of at most bucketBytes, all in flight at once: MPI pipelines
  // them, and a large model never needs one message of its whole size.
  size_t per = std::max<size_t>(1, std::min<size_t>(d->bucketBytes / sizeof(float), INT_MAX));
  std::vector<MPI_Request> requests;
  for (size_t at = 0; ok && at < count; at += per) {
    MPI_Request request;
    int n = static_cast<int>(std::min(per, count - at));
    ok = mpiOk(MPI_Iallreduce(MPI_IN_PLACE, grads + at, n, MPI_FLOAT, MPI_SUM, d->comm,
                              &request),
               "MPI_Iallreduce", d->error);
    if (ok)
      requests.push_back(request);
  }
  if (!requests.empty())
    ok = mpiOk(MPI_Waitall(static_cast<int>(requests.size()), requests.data(),
                           MPI_STATUSES_IGNORE),
               "MPI_Waitall", d->error) && ok;
  return modelc_dist_agree(d, ok, d->error.c_str()) == 0 ? 0 : -1;
}

MODELC_DIST_EXPORT int32_t modelc_dist_loss_backward(modelc_dist *d, const modelc_tensor *inputs,
                                                     int32_t n_inputs, float *loss) {
  return d && lossBackward(d, inputs, n_inputs, loss) ? 0 : -1;
}

MODELC_DIST_EXPORT int32_t modelc_dist_train_step(modelc_dist *d, const modelc_tensor *inputs,
                                                  int32_t n_inputs, float *loss) {
  if (!d)
    return -1;
  bool ok = modelOk(d, d->api->zero_grad(d->model));
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0 || !lossBackward(d, inputs, n_inputs, loss))
    return d->api->zero_grad(d->model), -1;
  ok = modelOk(d, d->api->step(d->model));
  return modelc_dist_agree(d, ok, d->error.c_str());
}

MODELC_DIST_EXPORT int32_t modelc_dist_save_state(modelc_dist *d, const char *path) {
  return saveOnRoot(d, [&] { return d->api->save_state(d->model, path); });
}

MODELC_DIST_EXPORT int32_t modelc_dist_save_optimizer_state(modelc_dist *d, const char *path) {
  return saveOnRoot(d, [&] { return d->api->save_optimizer_state(d->model, path); });
}

MODELC_DIST_EXPORT int32_t modelc_dist_load_state(modelc_dist *d, const char *path,
                                                  int32_t strict) {
  if (!d)
    return -1;
  bool ok = d->rank != 0 || modelOk(d, d->api->load_state(d->model, path, strict));
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
    return -1;
  return modelc_dist_broadcast_state(d);
}

MODELC_DIST_EXPORT int32_t modelc_dist_load_optimizer_state(modelc_dist *d, const char *path) {
  if (!d)
    return -1;
  std::vector<unsigned char> bytes;
  bool ok = true;
  if (d->rank == 0) {
    void *data = nullptr;
    size_t size = 0;
    ok = modelOk(d, d->api->load_optimizer_state(d->model, path)) &&
         modelOk(d, d->api->save_optimizer_state_to_memory(d->model, &data, &size));
    if (ok)
      bytes.assign(static_cast<unsigned char *>(data), static_cast<unsigned char *>(data) + size);
    d->api->free_buffer(data);
  }
  if (modelc_dist_agree(d, ok, d->error.c_str()) != 0)
    return -1;
  ok = broadcastString(d, bytes) &&
       (d->rank == 0 ||
        modelOk(d, d->api->load_optimizer_state_from_memory(d->model, bytes.data(), bytes.size())));
  return modelc_dist_agree(d, ok, d->error.c_str());
}
