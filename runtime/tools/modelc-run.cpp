//===- modelc-run.cpp - run a compiled model from the shell ---------------===//
//
//   modelc-run model.so --inputs in.safetensors --outputs out.safetensors
//              [--load-state s] [--save-state s2] [--train] [--repeat K]
//              [--device cpu|cuda] [--non-strict] [--info] [--bench N]
//              [--seed S]
//   modelc-run model.so --train-steps K --inputs b0.safetensors [--inputs b1 ...]
//              [--optimizer sgd|adam|adamw] [--lr X] ... [--losses L] [--grads G]
//              [--load-optimizer O] [--save-optimizer O2] [--eval-mode]
//   mpirun -np W modelc-run model.so --distributed --train-steps K ...
//
// Loads model.so with dlopen and drives it only through modelc_model_entry,
// so it works for any model. Nothing is written unless every step succeeded:
// outputs and state are serialised in memory, written to temporary files and
// only then renamed into place.
//
// --distributed trains data-parallel through libmodelc_dist.so (beside
// modelc-run, in ../lib), loaded with dlopen: modelc-run itself needs no
// MPI unless asked to.
//
//===----------------------------------------------------------------------===//
#include "Inputs.h"
#include "modelc/modelc.h"
#include "modelc/modelc.hpp"
// The declarations only, for their types: the library is loaded at run time.
#define MODELC_DIST_NO_MPI_H
#include "modelc/dist.h"
#include "support/DType.h"
#include "support/FileIO.h"
#include "support/Format.h"
#include "support/Json.h"
#include "support/SafeTensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <ctime>
#include <dlfcn.h>
#include <optional>
#include <tuple>
#include <new>
#include <unistd.h>
#include <string>
#include <vector>

using namespace modelc::rt;

namespace {

const char *const kUsage =
    "usage: modelc-run model.so [--inputs in.safetensors] "
    "[--outputs out.safetensors]\n"
    "                  [--load-state s.safetensors] [--save-state "
    "s2.safetensors]\n"
    "                  [--train] [--repeat K] [--device cpu|cuda] "
    "[--non-strict]\n"
    "                  [--info] [--bench N] [--seed S]\n"
    "\n"
    "  --inputs F      one tensor per forward argument, named as the argument\n"
    "  --outputs F     write the results: 'output', or 'output.0', "
    "'output.1', ...\n"
    "  --load-state F  load a state dict first (strict unless --non-strict)\n"
    "  --save-state F  write the state dict after running\n"
    "  --train         training mode (buffers are updated); default: eval\n"
    "  --repeat K      call forward K times (default 1); state carries over\n"
    "  --device D      cpu (default), cuda or cuda:N (a library compiled with\n"
    "                  --target=cuda, and an NVIDIA driver)\n"
    "  --info          print inputs, outputs, parameters, buffers and the\n"
    "                  values derived from parameters\n"
    "  --bench N       time N calls after a warm-up: min / median / max\n"
    "  --seed S        seed of the initial state (default 0)\n"
    "\n"
    "training (a model with a loss method):\n"
    "  --train-steps K      K steps of zero_grad, loss.backward(), step; step i\n"
    "                       uses the i mod F-th of the F --inputs files, each\n"
    "                       with one tensor per loss argument\n"
    "  --optimizer O        sgd (default), adam or adamw, torch.optim's defaults\n"
    "  --lr X  --momentum X  --dampening X  --nesterov  --weight-decay X\n"
    "  --betas B1,B2  --eps X  --amsgrad  --maximize\n"
    "                       hyperparameters (on every group)\n"
    "  --optimizer-options J  the options as set_optimizer's JSON, parameter\n"
    "                       groups included: '{\"groups\": [{\"params\": \"*.bias\",\n"
    "                       \"weight_decay\": 0}]}' (the options above override\n"
    "                       its top-level ones)\n"
    "  --load-optimizer F   start from a saved optimizer (its hyperparameters;\n"
    "                       the options above then override them in every group)\n"
    "  --save-optimizer F   write the optimizer state after training\n"
    "  --losses F           write 'loss', F32 [K]: each step's loss, before its update\n"
    "  --grads F            write the last step's gradients, before its update\n"
    "  --eval-mode          train in evaluation mode (default: training mode)\n"
    "  --bench N            with --train-steps: time N training steps after one\n"
    "                       warm-up (after the K steps)\n"
    "  --distributed        data-parallel over the ranks of mpirun -np W, as\n"
    "                       PyTorch's DistributedDataParallel: rank r trains on\n"
    "                       rows [r*B/W, (r+1)*B/W) of every input; rank 0\n"
    "                       alone writes the files (docs/DISTRIBUTED.md)\n"
    "  --bucket-mb X        with --distributed: gradient buckets of X MB (25)\n";

struct Options {
  std::string model;
  std::string inputs, outputs, loadState, saveState;
  std::string device = "cpu";
  bool train = false, strict = true, info = false, repeatGiven = false;
  uint64_t repeat = 1, bench = 0, seed = 0;
  // Training.
  std::vector<std::string> inputsList; // every --inputs, in order
  uint64_t trainSteps = 0;
  std::string optimizer, optimizerOptions, loadOptimizer, saveOptimizer, losses, grads;
  bool evalMode = false;
  bool distributed = false;
  std::string bucketMb;
  /// The hyperparameters given on the command line, as set_optimizer's
  /// option names and JSON values, in order.
  std::vector<std::pair<std::string, std::string>> hyper;
  /// The first training option given, for "needs --train-steps".
  std::string firstTrainingOption;
};

//===- --distributed --------------------------------------------------------===//

/// libmodelc_dist.so's functions, and where this process stands.
struct Dist {
#define MODELC_RUN_DIST_FN_(fn) decltype(&modelc_dist_##fn) fn = nullptr;
#define MODELC_RUN_DIST_FNS_(X)                                                \
  X(init_world) X(create_world) X(finalize) X(abort) X(destroy) X(last_error)  \
  X(agree) X(shard_rows) X(loss_backward) X(train_step)
  MODELC_RUN_DIST_FNS_(MODELC_RUN_DIST_FN_)
  modelc_dist *dist = nullptr;
  int32_t rank = 0, size = 1;
  /// Inside phase(): an error is agreed on by all ranks before anyone
  /// exits. Elsewhere an error of one rank aborts them all (MPI_Abort),
  /// since the others may be waiting in a collective.
  bool inPhase = false;
};
Dist *gDist = nullptr;

struct PhaseFailure {
  std::string message;
};

/// Every error ends the run: a message on stderr and exit status 1.
[[noreturn]] void die(const std::string &message) {
  if (gDist && gDist->inPhase)
    throw PhaseFailure{message};
  if (gDist) {
    std::fprintf(stderr, "modelc-run: error: rank %d: %s\n", gDist->rank, message.c_str());
    std::fflush(stderr);
    gDist->abort(1);
  }
  std::fprintf(stderr, "modelc-run: error: %s\n", message.c_str());
  std::exit(1);
}

uint64_t parseCount(const char *option, const char *text, bool allowZero) {
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (!*text || *end || errno || text[0] == '-' || (!allowZero && v == 0))
    die(format("%s expects a %s integer, got '%s'", option,
               allowZero ? "non-negative" : "positive", text));
  return v;
}

/// A finite number, as the text of its fewest digits that read back as it.
std::string parseNumber(const char *option, const char *text) {
  errno = 0;
  char *end = nullptr;
  double v = std::strtod(text, &end);
  if (!*text || *end || errno || !std::isfinite(v))
    die(format("%s expects a number, got '%s'", option, text));
  for (int precision = 1; precision <= 17; ++precision) {
    std::string shortest = format("%.*g", precision, v);
    if (std::strtod(shortest.c_str(), nullptr) == v)
      return shortest;
  }
  return format("%.17g", v);
}

/// The training options besides --train-steps; false for any other.
template <typename Value>
bool parseTrainingOption(const std::string &arg, Value &&value, Options &o) {
  auto number = [&](const char *key) {
    o.hyper.emplace_back(key, parseNumber(arg.c_str(), value()));
  };
  if (arg == "--optimizer") o.optimizer = value();
  else if (arg == "--optimizer-options") o.optimizerOptions = value();
  else if (arg == "--lr") number("lr");
  else if (arg == "--momentum") number("momentum");
  else if (arg == "--dampening") number("dampening");
  else if (arg == "--weight-decay") number("weight_decay");
  else if (arg == "--eps") number("eps");
  else if (arg == "--nesterov") o.hyper.emplace_back("nesterov", "true");
  else if (arg == "--amsgrad") o.hyper.emplace_back("amsgrad", "true");
  else if (arg == "--maximize") o.hyper.emplace_back("maximize", "true");
  else if (arg == "--betas") {
    std::string text = value();
    size_t comma = text.find(',');
    if (comma == std::string::npos)
      die(format("--betas expects two numbers B1,B2, got '%s'", text.c_str()));
    std::string b1 = parseNumber("--betas", text.substr(0, comma).c_str());
    std::string b2 = parseNumber("--betas", text.substr(comma + 1).c_str());
    o.hyper.emplace_back("betas", "[" + b1 + "," + b2 + "]");
  } else if (arg == "--load-optimizer") o.loadOptimizer = value();
  else if (arg == "--save-optimizer") o.saveOptimizer = value();
  else if (arg == "--losses") o.losses = value();
  else if (arg == "--grads") o.grads = value();
  else if (arg == "--eval-mode") o.evalMode = true;
  else if (arg == "--distributed") o.distributed = true;
  else if (arg == "--bucket-mb") o.bucketMb = parseNumber("--bucket-mb", value());
  else
    return false;
  return true;
}

/// The combinations --train-steps refuses, and distinct output files.
void checkTrainingOptions(const Options &o) {
  if (o.inputsList.empty())
    die("--train-steps needs --inputs: one file or more, each with the loss's arguments");
  if (!o.outputs.empty())
    die("--outputs does not apply to --train-steps (see --losses and --grads)");
  if (o.repeatGiven)
    die("--repeat does not apply to --train-steps");
  if (o.train && o.evalMode)
    die("--train and --eval-mode contradict each other");
  if (!o.bucketMb.empty() && !o.distributed)
    die("--bucket-mb needs --distributed");
  if (!o.loadOptimizer.empty() && !o.optimizerOptions.empty())
    die("--optimizer-options cannot be combined with --load-optimizer: the file holds "
        "the hyperparameters (give single options such as --lr to override them)");
  std::vector<std::pair<const char *, std::string>> outputs = {
      {"--save-state", o.saveState}, {"--save-optimizer", o.saveOptimizer},
      {"--losses", o.losses}, {"--grads", o.grads}};
  for (size_t i = 0; i < outputs.size(); ++i)
    for (size_t j = i + 1; j < outputs.size(); ++j)
      if (!outputs[i].second.empty() && outputs[i].second == outputs[j].second)
        die(format("%s and %s name the same file", outputs[i].first, outputs[j].first));
}

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        die(format("option %s needs a value", arg.c_str()));
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--inputs") {
      o.inputs = value();
      o.inputsList.push_back(o.inputs);
    }
    else if (arg == "--outputs") o.outputs = value();
    else if (arg == "--load-state") o.loadState = value();
    else if (arg == "--save-state") o.saveState = value();
    else if (arg == "--train") o.train = true;
    else if (arg == "--non-strict") o.strict = false;
    else if (arg == "--info") o.info = true;
    else if (arg == "--repeat") {
      o.repeat = parseCount("--repeat", value(), false);
      o.repeatGiven = true;
    }
    else if (arg == "--bench") o.bench = parseCount("--bench", value(), false);
    else if (arg == "--seed") o.seed = parseCount("--seed", value(), true);
    else if (arg == "--device") o.device = value();
    else if (arg == "--train-steps") o.trainSteps = parseCount("--train-steps", value(), false);
    else if (parseTrainingOption(arg, value, o)) {
      if (o.firstTrainingOption.empty())
        o.firstTrainingOption = arg;
    } else if (arg.size() > 1 && arg[0] == '-')
      die(format("unknown option '%s' (see --help)", arg.c_str()));
    else if (o.model.empty())
      o.model = arg;
    else
      die(format("unexpected argument '%s': only one model library is "
                 "accepted", arg.c_str()));
  }
  if (o.model.empty())
    die(std::string("no model library given\n") + kUsage);
  if (o.trainSteps) {
    checkTrainingOptions(o);
    return o;
  }
  if (!o.firstTrainingOption.empty())
    die(format("%s needs --train-steps", o.firstTrainingOption.c_str()));
  if (o.inputsList.size() > 1)
    die(format("--inputs is given %zu times: only --train-steps takes several files",
               o.inputsList.size()));
  if (!o.outputs.empty() && o.inputs.empty())
    die("--outputs needs --inputs: there is nothing to run forward on");
  if (o.bench && o.inputs.empty())
    die("--bench needs --inputs");
  if (!o.outputs.empty() && (o.outputs == o.saveState))
    die("--outputs and --save-state name the same file");
  return o;
}

const modelc_api *openModel(const std::string &path) {
  // A bare name would make dlopen search the library path, not the
  // current directory.
  std::string target = path.find('/') == std::string::npos ? "./" + path : path;
  // dlopen would wait forever on a FIFO: only a regular file is opened.
  struct stat st;
  std::string error;
  int fd = openRegularFile(target, st, error);
  if (fd < 0)
    die(format("cannot load model library '%s': %s", path.c_str(), error.c_str()));
  ::close(fd);
  void *handle = dlopen(target.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    die(format("cannot load model library '%s': %s", path.c_str(), dlerror()));
  auto entry = reinterpret_cast<modelc_model_entry_fn>(
      dlsym(handle, "modelc_model_entry"));
  if (!entry)
    die(format("'%s' is not a modelc model library (no modelc_model_entry)",
               path.c_str()));
  const modelc_api *api = entry();
  if (!api || api->abi_version != MODELC_ABI_VERSION)
    die(format("'%s' was built for modelc ABI version %u, this modelc-run "
               "needs version %d", path.c_str(), api ? api->abi_version : 0,
               MODELC_ABI_VERSION));
  // Functions are appended to the table within one ABI version (trim was):
  // a shorter table comes from an older modelc and lacks some of them.
  if (api->size < sizeof(modelc_api))
    die(format("'%s' was built by an older modelc: its function table has "
               "%u bytes, without %s; this modelc-run needs %zu (compile "
               "the model again)", path.c_str(), api->size,
               modelc::firstMissingFunction(api->size), sizeof(modelc_api)));
  return api;
}

/// An error every rank has agreed on: rank 0 says it, all exit with 1.
[[noreturn]] void dieAgreed(const std::string &message) {
  if (gDist->rank == 0)
    std::fprintf(stderr, "modelc-run: error: %s\n", message.c_str());
  gDist->finalize();
  std::exit(1);
}

/// Runs `body` on every rank; if it fails on any, all of them stop with
/// the first failing rank's message.
template <typename Body> void phase(Body &&body) {
  std::string error;
  gDist->inPhase = true;
  try {
    body();
  } catch (const PhaseFailure &failure) {
    error = failure.message;
  }
  gDist->inPhase = false;
  if (gDist->agree(gDist->dist, error.empty(), error.c_str()) != 0)
    dieAgreed(gDist->last_error(gDist->dist));
}

/// Loads libmodelc_dist.so ($MODELC_DIST_LIBRARY, else ../lib/ beside this
/// executable) and joins the MPI world.
void startDistributed(Dist &dist) {
  std::string path;
  if (const char *env = std::getenv("MODELC_DIST_LIBRARY"); env && *env) {
    path = env;
  } else {
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    std::string exe = n > 0 ? std::string(self, static_cast<size_t>(n)) : "";
    std::string dir = exe.substr(0, exe.find_last_of('/') + 1);
    path = dir + "../lib/libmodelc_dist.so";
  }
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    die(format("--distributed needs libmodelc_dist.so, built when MPI is installed "
               "(Open MPI: libopenmpi-dev): %s", dlerror()));
#define MODELC_RUN_DIST_LOAD_(fn)                                              \
  dist.fn = reinterpret_cast<decltype(dist.fn)>(dlsym(handle, "modelc_dist_" #fn)); \
  if (!dist.fn)                                                                \
    die(format("'%s' lacks modelc_dist_" #fn, path.c_str()));
  MODELC_RUN_DIST_FNS_(MODELC_RUN_DIST_LOAD_)
#undef MODELC_RUN_DIST_LOAD_
  if (dist.init_world(&dist.rank, &dist.size) != 0)
    die(format("--distributed: %s", dist.last_error(nullptr)));
  gDist = &dist;
}

/// Rank r's rows of every input of every batch, copied to aligned memory
/// (the generated code may assume 64-byte alignment).
void shardInputs(std::vector<Inputs> &batches, const Options &o) {
  for (size_t f = 0; f < batches.size(); ++f) {
    Inputs &in = batches[f];
    for (size_t k = 0; k < in.tensors.size(); ++k) {
      modelc_tensor &t = in.tensors[k];
      std::vector<int64_t> &shape = in.shapes[k];
      int64_t begin = 0, end = 0;
      if (shape.empty())
        die(format("--inputs '%s': a 0-d tensor (input %zu) has no rows to split over "
                   "the ranks", o.inputsList[f].c_str(), k));
      if (gDist->shard_rows(gDist->dist, shape[0], &begin, &end) != 0)
        die(format("--inputs '%s': input %zu: %s", o.inputsList[f].c_str(), k,
                   gDist->last_error(gDist->dist)));
      size_t row = isValidDType(t.dtype) ? dtypeSize(static_cast<DType>(t.dtype)) : 1;
      for (size_t d = 1; d < shape.size(); ++d)
        row *= static_cast<size_t>(shape[d]);
      size_t bytes = row * static_cast<size_t>(end - begin);
      void *buffer = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
      if (!buffer)
        die("out of memory splitting the inputs");
      if (bytes)
        std::memcpy(buffer, static_cast<unsigned char *>(t.data) + row * begin, bytes);
      std::free(in.buffers[k]);
      in.buffers[k] = buffer;
      t.data = buffer;
      shape[0] = end - begin;
    }
  }
}

std::string dimsText(const int64_t *shape, int32_t rank) {
  return formatShape(std::vector<int64_t>(shape, shape + rank));
}

const char *dtypeText(int32_t dtype) {
  return isValidDType(dtype) ? dtypeName(static_cast<DType>(dtype)) : "?";
}

/// The values the library derives from parameters once per state
/// (docs/ABI.md), as its description lists them: memory the model holds
/// besides its state.
void printDerived(const modelc_api *api, const modelc_model *model) {
  JsonValue root;
  std::string error;
  if (!api->desc_json ||
      !parseJson(api->desc_json, std::strlen(api->desc_json), root, error))
    return;
  const JsonValue *derived = root.get("derived");
  // Those of the variant this process runs, when it is not the base code.
  const JsonValue *cpu = root.get("cpu");
  const char *running = api->cpu(model);
  if (const JsonValue *variants = root.get("variants");
      variants && variants->isArray() && running && cpu && cpu->isString() &&
      cpu->string != running)
    for (const JsonValue &v : variants->array)
      if (const JsonValue *name = v.get("cpu"); name && name->isString() && name->string == running)
        derived = v.get("derived");
  if (!derived || !derived->isArray() || derived->array.empty())
    return;
  std::printf("derived from parameters (computed once per state):\n");
  for (const JsonValue &value : derived->array) {
    const JsonValue *name = value.get("name"), *dtype = value.get("dtype"),
                    *shape = value.get("shape");
    if (!name || !name->isString() || !dtype || !dtype->isString() || !shape ||
        !shape->isArray())
      continue;
    std::vector<int64_t> dims;
    for (const JsonValue &d : shape->array)
      dims.push_back(d.isInteger ? d.integer : -1);
    std::printf("  %s: %s %s\n", name->string.c_str(), dtype->string.c_str(),
                dimsText(dims.data(), static_cast<int32_t>(dims.size())).c_str());
  }
}

/// One list of --info: forward's inputs or outputs, or the loss's inputs.
void printIoList(const char *title, modelc_model *model,
                 int32_t (*count)(const modelc_model *),
                 int32_t (*infoOf)(const modelc_model *, int32_t, modelc_io_info *)) {
  std::printf("%s:\n", title);
  for (int32_t i = 0; i < count(model); ++i) {
    modelc_io_info info;
    infoOf(model, i, &info);
    std::printf("  %s: %s %s\n", info.name, dtypeText(info.dtype),
                dimsText(info.shape, info.rank).c_str());
  }
}

void printInfo(const modelc_api *api, modelc_model *model) {
  std::printf("model %s (prefix %s, device %s)\n", api->name, api->prefix,
              api->device(model));
  printIoList("inputs", model, api->num_inputs, api->input_info);
  printIoList("outputs", model, api->num_outputs, api->output_info);
  if (api->num_loss_inputs(model) >= 0)
    printIoList("loss inputs", model, api->num_loss_inputs, api->loss_input_info);
  // num_states lists parameters first, then buffers.
  bool inBuffers = false;
  std::printf("parameters:\n");
  for (int32_t i = 0; i < api->num_states(model); ++i) {
    modelc_state_info info;
    api->state_info(model, i, &info);
    if (info.kind != MODELC_PARAMETER && !inBuffers) {
      std::printf("buffers:\n");
      inBuffers = true;
    }
    bool frozen = info.kind == MODELC_PARAMETER &&
                  api->requires_grad(model, info.name) == 0;
    std::printf("  %s: %s %s%s\n", info.name, dtypeText(info.dtype),
                dimsText(info.shape, info.rank).c_str(),
                info.kind == MODELC_NONPERSISTENT_BUFFER ? " (non-persistent)"
                : frozen                                 ? " (frozen)"
                                                         : "");
  }
  if (!inBuffers)
    std::printf("buffers:\n");
  printDerived(api, model);
  // The compilation this process runs (a portable library holds two).
  if (const char *cpu = api->cpu(model); cpu && *cpu)
    std::printf("cpu code: %s\n", cpu);
  std::fflush(stdout);
}

void readInputs(const std::string &path, const modelc_api *api,
                modelc_model *model, Inputs &inputs, bool lossInputs = false) {
  std::string bytes, error;
  std::vector<std::string> names;
  int32_t count = lossInputs ? api->num_loss_inputs(model) : api->num_inputs(model);
  for (int32_t i = 0; i < count; ++i) {
    modelc_io_info info;
    if (lossInputs)
      api->loss_input_info(model, i, &info);
    else
      api->input_info(model, i, &info);
    names.push_back(info.name);
  }
  if (!readSafeTensorsFile(path, bytes, error) ||
      !bindInputs(reinterpret_cast<const unsigned char *>(bytes.data()),
                  bytes.size(), names, inputs, error))
    die(format("--inputs '%s': %s", path.c_str(), error.c_str()));
}

/// The last forward call's results as safetensors bytes.
std::string serializeOutputs(const modelc_api *api, modelc_model *model) {
  std::vector<SafeTensor> tensors;
  for (int32_t i = 0; i < api->num_outputs(model); ++i) {
    modelc_io_info info;
    modelc_tensor out;
    if (api->output_info(model, i, &info) != 0 ||
        api->get_output(model, i, &out) != 0)
      die(format("cannot read output %d: %s", i, api->last_error(model)));
    SafeTensor t;
    t.name = info.name;
    t.dtype = static_cast<DType>(out.dtype);
    t.shape.assign(out.shape, out.shape + out.rank);
    uint64_t nbytes = 0;
    computeNumBytes(t.shape, t.dtype, nbytes);
    t.nbytes = nbytes;
    t.data = static_cast<const unsigned char *>(out.data);
    tensors.push_back(std::move(t));
  }
  return serializeSafeTensors(tensors);
}

double nowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void runForward(const modelc_api *api, modelc_model *model, Inputs &inputs,
                const std::string &inputsPath) {
  if (api->forward(model, inputs.tensors.data(),
                   static_cast<int32_t>(inputs.tensors.size())) != 0)
    die(format("forward failed on --inputs '%s': %s", inputsPath.c_str(),
               api->last_error(model)));
}

void bench(const modelc_api *api, modelc_model *model, Inputs &inputs,
           const Options &o) {
  runForward(api, model, inputs, o.inputs); // warm-up
  std::vector<double> times;
  for (uint64_t i = 0; i < o.bench; ++i) {
    double start = nowSeconds();
    runForward(api, model, inputs, o.inputs);
    times.push_back((nowSeconds() - start) * 1e3);
  }
  std::sort(times.begin(), times.end());
  std::printf("bench: %llu calls after 1 warm-up (%s mode): min %.4f ms, "
              "median %.4f ms, max %.4f ms\n",
              static_cast<unsigned long long>(o.bench),
              o.train ? "training" : "evaluation", times.front(),
              times[times.size() / 2], times.back());
  std::fflush(stdout);
}


//===- Training (--train-steps) ---------------------------------------------===//

/// Writes `value` as JSON (the --optimizer-options object, re-emitted with
/// the single options merged in).
std::string toJson(const JsonValue &value) {
  switch (value.kind) {
  case JsonValue::Kind::Null: return "null";
  case JsonValue::Kind::Bool: return value.boolean ? "true" : "false";
  case JsonValue::Kind::Number:
    return value.isInteger ? format("%lld", static_cast<long long>(value.integer))
                           : format("%.17g", value.number);
  case JsonValue::Kind::String: return quoteJson(value.string);
  case JsonValue::Kind::Array: {
    std::string out = "[";
    for (size_t i = 0; i < value.array.size(); ++i)
      out += (i ? "," : "") + toJson(value.array[i]);
    return out + "]";
  }
  default: {
    std::string out = "{";
    for (size_t i = 0; i < value.object.size(); ++i)
      out += (i ? "," : "") + quoteJson(value.object[i].first) + ":" +
             toJson(value.object[i].second);
    return out + "}";
  }
  }
}

/// The optimizer's name saved in an optimizer state file.
std::string savedOptimizerName(const std::string &path) {
  std::string bytes, error;
  std::vector<SafeTensor> tensors;
  SafeTensorsMetadata metadata;
  if (!readSafeTensorsFile(path, bytes, error) ||
      !parseSafeTensors(reinterpret_cast<const unsigned char *>(bytes.data()), bytes.size(),
                        tensors, &metadata, error))
    die(format("--load-optimizer '%s': %s", path.c_str(), error.c_str()));
  for (const auto &kv : metadata)
    if (kv.first == "optimizer")
      return kv.second;
  return "";
}

/// set_optimizer, or load_optimizer_state, then the single options.
void setUpOptimizer(const modelc_api *api, modelc_model *model, const Options &o) {
  if (!o.loadOptimizer.empty()) {
    std::string saved = savedOptimizerName(o.loadOptimizer);
    if (api->load_optimizer_state(model, o.loadOptimizer.c_str()) != 0)
      die(format("--load-optimizer: %s", api->last_error(model)));
    if (!o.optimizer.empty() && o.optimizer != saved)
      die(format("--optimizer %s, but --load-optimizer '%s' holds the state of %s",
                 o.optimizer.c_str(), o.loadOptimizer.c_str(), saved.c_str()));
    // As a script sets group[...] after load_state_dict: in every group.
    for (const auto &[key, text] : o.hyper) {
      bool ok;
      if (key == "betas") {
        size_t comma = text.find(',');
        ok = api->set_hyperparameter(model, "beta1", std::strtod(text.c_str() + 1, nullptr)) == 0 &&
             api->set_hyperparameter(model, "beta2",
                                     std::strtod(text.c_str() + comma + 1, nullptr)) == 0;
      } else {
        ok = api->set_hyperparameter(model, key.c_str(),
                                     text == "true" ? 1.0 : std::strtod(text.c_str(), nullptr)) == 0;
      }
      if (!ok)
        die(format("--load-optimizer with --%s: %s", key.c_str(), api->last_error(model)));
    }
    return;
  }
  JsonValue options;
  options.kind = JsonValue::Kind::Object;
  std::string error;
  if (!o.optimizerOptions.empty() &&
      (!parseJson(o.optimizerOptions.data(), o.optimizerOptions.size(), options, error) ||
       !options.isObject()))
    die(format("--optimizer-options: not a JSON object%s%s", error.empty() ? "" : ": ",
               error.c_str()));
  std::string json = toJson(options);
  // The single options override the object's top-level ones.
  std::string merged = "{";
  for (const auto &[key, text] : o.hyper)
    merged += (merged.size() > 1 ? "," : "") + quoteJson(key) + ":" + text;
  for (const auto &member : options.object) {
    bool overridden = false;
    for (const auto &single : o.hyper)
      overridden = overridden || single.first == member.first;
    if (!overridden)
      merged += (merged.size() > 1 ? "," : "") + quoteJson(member.first) + ":" +
                toJson(member.second);
  }
  merged += "}";
  std::string name = o.optimizer.empty() ? "sgd" : o.optimizer;
  if (api->set_optimizer(model, name.c_str(), merged.c_str()) != 0)
    die(format("--optimizer %s: %s", name.c_str(), api->last_error(model)));
}

/// The gradients of the trainable parameters, as safetensors bytes.
std::string serializeGrads(const modelc_api *api, modelc_model *model) {
  std::vector<SafeTensor> tensors;
  std::vector<std::vector<unsigned char>> data;
  for (int32_t i = 0; i < api->num_states(model); ++i) {
    modelc_state_info info;
    api->state_info(model, i, &info);
    if (info.kind != MODELC_PARAMETER || api->requires_grad(model, info.name) != 1)
      continue;
    data.emplace_back(info.nbytes);
    if (api->read_grad(model, info.name, data.back().data(), info.nbytes) != 0)
      die(format("--grads: %s", api->last_error(model)));
    SafeTensor t;
    t.name = info.name;
    t.dtype = DType::F32;
    t.shape.assign(info.shape, info.shape + info.rank);
    t.nbytes = info.nbytes;
    tensors.push_back(std::move(t));
  }
  for (size_t k = 0; k < tensors.size(); ++k)
    tensors[k].data = data[k].data();
  return serializeSafeTensors(tensors);
}

struct Training {
  std::vector<float> losses;
  std::string gradBytes;
};

/// Step `i` of training on `batches[i mod F]`; with `grads`, the gradients
/// before the update are serialised.
float trainStep(const modelc_api *api, modelc_model *model, const Options &o,
                std::vector<Inputs> &batches, uint64_t i, std::string *grads) {
  size_t f = static_cast<size_t>(i % batches.size());
  Inputs &in = batches[f];
  int32_t n = static_cast<int32_t>(in.tensors.size());
  float loss = 0;
  auto failed = [&](const char *error) {
    return format("training step %llu on --inputs '%s': %s", static_cast<unsigned long long>(i),
                  o.inputsList[f].c_str(), error);
  };
  if (gDist) {
    // Every call here is collective and agreed on: a failure is every rank's.
    modelc_dist *dist = gDist->dist;
    bool ok;
    if (grads) {
      ok = gDist->agree(dist, api->zero_grad(model) == 0, api->last_error(model)) == 0 &&
           gDist->loss_backward(dist, in.tensors.data(), n, &loss) == 0;
      if (ok && gDist->rank == 0)
        *grads = serializeGrads(api, model); // the averaged gradients
      ok = ok && gDist->agree(dist, api->step(model) == 0, api->last_error(model)) == 0;
    } else {
      ok = gDist->train_step(dist, in.tensors.data(), n, &loss) == 0;
    }
    if (!ok)
      dieAgreed(failed(gDist->last_error(dist)));
    return loss;
  }
  bool ok;
  if (grads) {
    ok = api->zero_grad(model) == 0 &&
         api->loss_backward(model, in.tensors.data(), n, &loss) == 0;
    if (ok)
      *grads = serializeGrads(api, model);
    ok = ok && api->step(model) == 0;
  } else {
    ok = api->train_step(model, in.tensors.data(), n, &loss) == 0;
  }
  if (!ok)
    die(failed(api->last_error(model)));
  return loss;
}

/// Reads the batches (each rank's shard of them with --distributed) and
/// sets up the optimizer.
void prepareTraining(const modelc_api *api, modelc_model *model, const Options &o,
                     std::vector<Inputs> &batches) {
  for (size_t f = 0; f < o.inputsList.size(); ++f)
    readInputs(o.inputsList[f], api, model, batches[f], /*lossInputs=*/true);
  if (gDist)
    shardInputs(batches, o);
  setUpOptimizer(api, model, o);
}

Training train(const modelc_api *api, modelc_model *model, const Options &o) {
  std::vector<Inputs> batches(o.inputsList.size());
  if (gDist)
    phase([&] { prepareTraining(api, model, o, batches); });
  else
    prepareTraining(api, model, o, batches);
  // Rank 0 speaks for all ranks: the steps are in lockstep.
  bool progress = isatty(STDERR_FILENO) && (!gDist || gDist->rank == 0);
  Training result;
  double start = nowSeconds(), shown = 0;
  for (uint64_t i = 0; i < o.trainSteps; ++i) {
    bool last = i + 1 == o.trainSteps;
    result.losses.push_back(trainStep(api, model, o, batches, i,
                                      last && !o.grads.empty() ? &result.gradBytes : nullptr));
    double now = nowSeconds();
    if (progress && (last || now - shown > 0.1)) {
      shown = now;
      std::fprintf(stderr, "\rstep %llu/%llu  loss %.6g  %.1f steps/s ",
                   static_cast<unsigned long long>(i + 1),
                   static_cast<unsigned long long>(o.trainSteps), result.losses.back(),
                   static_cast<double>(i + 1) / (now - start > 0 ? now - start : 1e-9));
      if (last)
        std::fputc('\n', stderr);
      std::fflush(stderr);
    }
  }
  if (o.bench) {
    trainStep(api, model, o, batches, o.trainSteps, nullptr); // warm-up
    std::vector<double> times;
    for (uint64_t k = 0; k < o.bench; ++k) {
      double t0 = nowSeconds();
      trainStep(api, model, o, batches, o.trainSteps + 1 + k, nullptr);
      times.push_back((nowSeconds() - t0) * 1e3);
    }
    std::sort(times.begin(), times.end());
    if (gDist && gDist->rank != 0)
      return result;
    if (gDist)
      std::printf("bench: %d ranks\n", gDist->size);
    std::printf("bench: %llu training steps after 1 warm-up (%s mode): min %.4f ms, "
                "median %.4f ms, max %.4f ms\n",
                static_cast<unsigned long long>(o.bench), o.evalMode ? "evaluation" : "training",
                times.front(), times[times.size() / 2], times.back());
    std::fflush(stdout);
  }
  return result;
}

std::string serializeLosses(const std::vector<float> &losses) {
  SafeTensor t;
  t.name = "loss";
  t.dtype = DType::F32;
  t.shape = {static_cast<int64_t>(losses.size())};
  t.data = reinterpret_cast<const unsigned char *>(losses.data());
  t.nbytes = losses.size() * sizeof(float);
  return serializeSafeTensors({t});
}

/// Saves the optimizer state (--save-optimizer) as bytes.
std::string optimizerBytes(const modelc_api *api, modelc_model *model) {
  void *data = nullptr;
  size_t size = 0;
  if (api->save_optimizer_state_to_memory(model, &data, &size) != 0)
    die(format("--save-optimizer: %s", api->last_error(model)));
  std::string bytes(static_cast<const char *>(data), size);
  api->free_buffer(data);
  return bytes;
}

/// Writes every (option, path, bytes) file: all are complete on disk before
/// the first is renamed into place; on an error none is.
void writeOutputs(const std::vector<std::tuple<const char *, std::string, std::string>> &files) {
  std::vector<TempFile> temps(files.size());
  std::string error;
  auto discardAll = [&] {
    for (TempFile &t : temps)
      t.discard();
  };
  for (size_t k = 0; k < files.size(); ++k) {
    const auto &[option, path, bytes] = files[k];
    if (!path.empty() && !writeTempFile(path, bytes, temps[k], error)) {
      discardAll();
      die(format("%s '%s': %s", option, path.c_str(), error.c_str()));
    }
  }
  for (size_t k = 0; k < files.size(); ++k) {
    const auto &[option, path, bytes] = files[k];
    if (!path.empty() && !commitTempFile(temps[k], path, error)) {
      discardAll();
      die(format("%s '%s': %s", option, path.c_str(), error.c_str()));
    }
  }
}

} // namespace

int run(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  Dist dist;
  if (o.distributed)
    startDistributed(dist);
  bool writer = dist.rank == 0; // with --distributed, rank 0 alone writes
  const modelc_api *api = nullptr;
  modelc_model *model = nullptr;
  auto setUp = [&] {
    api = openModel(o.model);
    model = api->create(o.device.c_str(), o.seed);
    if (!model)
      die(format("--device %s: %s", o.device.c_str(), api->last_error(nullptr)));
    if (!o.loadState.empty() &&
        api->load_state(model, o.loadState.c_str(), o.strict ? 1 : 0) != 0)
      die(format("--load-state: %s", api->last_error(model)));
    api->set_training(model, (o.train || (o.trainSteps && !o.evalMode)) ? 1 : 0);
    if (o.trainSteps && api->num_loss_inputs(model) < 0)
      die(format("--train-steps: %s", api->last_error(model)));
  };
  if (gDist) {
    phase(setUp);
    // Rank 0's parameters and buffers on every rank, as DDP's constructor.
    std::string options = o.bucketMb.empty() ? "" : "{\"bucket_mb\": " + o.bucketMb + "}";
    dist.dist = dist.create_world(api, model, options.empty() ? nullptr : options.c_str());
    if (!dist.dist)
      dieAgreed(format("--distributed: %s", dist.last_error(nullptr)));
  } else {
    setUp();
  }
  if (o.info && writer)
    printInfo(api, model);

  std::string outputBytes, lossBytes, gradBytes, optimizerState;
  if (o.trainSteps) {
    Training result = train(api, model, o);
    if (!o.losses.empty())
      lossBytes = serializeLosses(result.losses);
    gradBytes = std::move(result.gradBytes);
    if (!o.saveOptimizer.empty() && writer)
      optimizerState = optimizerBytes(api, model);
  } else if (!o.inputs.empty()) {
    Inputs inputs;
    readInputs(o.inputs, api, model, inputs);
    for (uint64_t i = 0; i < o.repeat; ++i)
      runForward(api, model, inputs, o.inputs);
    // Serialise now: --bench runs more calls, the file holds the
    // --repeat calls' last results.
    if (!o.outputs.empty())
      outputBytes = serializeOutputs(api, model);
    if (o.bench)
      bench(api, model, inputs, o);
  }

  auto finish = [&] {
    if (!writer)
      return;
    std::string stateBytes;
    if (!o.saveState.empty()) {
      void *data = nullptr;
      size_t size = 0;
      if (api->save_state_to_memory(model, &data, &size) != 0)
        die(format("--save-state: %s", api->last_error(model)));
      stateBytes.assign(static_cast<const char *>(data), size);
      api->free_buffer(data);
    }
    writeOutputs({{"--outputs", o.outputs, outputBytes},
                  {"--losses", o.losses, lossBytes},
                  {"--grads", o.grads, gradBytes},
                  {"--save-optimizer", o.saveOptimizer, optimizerState},
                  {"--save-state", o.saveState, stateBytes}});
  };
  if (gDist) {
    // The others wait for rank 0's files, so that every rank exits with
    // its status.
    phase(finish);
    dist.destroy(dist.dist);
    api->destroy(model);
    dist.finalize();
    return 0;
  }
  finish();
  api->destroy(model);
  return 0;
}

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    die("out of memory");
  }
}
