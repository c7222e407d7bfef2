//===- modelc-run.cpp - run a compiled model from the shell ---------------===//
//
//   modelc-run model.so --inputs in.safetensors --outputs out.safetensors
//              [--load-state s] [--save-state s2] [--train] [--repeat K]
//              [--device cpu|cuda] [--non-strict] [--info] [--bench N]
//              [--seed S]
//
// Loads model.so with dlopen and drives it only through modelc_model_entry,
// so it works for any model. Nothing is written unless every step succeeded:
// outputs and state are serialised in memory, written to temporary files and
// only then renamed into place.
//
//===----------------------------------------------------------------------===//
#include "Inputs.h"
#include "modelc/modelc.h"
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
#include <ctime>
#include <dlfcn.h>
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
    "  --seed S        seed of the initial state (default 0)\n";

struct Options {
  std::string model;
  std::string inputs, outputs, loadState, saveState;
  std::string device = "cpu";
  bool train = false, strict = true, info = false;
  uint64_t repeat = 1, bench = 0, seed = 0;
};

/// Every error ends the run: a message on stderr and exit status 1.
[[noreturn]] void die(const std::string &message) {
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
    } else if (arg == "--inputs") o.inputs = value();
    else if (arg == "--outputs") o.outputs = value();
    else if (arg == "--load-state") o.loadState = value();
    else if (arg == "--save-state") o.saveState = value();
    else if (arg == "--train") o.train = true;
    else if (arg == "--non-strict") o.strict = false;
    else if (arg == "--info") o.info = true;
    else if (arg == "--repeat") o.repeat = parseCount("--repeat", value(), false);
    else if (arg == "--bench") o.bench = parseCount("--bench", value(), false);
    else if (arg == "--seed") o.seed = parseCount("--seed", value(), true);
    else if (arg == "--device") o.device = value();
    else if (arg.size() > 1 && arg[0] == '-')
      die(format("unknown option '%s' (see --help)", arg.c_str()));
    else if (o.model.empty())
      o.model = arg;
    else
      die(format("unexpected argument '%s': only one model library is "
                 "accepted", arg.c_str()));
  }
  if (o.model.empty())
    die(std::string("no model library given\n") + kUsage);
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
               "%u bytes, without trim; this modelc-run needs %zu (compile "
               "the model again)", path.c_str(), api->size, sizeof(modelc_api)));
  return api;
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
void printDerived(const modelc_api *api) {
  JsonValue root;
  std::string error;
  if (!api->desc_json ||
      !parseJson(api->desc_json, std::strlen(api->desc_json), root, error))
    return;
  const JsonValue *derived = root.get("derived");
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

void printInfo(const modelc_api *api, modelc_model *model) {
  std::printf("model %s (prefix %s, device %s)\n", api->name, api->prefix,
              api->device(model));
  std::printf("inputs:\n");
  for (int32_t i = 0; i < api->num_inputs(model); ++i) {
    modelc_io_info info;
    api->input_info(model, i, &info);
    std::printf("  %s: %s %s\n", info.name, dtypeText(info.dtype),
                dimsText(info.shape, info.rank).c_str());
  }
  std::printf("outputs:\n");
  for (int32_t i = 0; i < api->num_outputs(model); ++i) {
    modelc_io_info info;
    api->output_info(model, i, &info);
    std::printf("  %s: %s %s\n", info.name, dtypeText(info.dtype),
                dimsText(info.shape, info.rank).c_str());
  }
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
    std::printf("  %s: %s %s%s\n", info.name, dtypeText(info.dtype),
                dimsText(info.shape, info.rank).c_str(),
                info.kind == MODELC_NONPERSISTENT_BUFFER ? " (non-persistent)"
                                                         : "");
  }
  if (!inBuffers)
    std::printf("buffers:\n");
  printDerived(api);
  std::fflush(stdout);
}

void readInputs(const std::string &path, const modelc_api *api,
                modelc_model *model, Inputs &inputs) {
  std::string bytes, error;
  std::vector<std::string> names;
  for (int32_t i = 0; i < api->num_inputs(model); ++i) {
    modelc_io_info info;
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

} // namespace

int run(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  const modelc_api *api = openModel(o.model);
  modelc_model *model = api->create(o.device.c_str(), o.seed);
  if (!model)
    die(format("--device %s: %s", o.device.c_str(), api->last_error(nullptr)));
  if (!o.loadState.empty() &&
      api->load_state(model, o.loadState.c_str(), o.strict ? 1 : 0) != 0)
    die(format("--load-state: %s", api->last_error(model)));
  api->set_training(model, o.train ? 1 : 0);
  if (o.info)
    printInfo(api, model);

  std::string outputBytes;
  if (!o.inputs.empty()) {
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

  std::string stateBytes;
  if (!o.saveState.empty()) {
    void *data = nullptr;
    size_t size = 0;
    if (api->save_state_to_memory(model, &data, &size) != 0)
      die(format("--save-state: %s", api->last_error(model)));
    stateBytes.assign(static_cast<const char *>(data), size);
    api->free_buffer(data);
  }
  api->destroy(model);

  // Both files are complete on disk before either is renamed into place.
  std::string error;
  TempFile outputsTemp, stateTemp;
  if (!o.outputs.empty() &&
      !writeTempFile(o.outputs, outputBytes, outputsTemp, error))
    die(format("--outputs '%s': %s", o.outputs.c_str(), error.c_str()));
  if (!o.saveState.empty() &&
      !writeTempFile(o.saveState, stateBytes, stateTemp, error)) {
    outputsTemp.discard();
    die(format("--save-state '%s': %s", o.saveState.c_str(), error.c_str()));
  }
  if (!o.outputs.empty() && !commitTempFile(outputsTemp, o.outputs, error)) {
    stateTemp.discard();
    die(format("--outputs '%s': %s", o.outputs.c_str(), error.c_str()));
  }
  if (!o.saveState.empty() && !commitTempFile(stateTemp, o.saveState, error))
    die(format("--save-state '%s': %s", o.saveState.c_str(), error.c_str()));
  return 0;
}

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc &) {
    die("out of memory");
  }
}
