//===- modelc.cpp - The modelc compiler driver ----------------------------===//
//
// modelc model.mdl -o model.so      one self-contained shared library
// modelc model.mdl -c -o model.o    the generated code as an object file
// modelc model.mdl --emit=mdl|linalg|llvm   the program at a stage
// modelc a.o [b.o ...] --prefix=P -o model.so   link objects of -c with the
//                                   runtime, exactly as the first form does
//
// The stages are the pipelines of compiler/lowering/Pipelines.h; the driver
// only chooses them by target and stops where --emit says
// (docs/PIPELINE.md).
//
// Errors go through MLIR's diagnostics with the file, line, column, the
// source line and a caret. On any error the exit status is 1 and no output
// file is written: output goes to a temporary file renamed into place.
//
//===----------------------------------------------------------------------===//

#include "frontend/Elaborate.h"
#include "frontend/Parser.h"
#include "lowering/Pipelines.h"
#include "lowering/emission/Emission.h"
#include "lowering/gpu/Cuda.h"
#include "mdl/IR/MdlOps.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <limits>

#include <fcntl.h>
#include <unistd.h>

using namespace llvm;

namespace {
enum class Emit { Lib, Mdl, Linalg, LLVM, Header, Static };

cl::OptionCategory category("modelc options");
cl::list<std::string> inputFiles(cl::Positional, cl::desc("<model.mdl | objects.o...>"),
                                 cl::OneOrMore, cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file"), cl::value_desc("file"),
                                cl::init("-"), cl::cat(category));
cl::opt<Emit> emit("emit", cl::desc("What to produce"), cl::init(Emit::Lib),
                   cl::values(clEnumValN(Emit::Lib, "lib", "a shared library (default)"),
                              clEnumValN(Emit::Mdl, "mdl", "the program in the mdl dialect"),
                              clEnumValN(Emit::Linalg, "linalg", "after lowering to linalg"),
                              clEnumValN(Emit::LLVM, "llvm", "LLVM IR"),
                              clEnumValN(Emit::Header, "header", "the C header"),
                              clEnumValN(Emit::Static, "static",
                                         "one object with the model and the runtime, only "
                                         "the prefixed ABI global: for static applications "
                                         "(link with -lm -lpthread -ldl)")),
                   cl::cat(category));
cl::opt<std::string> modelName("model", cl::desc("The model to compile when a file holds several"),
                               cl::value_desc("name"), cl::cat(category));
cl::opt<std::string> target("target", cl::desc("cpu or cuda"), cl::init("cpu"),
                            cl::cat(category));
cl::opt<std::string> gpuArch("gpu-arch",
                             cl::desc("CUDA architectures to compile for, with PTX of the "
                                      "lowest for newer chips (default sm_80,sm_90)"),
                             cl::value_desc("sm_80,sm_90"), cl::init("sm_80,sm_90"),
                             cl::cat(category));
cl::opt<std::string> cudaPath("cuda-path",
                              cl::desc("The CUDA toolkit (default: $CUDA_HOME, ptxas on PATH, "
                                       "/usr/local/cuda)"),
                              cl::value_desc("dir"), cl::cat(category));
// For tests on machines without a GPU: the CUDA back end's kernels run as
// loops through the CPU back end, so that the GPU mapping meets the
// end-to-end tests.
cl::opt<bool> cudaEmulate("cuda-emulate", cl::desc("Run the CUDA kernels as host loops (testing)"),
                          cl::Hidden, cl::cat(category));
// The machine the library is for: this one's architecture (the default), or
// ARM64 Linux, linked with Debian's cross toolchain and the runtime built
// for it (README.md, "Cross-compiling for ARM64"). llc's and onnx-mlir's
// flag name.
cl::opt<std::string> mtriple(
    "mtriple",
    cl::desc("The target: x86_64-linux-gnu (the default: this machine's) or aarch64-linux-gnu "
             "(ARM64 Linux: NEON, SVE where --cpu has it)"),
    cl::value_desc("triple"), cl::cat(category));
// The CPU the code is for: native (the machine modelc runs on), an x86-64
// level, or any CPU LLVM knows. The library checks at create that the CPU
// running it has the instruction sets this needs (docs/ABI.md). The default,
// portable, holds the code twice, for x86-64-v3 and x86-64-v4, and the
// runtime runs the best one the CPU has (README.md, "Choosing the CPU").
cl::opt<std::string> cpuName(
    "cpu",
    cl::desc("The CPU to compile for: portable (the default: x86-64-v3 and x86-64-v4 code, "
             "chosen at load from CPUID; on ARM64, generic), native (this machine), x86-64-v2, "
             "x86-64-v3 (AVX2 and FMA: every x86-64 server since 2013), x86-64-v4 (AVX-512), "
             "or an LLVM CPU name (znver4, skylake-avx512, neoverse-v1, ...)"),
    cl::value_desc("name"), cl::init("portable"), cl::cat(category));
cl::opt<std::string> cpuFeatures(
    "cpu-features",
    cl::desc("Instruction sets to add (+) to or remove (-) from --cpu's, as llc's -mattr: "
             "+avx512f,-avx512bw"),
    cl::value_desc("+f,-g"), cl::cat(category));
cl::opt<bool> objectOnly("c", cl::desc("Emit an object file for static linking"),
                         cl::cat(category));
cl::opt<std::string> prefix("prefix", cl::desc("Symbol prefix (default: the model's name)"),
                            cl::cat(category));
cl::opt<std::string> weights("weights", cl::desc("Bake this state dict into the library"),
                             cl::value_desc("state.safetensors"), cl::cat(category));
cl::opt<char> optLevel("O", cl::desc("Optimization level: -O0 to -O3 (default -O2)"),
                       cl::Prefix, cl::init('2'), cl::cat(category));
cl::opt<bool> verbose("v", cl::desc("Say what is done"), cl::cat(category));
cl::opt<bool> forwardBackward(
    "forward-backward",
    cl::desc("For a model with a loss, also compile forward_backward (y.backward(g)): two more "
             "joint functions, about twice the training code"),
    cl::cat(category));
cl::opt<bool> syncBatchNorm(
    "sync-batchnorm",
    cl::desc("Every BatchNorm takes its training-mode batch statistics over all the ranks of "
             "data-parallel training, as torch.nn.SyncBatchNorm (CPU target)"),
    cl::cat(category));
cl::opt<unsigned> errorLimit("error-limit",
                             cl::desc("Stop reporting errors after N (default 20; 0: no limit)"),
                             cl::value_desc("N"), cl::init(20), cl::cat(category));

/// The largest .mdl source modelc reads: thousands of times the largest real
/// model's, small enough that a device or a runaway file ends in an error
/// rather than in exhausting memory (docs/FUZZING.md lists the limits).
constexpr uint64_t kMaxSourceBytes = uint64_t(64) << 20;

/// With -v, says on stderr what was just done and how long it took.
struct Narrator {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
  void operator()(StringRef what) {
    auto now = std::chrono::steady_clock::now();
    if (verbose)
      errs() << fmt::format("modelc: {} ({:.2f} s)\n", what.str(),
                            std::chrono::duration<double>(now - last).count());
    last = now;
  }
};

/// The contents of the file `path`, or null after an error that names it
/// (`what` says what the file is, "--weights file", or nothing). Only regular
/// files are read: opening a FIFO would block until a writer comes, and a
/// device such as /dev/zero never ends. The file is opened without blocking
/// and checked before any read, so that neither can hang. Files over
/// `maxBytes` are refused. "-" is stdin (when `allowStdin`), read only up to
/// `maxBytes`.
std::unique_ptr<MemoryBuffer> readInput(StringRef path, StringRef what, bool allowStdin,
                                        uint64_t maxBytes) {
  auto fail = [&](const std::string &why) -> std::unique_ptr<MemoryBuffer> {
    errs() << fmt::format("modelc: error: cannot read {}{}'{}': {}\n", what.str(),
                          what.empty() ? "" : " ", path.str(), why);
    return nullptr;
  };
  auto tooLarge = [&] {
    return fail(fmt::format("larger than the limit of {} bytes", maxBytes));
  };
  if (allowStdin && path == "-") {
    // A pipe has no size to check first: read until the limit is passed.
    SmallString<0> contents;
    char chunk[1 << 16];
    for (;;) {
      Expected<size_t> got = sys::fs::readNativeFile(sys::fs::getStdinHandle(), chunk);
      if (!got)
        return fail(toString(got.takeError()));
      if (*got == 0)
        break;
      contents.append(chunk, chunk + *got);
      if (contents.size() > maxBytes)
        return tooLarge();
    }
    return MemoryBuffer::getMemBufferCopy(contents, "<stdin>");
  }
  int fd = ::open(path.str().c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return fail(std::error_code(errno, std::generic_category()).message());
  llvm::scope_exit closeFile([&] { ::close(fd); });
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(fd, status))
    return fail(ec.message());
  if (status.type() != sys::fs::file_type::regular_file)
    return fail("not a regular file");
  if (status.getSize() > maxBytes)
    return tooLarge();
  auto buffer = MemoryBuffer::getOpenFile(fd, path, status.getSize(),
                                          /*RequiresNullTerminator=*/true);
  if (std::error_code ec = buffer.getError())
    return fail(ec.message());
  return std::move(*buffer);
}

/// As clang's -ferror-limit: passes the first `limit` errors on to the
/// handlers registered before it (all of them when `limit` is 0), drops the
/// rest with their notes, and says how many it dropped when it goes, so that
/// 200,000 bad lines give `limit` errors and one line rather than 200,000.
/// Warnings and remarks always pass.
class ErrorLimit : public mlir::ScopedDiagnosticHandler {
public:
  ErrorLimit(mlir::MLIRContext *context, unsigned maxErrors)
      : ScopedDiagnosticHandler(context), limit(maxErrors) {
    setHandler([this](mlir::Diagnostic &diag) -> LogicalResult {
      if (diag.getSeverity() != mlir::DiagnosticSeverity::Error)
        return failure();
      if (limit == 0 || shown < limit) {
        ++shown;
        return failure(); // not handled here: the next handler prints it
      }
      ++dropped;
      return success();
    });
  }
  ~ErrorLimit() {
    if (dropped)
      errs() << fmt::format("modelc: error: too many errors: {} more not shown "
                            "(--error-limit={}; 0 shows them all)\n",
                            dropped, limit);
  }

private:
  unsigned limit;
  uint64_t shown = 0;
  uint64_t dropped = 0;
};

/// Writes `text` to `path` (or stdout for "-") through a temporary file that is
/// renamed into place, so that a failure never leaves a partial output.
bool writeOutput(StringRef path, StringRef text) {
  if (path == "-") {
    outs() << text;
    outs().flush();
    return true;
  }
  std::string error;
  auto out = mlir::openOutputFile(path, &error);
  if (!out) {
    errs() << fmt::format("modelc: error: cannot write '{}': {}\n", path.str(), error);
    return false;
  }
  out->os() << text;
  out->os().flush();
  if (out->os().has_error()) {
    errs() << fmt::format("modelc: error: cannot write '{}'\n", path.str());
    out->os().clear_error();
    return false;
  }
  out->keep();
  return true;
}
/// Whether `p` can prefix the exported C symbols; says why not.
bool checkPrefix(StringRef p) {
  bool identifier = !p.empty() && !isDigit(p[0]) &&
                    llvm::all_of(p, [](char c) { return isAlnum(c) || c == '_'; });
  if (!identifier)
    errs() << fmt::format("modelc: error: --prefix={}: the symbol prefix must be a C "
                          "identifier\n",
                          p.str());
  return identifier;
}

/// `modelc a.o b.o --prefix=P -o model.so`: the objects of `modelc -c` (or
/// any PIC objects with the generated entry points) linked with the runtime,
/// by the very link step that `modelc model.mdl -o model.so` takes.
int linkObjects(const llvm::Triple &triple) {
  if (prefix.empty()) {
    errs() << "modelc: error: linking objects needs --prefix=NAME: the model's name, "
              "which the objects do not say\n";
    return 1;
  }
  if (!checkPrefix(prefix))
    return 1;
  if (outputFile == "-") {
    errs() << (emit == Emit::Static
                   ? "modelc: error: --emit=static needs an output file: use -o model.o\n"
                   : "modelc: error: a shared library needs an output file: use -o model.so\n");
    return 1;
  }
  for (const std::string &object : inputFiles)
    if (!sys::fs::is_regular_file(object)) {
      errs() << fmt::format("modelc: error: cannot read '{}': not a regular file\n", object);
      return 1;
    }
  std::string error;
  std::vector<std::string> objects(inputFiles.begin(), inputFiles.end());
  if (failed(emit == Emit::Static
                 ? modelc::lowering::linkStaticObject(objects, outputFile, prefix, triple, error)
                 : modelc::lowering::linkSharedLibrary(objects, outputFile, prefix, triple,
                                                       error))) {
    errs() << fmt::format("modelc: error: {}\n", error);
    return 1;
  }
  return 0;
}

/// Whether the command line asks the pass managers for IR dumps or timing
/// reports, which two pipelines run side by side would interleave.
bool passesReport() {
  for (auto &entry : cl::getRegisteredOptions()) {
    StringRef name = entry.first;
    if ((name.starts_with("mlir-print-ir") || name.starts_with("mlir-timing")) &&
        entry.second->getNumOccurrences() > 0)
      return true;
  }
  return false;
}
} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions({&category});
  cl::AddExtraVersionPrinter(
      [](raw_ostream &os) { os << "modelc 0.1 (mdl dialect, MLIR " << LLVM_VERSION_MAJOR << ")\n"; });
  cl::ParseCommandLineOptions(argc, argv, "modelc: compile a .mdl model to native code\n");

  if (optLevel < '0' || optLevel > '3') {
    errs() << fmt::format("modelc: error: unknown optimization level '-O{}'; use -O0 to -O3\n",
                          optLevel.getValue());
    return 1;
  }
  if (syncBatchNorm && target == "cuda") {
    errs() << "modelc: error: --sync-batchnorm needs --target=cpu: data-parallel training runs "
              "on the CPU (docs/DISTRIBUTED.md)\n";
    return 1;
  }
  if (target != "cpu" && target != "cuda") {
    errs() << fmt::format("modelc: error: unknown target '{}'; expected cpu or cuda\n",
                          target.getValue());
    return 1;
  }

  std::string tripleError;
  FailureOr<llvm::Triple> triple = modelc::lowering::resolveTriple(mtriple, tripleError);
  if (failed(triple)) {
    errs() << fmt::format("modelc: error: {}\n", tripleError);
    return 1;
  }
  if (triple->isAArch64() && target == "cuda") {
    errs() << fmt::format("modelc: error: --target=cuda builds x86-64 libraries only, not for "
                          "--mtriple={}\n",
                          mtriple.getValue());
    return 1;
  }

  if (objectOnly && emit == Emit::Static) {
    errs() << "modelc: error: -c and --emit=static are two kinds of object: -c the model's "
              "code alone (linked later by modelc), --emit=static the model with the runtime\n";
    return 1;
  }

  // Objects only: link them with the runtime (the second half of -c).
  bool onlyObjects = llvm::all_of(inputFiles, [](const std::string &f) {
    return StringRef(f).ends_with(".o");
  });
  if (onlyObjects)
    return linkObjects(*triple);
  if (inputFiles.size() != 1) {
    errs() << fmt::format("modelc: error: expected one model file or only object files (.o), "
                          "got {}\n",
                          llvm::join(inputFiles, " "));
    return 1;
  }
  const std::string &inputFile = inputFiles.front();
  std::unique_ptr<MemoryBuffer> buffer =
      readInput(inputFile, "", /*allowStdin=*/true, kMaxSourceBytes);
  if (!buffer)
    return 1;

  mlir::DialectRegistry registry;
  modelc::lowering::registerCodegenDialects(registry);
  mlir::MLIRContext context(registry);
  SourceMgr sourceMgr;
  std::string path = inputFile == "-" ? "<stdin>" : inputFile;
  StringRef contents = buffer->getBuffer();
  sourceMgr.AddNewSourceBuffer(MemoryBuffer::getMemBuffer(contents, path), SMLoc());
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  // Registered after the printer, so that it sees each diagnostic first.
  ErrorLimit limitErrors(&context, errorLimit);

  Narrator narrate;
  auto file = modelc::parseFile(path, contents, &context, errorLimit);
  if (!file)
    return 1;
  modelc::ElaborateOptions elaborateOptions;
  elaborateOptions.syncBatchNorm = syncBatchNorm;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      modelc::elaborate(*file, modelName, &context, {}, elaborateOptions);
  if (!module)
    return 1;
  narrate(fmt::format("parsed and elaborated '{}' into the mdl dialect", path));
  auto printModule = [&]() {
    std::string text;
    raw_string_ostream os(text);
    module->print(os);
    return writeOutput(outputFile, text) ? 0 : 1;
  };
  if (emit == Emit::Mdl)
    return printModule();
  bool cuda = target == "cuda";
  modelc::lowering::CudaOptions cudaOptions;
  if (cuda) {
    std::string error;
    cudaOptions.emulate = cudaEmulate;
    if (failed(modelc::lowering::parseGpuArchs(gpuArch, cudaOptions.archs, error))) {
      errs() << fmt::format("modelc: error: {}\n", error);
      return 1;
    }
    if (!cudaOptions.emulate) {
      auto toolkit = modelc::lowering::findCudaToolkit(cudaPath, error);
      if (failed(toolkit)) {
        errs() << fmt::format("modelc: error: {}\n", error);
        return 1;
      }
      cudaOptions.cudaPath = *toolkit;
    }
  }

  modelc::lowering::CodegenOptions options;
  options.optLevel = optLevel - '0';
  std::string modelSym;
  for (auto m : module->getOps<mlir::mdl::ModelOp>())
    modelSym = m.getSymName().str();
  options.prefix = prefix.empty() ? modelSym : prefix.getValue();
  if (!checkPrefix(options.prefix))
    return 1;
  std::string cpuError;
  // portable: the x86-64-v3 code, and the x86-64-v4 code as its variant
  // (not beside CUDA kernels: a --target=cuda library's CPU code is one).
  // ARM64's baseline, generic (ARMv8-A with NEON), is one variant.
  bool portable = cpuName == "portable" && !triple->isAArch64();
  StringRef cpuChoice = cpuName == "portable" ? (portable ? "x86-64-v3" : "generic")
                                              : StringRef(cpuName.getValue());
  if (portable && !cpuFeatures.empty()) {
    errs() << "modelc: error: --cpu-features needs a single --cpu (not the default, "
              "portable): name one, e.g. --cpu=x86-64-v3\n";
    return 1;
  }
  auto cpu = modelc::lowering::resolveCpuTarget(*triple, cpuChoice, cpuFeatures, cpuError);
  if (failed(cpu)) {
    errs() << fmt::format("modelc: error: {}\n", cpuError);
    return 1;
  }
  options.cpu = *cpu;
  std::optional<modelc::lowering::CpuTarget> variantCpu;
  if (portable && target == "cpu") {
    auto v4 = modelc::lowering::resolveCpuTarget(*triple, "x86-64-v4", "", cpuError);
    if (failed(v4)) {
      errs() << fmt::format("modelc: error: {}\n", cpuError);
      return 1;
    }
    variantCpu = *v4;
  }
  if (!weights.empty()) {
    // No size limit: a state dict is as large as the model's parameters.
    std::unique_ptr<MemoryBuffer> bytes =
        readInput(weights, "--weights file", /*allowStdin=*/false,
                  std::numeric_limits<uint64_t>::max());
    if (!bytes)
      return 1;
    options.weights = bytes->getBuffer().str();
    std::string error;
    if (failed(modelc::lowering::checkWeights(*module, options.weights, error))) {
      errs() << fmt::format("modelc: error: --weights file '{}' does not fit model '{}': {}\n",
                            weights.getValue(), modelSym, error);
      return 1;
    }
  }
  if (emit == Emit::Header) {
    auto header = modelc::lowering::emitHeader(*module, options.prefix);
    return succeeded(header) && writeOutput(outputFile, *header) ? 0 : 1;
  }
  namespace lowering = modelc::lowering;
  if (forwardBackward)
    (*module)->setAttr(mlir::mdl::kForwardBackwardAttr, mlir::UnitAttr::get(&context));
  auto description = lowering::describeModel(*module, options.prefix);
  if (failed(description) ||
      failed(lowering::runPipeline(*module, lowering::buildMdlToFusedLinalgPipeline)))
    return 1;
  // What the runtime checks at create before it runs any of this code.
  description->cpu = options.cpu.cpu;
  description->cpuFeatures = options.cpu.requiredFeatures;
  if (cuda && emit == Emit::Linalg)
    return printModule(); // where the CPU and CUDA back ends part
  // The GPU copy of the model: its own entries, beside the CPU code.
  mlir::OwningOpRef<mlir::ModuleOp> cudaModule, variantModule;
  if (cuda && cudaOptions.emulate) {
    if (failed(lowering::runPipeline(*module, lowering::buildGpuMappingPipeline)) ||
        failed(lowering::runPipeline(*module, lowering::buildGpuEmulationPipeline)))
      return 1;
    narrate("mapped to GPU kernels, emulated as host loops");
  } else {
    if (cuda) {
      cudaModule = module->clone();
      lowering::renameForCuda(*cudaModule);
    }
    // The variant's copy, lowered as the module is, for its CPU: on a
    // second thread, beside the module, when the context is thread-safe
    // (its dialects loaded first: loading one is not). The two lowerings
    // share nothing but the context's uniqued types and attributes, and
    // ResNet-18's each take 1-2 s on one core (8 s with training).
    std::future<LogicalResult> variantLowered;
    if (variantCpu && emit != Emit::Linalg) {
      variantModule = module->clone();
      (*variantModule)->setAttr(mlir::mdl::kCpuTargetAttr, variantCpu->toAttr(&context));
      auto lowerVariant = [variant = *variantModule]() -> LogicalResult {
        if (failed(lowering::runPipeline(variant, lowering::buildCpuTilingPipeline)) ||
            failed(lowering::runPipeline(variant, lowering::buildCpuToLLVMPipeline)))
          return failure();
        variant->removeAttr(mlir::mdl::kCpuTargetAttr);
        return success();
      };
      if (context.isMultithreadingEnabled() && !passesReport()) {
        context.loadAllAvailableDialects();
        variantLowered = std::async(std::launch::async, lowerVariant);
      } else {
        variantLowered = std::async(std::launch::deferred, lowerVariant);
      }
    }
    // The CPU passes tune for the target description on the module.
    (*module)->setAttr(mlir::mdl::kCpuTargetAttr, options.cpu.toAttr(&context));
    if (failed(lowering::runPipeline(*module, lowering::buildCpuTilingPipeline)))
      return 1;
    narrate(fmt::format("lowered to linalg: fused, tiled, loops ordered for {}", options.cpu.cpu));
    if (emit == Emit::Linalg)
      return printModule();
    if (failed(lowering::runPipeline(*module, lowering::buildCpuToLLVMPipeline)))
      return 1;
    (*module)->removeAttr(mlir::mdl::kCpuTargetAttr);
    narrate("bufferized and lowered to the LLVM dialect");
    if (variantLowered.valid()) {
      if (failed(variantLowered.get()))
        return 1;
      narrate(fmt::format("the same for {}, the library's second CPU variant", variantCpu->cpu));
    }
  }
  if (cudaModule) {
    std::string error;
    lowering::GpuToNVVMOptions nvvm;
    nvvm.chip = lowering::lowestArch(cudaOptions.archs).str();
    nvvm.toolkit = cudaOptions.cudaPath;
    if (failed(lowering::runPipeline(*cudaModule, lowering::buildGpuMappingPipeline)) ||
        failed(lowering::runPipeline(*cudaModule, [&](mlir::OpPassManager &pm) {
          lowering::buildGpuToNVVMPipeline(pm, nvvm);
        })))
      return 1;
    narrate("mapped to GPU kernels and lowered to NVVM and PTX");
    if (failed(lowering::embedFatbinaries(*cudaModule, cudaOptions, error))) {
      errs() << fmt::format("modelc: error: {}\n", error);
      return 1;
    }
    narrate(fmt::format("compiled the PTX for {} with ptxas, packed with fatbinary",
                        llvm::join(cudaOptions.archs, ", ")));
  }
  llvm::LLVMContext llvmContext;
  auto llvmModule = lowering::translateToLLVMIR(
      *module, cudaModule ? *cudaModule : mlir::ModuleOp(), llvmContext, *description, options,
      variantModule ? *variantModule : mlir::ModuleOp(), variantCpu ? &*variantCpu : nullptr);
  if (!llvmModule) {
    errs() << "modelc: error: translation to LLVM IR failed\n";
    return 1;
  }
  if (emit == Emit::LLVM) {
    std::string text;
    raw_string_ostream os(text);
    llvmModule->print(os, nullptr);
    return writeOutput(outputFile, text) ? 0 : 1;
  }

  std::string error;
  if (objectOnly) {
    SmallVector<char> object;
    if (failed(modelc::lowering::emitObject(*llvmModule, options, object, error))) {
      errs() << fmt::format("modelc: error: {}\n", error);
      return 1;
    }
    return writeOutput(outputFile, StringRef(object.data(), object.size())) ? 0 : 1;
  }
  if (outputFile == "-") {
    errs() << (emit == Emit::Static
                   ? "modelc: error: --emit=static needs an output file: use -o model.o\n"
                   : "modelc: error: a shared library needs an output file: use -o model.so\n");
    return 1;
  }
  std::vector<SmallVector<char, 0>> objects;
  if (failed(modelc::lowering::emitObjects(*llvmModule, options, objects, error))) {
    errs() << fmt::format("modelc: error: {}\n", error);
    return 1;
  }
  size_t bytes = 0;
  for (const SmallVector<char, 0> &object : objects)
    bytes += object.size();
  narrate(fmt::format("optimized at -O{} and generated {} bytes of object code in {} "
                      "partition(s)",
                      options.optLevel, bytes, objects.size()));
  // The objects go to temporary files for the linker, removed afterwards.
  std::vector<std::string> objectPaths;
  llvm::scope_exit removeObjects([&] {
    for (const std::string &path : objectPaths)
      sys::fs::remove(path);
  });
  for (const SmallVector<char, 0> &object : objects) {
    SmallString<128> path;
    int fd;
    if (sys::fs::createTemporaryFile("modelc", "o", fd, path)) {
      errs() << "modelc: error: cannot create a temporary object file\n";
      return 1;
    }
    objectPaths.push_back(std::string(path));
    raw_fd_ostream os(fd, /*shouldClose=*/true);
    os.write(object.data(), object.size());
  }
  if (failed(emit == Emit::Static
                 ? lowering::linkStaticObject(objectPaths, outputFile, options.prefix, *triple,
                                              error)
                 : lowering::linkSharedLibrary(objectPaths, outputFile, options.prefix, *triple,
                                               error))) {
    errs() << fmt::format("modelc: error: {}\n", error);
    return 1;
  }
  narrate(fmt::format("linked '{}' with the runtime; symbols prefixed '{}_'",
                      outputFile.getValue(), options.prefix));
  return 0;
}
