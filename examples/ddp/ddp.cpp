// ddp.cpp - trains DigitsCNN (examples/train/digits.mdl) on scikit-learn's
// 8x8 digits data-parallel over MPI, as PyTorch's DistributedDataParallel
// would: every rank holds the model, takes its rows of each minibatch, and
// libmodelc_dist (modelc/dist.h) averages the gradients, so every rank takes
// the same step. Rank 0 reports and saves the trained state dict.
//
//   mpirun -np 2 example-ddp examples/train/digits.safetensors trained.safetensors
//
// The same data, seeds and schedule as examples/train/train.c (Adam, lr 0.01
// then 0.003 from epoch 6 and 0.001 from epoch 9, global minibatches of 32
// reshuffled every epoch), the minibatch split over the ranks (32 must
// divide evenly: 1, 2, 4, 8, 16 or 32 ranks).
#include "modelc/dist.h"
#include "modelc/modelc.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

MODELC_DECLARE_MODEL(DigitsCNN)

namespace {

constexpr int kEpochs = 10, kBatch = 32, kClasses = 10, kPixels = 64;

struct Split {
  std::vector<float> images; // [n, 1, 8, 8], pixel / 16
  std::vector<int64_t> labels;
  int64_t n = 0;
};

/// The tensor `name` of a safetensors file's bytes: its data and byte size
/// ("" when absent). Enough for digits.safetensors' compact header.
std::string tensorBytes(const std::string &file, const std::string &name) {
  if (file.size() < 8)
    return "";
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = headerSize << 8 | static_cast<unsigned char>(file[i]);
  std::string header = file.substr(8, headerSize);
  size_t at = header.find("\"" + name + "\":");
  size_t offsets = at == std::string::npos ? at : header.find("\"data_offsets\":[", at);
  if (offsets == std::string::npos)
    return "";
  unsigned long long begin = 0, end = 0;
  std::sscanf(header.c_str() + offsets + 16, "%llu,%llu", &begin, &end);
  return file.substr(8 + headerSize + begin, end - begin);
}

bool loadSplit(const std::string &file, const std::string &name, Split &s) {
  std::string pixels = tensorBytes(file, name + ".images");
  std::string labels = tensorBytes(file, name + ".labels");
  s.n = static_cast<int64_t>(labels.size() / sizeof(int64_t));
  if (s.n == 0 || pixels.size() != static_cast<size_t>(s.n) * kPixels)
    return false;
  s.images.resize(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i)
    s.images[i] = static_cast<unsigned char>(pixels[i]) / 16.0f;
  s.labels.resize(static_cast<size_t>(s.n));
  std::memcpy(s.labels.data(), labels.data(), labels.size());
  return true;
}

/// Held-out accuracy in evaluation mode (BatchNorm's running statistics).
double accuracy(modelc_model *m, const Split &s) {
  int64_t shape[4] = {s.n, 1, 8, 8};
  modelc_tensor x = {const_cast<float *>(s.images.data()), MODELC_F32, 4, shape}, out;
  if (DigitsCNN_set_training(m, 0) != 0 || DigitsCNN_forward(m, &x, 1) != 0 ||
      DigitsCNN_get_output(m, 0, &out) != 0)
    return -1;
  const float *logits = static_cast<const float *>(out.data);
  int64_t correct = 0;
  for (int64_t i = 0; i < s.n; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < kClasses; ++c)
      best = logits[i * kClasses + c] > logits[i * kClasses + best] ? c : best;
    correct += best == s.labels[static_cast<size_t>(i)];
  }
  DigitsCNN_set_training(m, 1);
  return static_cast<double>(correct) / static_cast<double>(s.n);
}

/// An error before the ranks can agree on it (modelc_dist_agree needs the
/// modelc_dist): stop them all.
[[noreturn]] void abortAll(int rank, const char *what) {
  std::fprintf(stderr, "error: rank %d: %s\n", rank, what);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

uint64_t lcg = 7; // train.c's shuffle: a 64-bit LCG, Fisher-Yates
uint32_t next() {
  lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return static_cast<uint32_t>(lcg >> 32);
}

int run(int argc, char **argv, int rank) {
  if (argc != 3) {
    if (rank == 0)
      std::fprintf(stderr, "usage: mpirun -np W %s digits.safetensors out-state.safetensors\n",
                   argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Split train, test;
  if (!loadSplit(file, "train", train) || !loadSplit(file, "test", test))
    abortAll(rank, "the first argument is not the digits file (examples/train/digits.safetensors)");
  modelc_model *m = DigitsCNN_create("cpu", /*seed=*/1);
  if (!m || DigitsCNN_set_training(m, 1) != 0 ||
      DigitsCNN_set_optimizer(m, "adam", "{\"lr\": 0.01}") != 0)
    abortAll(rank, DigitsCNN_last_error(m));
  // DistributedDataParallel(model): rank 0's state on every rank.
  modelc_dist *dist = modelc_dist_create(DigitsCNN_model_entry(), m, MPI_COMM_WORLD, nullptr);
  if (!dist) { // (agreed: every rank fails)
    if (rank == 0)
      std::fprintf(stderr, "error: %s\n", modelc_dist_last_error(nullptr));
    return 1;
  }
  int world = modelc_dist_world_size(dist);
  int64_t begin = 0, end = 0;
  if (modelc_dist_shard_rows(dist, kBatch, &begin, &end) != 0) {
    if (rank == 0)
      std::fprintf(stderr, "error: %s\n", modelc_dist_last_error(dist));
    return 1;
  }
  int64_t rows = end - begin;
  if (rank == 0)
    std::printf("DigitsCNN on %d rank(s): %lld training images, minibatch %d (%lld a rank); Adam\n",
                world, static_cast<long long>(train.n), kBatch, static_cast<long long>(rows));
  std::vector<int64_t> order(static_cast<size_t>(train.n));
  for (int64_t i = 0; i < train.n; ++i)
    order[static_cast<size_t>(i)] = i;
  std::vector<float> xb(static_cast<size_t>(rows) * kPixels);
  std::vector<int64_t> yb(static_cast<size_t>(rows));
  int64_t xShape[4] = {rows, 1, 8, 8}, yShape[1] = {rows};
  modelc_tensor batch[2] = {{xb.data(), MODELC_F32, 4, xShape}, {yb.data(), MODELC_I64, 1, yShape}};
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    double lr = epoch >= 9 ? 0.001 : epoch >= 6 ? 0.003 : 0.01;
    DigitsCNN_set_hyperparameter(m, "lr", lr);
    for (int64_t i = train.n - 1; i > 0; --i) // the same order on every rank
      std::swap(order[static_cast<size_t>(i)], order[next() % static_cast<uint64_t>(i + 1)]);
    double lossSum = 0;
    int64_t steps = train.n / kBatch; // full minibatches only
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t r = 0; r < rows; ++r) { // this rank's rows of minibatch s
        int64_t k = order[static_cast<size_t>(s * kBatch + begin + r)];
        std::memcpy(&xb[static_cast<size_t>(r) * kPixels], &train.images[static_cast<size_t>(k) * kPixels],
                    kPixels * sizeof(float));
        yb[static_cast<size_t>(r)] = train.labels[static_cast<size_t>(k)];
      }
      float loss = 0;
      if (modelc_dist_train_step(dist, batch, 2, &loss) != 0) {
        if (rank == 0)
          std::fprintf(stderr, "error: %s\n", modelc_dist_last_error(dist));
        return 1;
      }
      lossSum += loss;
    }
    if (rank == 0)
      std::printf("epoch %2d  lr %.3f  rank 0 loss %.4f\n", epoch, lr, lossSum / steps);
  }
  if (rank == 0)
    std::printf("held-out accuracy: %.4f\n", accuracy(m, test));
  if (modelc_dist_save_state(dist, argv[2]) != 0) { // rank 0 writes
    if (rank == 0)
      std::fprintf(stderr, "error: %s\n", modelc_dist_last_error(dist));
    return 1;
  }
  if (rank == 0)
    std::printf("saved the state dict to %s\n", argv[2]);
  modelc_dist_destroy(dist);
  DigitsCNN_destroy(m);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int status = run(argc, argv, rank);
  MPI_Finalize();
  return status;
}
