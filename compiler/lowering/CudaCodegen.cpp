//===- CudaCodegen.cpp - GPU kernels, PTX, cubins and one fatbinary -------===//
//
// The CUDA half of the back end (docs/CUDA.md). From fused linalg on tensors:
// loops in device memory become kernels (-mdl-map-to-gpu), kernels go to one
// gpu.module, its NVVM IR to PTX (LLVM's NVPTX back end, libdevice linked),
// and the PTX through the toolkit's ptxas to a cubin per architecture, which
// fatbinary packs with the PTX itself (JIT-compiled by the driver on newer
// chips) into the blob the host code hands to mgpuModuleLoad. The host side
// calls the mgpu* functions that the runtime implements on the driver API.
//
//===----------------------------------------------------------------------===//

#include "lowering/Codegen.h"
#include "lowering/ExternalTools.h"
#include "lowering/Passes.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <fmt/format.h>

#include <thread>

using namespace mlir;

namespace modelc::lowering {

namespace {

/// The lowest architecture: the PTX is generated for it, so that it runs
/// (JIT-compiled) on every chip at least as new.
StringRef lowestArch(ArrayRef<std::string> archs) {
  return *llvm::min_element(archs, [](const std::string &a, const std::string &b) {
    return std::stoi(a.substr(3)) < std::stoi(b.substr(3));
  });
}

} // namespace

LogicalResult parseGpuArchs(StringRef list, std::vector<std::string> &archs, std::string &error) {
  SmallVector<StringRef> items;
  list.split(items, ',', -1, /*KeepEmpty=*/true);
  for (StringRef item : items) {
    item = item.trim();
    unsigned number;
    if (!item.consume_front("sm_") || item.getAsInteger(10, number) || number < 50 ||
        number > 999) {
      error = fmt::format("--gpu-arch={}: '{}' is not a CUDA architecture; expected a "
                          "comma-separated list such as sm_80,sm_90",
                          list.str(), item.str());
      return failure();
    }
    std::string arch = fmt::format("sm_{}", number);
    if (llvm::find(archs, arch) == archs.end())
      archs.push_back(arch);
  }
  return success();
}

FailureOr<std::string> findCudaToolkit(StringRef explicitPath, std::string &error) {
  auto hasTools = [](StringRef dir) {
    llvm::SmallString<256> ptxas(dir), fatbinary(dir);
    llvm::sys::path::append(ptxas, "bin", "ptxas");
    llvm::sys::path::append(fatbinary, "bin", "fatbinary");
    return llvm::sys::fs::can_execute(ptxas) && llvm::sys::fs::can_execute(fatbinary);
  };
  if (!explicitPath.empty()) {
    if (hasTools(explicitPath))
      return explicitPath.str();
    error = fmt::format("--cuda-path={}: no bin/ptxas and bin/fatbinary there",
                        explicitPath.str());
    return failure();
  }
  SmallVector<std::string> candidates;
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (const char *dir = std::getenv(var))
      candidates.push_back(dir);
  if (auto ptxas = llvm::sys::findProgramByName("ptxas"))
    candidates.push_back(llvm::sys::path::parent_path(llvm::sys::path::parent_path(*ptxas)).str());
  candidates.push_back("/usr/local/cuda");
  for (const std::string &dir : candidates)
    if (hasTools(dir))
      return dir;
  error = "--target=cuda needs ptxas and fatbinary from the CUDA toolkit: none found in "
          "$CUDA_HOME, $CUDA_PATH, $CUDA_ROOT, on PATH or in /usr/local/cuda; "
          "use --cuda-path=DIR";
  return failure();
}

/// The bufferized, loop-level form that both the CUDA back end and its CPU
/// emulation start from: every function's loops as kernels on device memory.
static std::string gpuMappingPipeline() {
  return "func.func(mdl-split-outer-reductions, mdl-parallel-loops-outermost), "
         "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map}, canonicalize, "
         "func.func(buffer-hoisting), buffer-deallocation-pipeline, "
         "convert-bufferization-to-memref, func.func(mdl-expand-strided-copies{all-copies=1}), "
         "convert-linalg-to-parallel-loops, canonicalize, cse, func.func(mdl-map-to-gpu), "
         "canonicalize, cse";
}

LogicalResult lowerToGpu(ModuleOp module, const CudaOptions &options) {
  if (failed(runPipelineText(module, gpuMappingPipeline())))
    return failure();
  if (options.emulate)
    // The kernels run as host loops through the CPU back end.
    return runPipelineText(module, "func.func(mdl-gpu-launch-to-loops), " + cpuLoweringTail());
  std::string chip = lowestArch(options.archs).str();
  return runPipelineText(
      module,
      "gpu-kernel-outlining, mdl-merge-gpu-modules, func.func(gpu-async-region), "
      "convert-scf-to-cf, convert-nvvm-to-llvm, convert-func-to-llvm, "
      "expand-strided-metadata, "
      // PTX ISA 8.0 (CUDA 12.0) covers sm_90; ptxas of CUDA 13 reads it.
      "nvvm-attach-target{chip=" + chip + " features=+ptx80 O=3}, "
      "lower-affine, convert-arith-to-llvm, convert-index-to-llvm, canonicalize, cse, "
      "gpu.module(strip-debuginfo, convert-gpu-to-nvvm, llvm-optimize-for-nvvm-target, "
      "canonicalize, cse, reconcile-unrealized-casts), "
      "gpu-to-llvm, finalize-memref-to-llvm, "
      "gpu-module-to-binary{format=isa toolkit=" + options.cudaPath + "}, "
      "convert-math-to-llvm, canonicalize, cse, reconcile-unrealized-casts");
}

LogicalResult embedFatbinaries(ModuleOp module, const CudaOptions &options, std::string &error) {
  llvm::SmallString<256> ptxas(options.cudaPath), fatbinary(options.cudaPath);
  llvm::sys::path::append(ptxas, "bin", "ptxas");
  llvm::sys::path::append(fatbinary, "bin", "fatbinary");
  StringRef ptxArch = lowestArch(options.archs);
  WalkResult walk = module.walk([&](gpu::BinaryOp binary) {
    auto objects = binary.getObjectsAttr().getAsRange<gpu::ObjectAttr>();
    if (std::distance(objects.begin(), objects.end()) != 1 ||
        (*objects.begin()).getFormat() != gpu::CompilationTarget::Assembly) {
      error = fmt::format("internal error: gpu.binary @{} is not one PTX object",
                          binary.getSymName().str());
      return WalkResult::interrupt();
    }
    gpu::ObjectAttr ptx = *objects.begin();
    TempFiles temps;
    std::string ptxPath = temps.make("modelc-kernels", "ptx");
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(ptxPath, ec);
      os << ptx.getObject().getValue();
    }
    std::string fatbinPath = temps.make("modelc", "fatbin");
    std::vector<std::string> fatbinArgs = {"--64", "--create=" + fatbinPath};
    // One ptxas per architecture, side by side.
    std::vector<std::string> cubins, logs, errors(options.archs.size());
    for (const std::string &arch : options.archs) {
      cubins.push_back(temps.make("modelc-" + arch, "cubin"));
      logs.push_back(temps.make("modelc-ptxas", "log"));
    }
    std::vector<std::thread> threads;
    for (size_t i = 0; i < options.archs.size(); ++i)
      threads.emplace_back([&, i] {
        (void)runTool(ptxas, {"-arch=" + options.archs[i], "-O3", ptxPath, "-o", cubins[i]},
                      logs[i], ptxas, errors[i]);
      });
    for (std::thread &t : threads)
      t.join();
    for (size_t i = 0; i < options.archs.size(); ++i) {
      if (!errors[i].empty()) {
        error = errors[i];
        return WalkResult::interrupt();
      }
      fatbinArgs.push_back(
          fmt::format("--image3=kind=elf,sm={},file={}", options.archs[i].substr(3), cubins[i]));
    }
    fatbinArgs.push_back(
        fmt::format("--image3=kind=ptx,sm={},file={}", ptxArch.substr(3).str(), ptxPath));
    if (failed(runTool(fatbinary, fatbinArgs, temps.make("modelc-fatbinary", "log"), fatbinary,
                       error)))
      return WalkResult::interrupt();
    auto blob = llvm::MemoryBuffer::getFile(fatbinPath, /*IsText=*/false);
    if (!blob) {
      error = fmt::format("cannot read the fatbinary '{}'", fatbinPath);
      return WalkResult::interrupt();
    }
    auto fatbin = gpu::ObjectAttr::get(
        module.getContext(), ptx.getTarget(), gpu::CompilationTarget::Fatbin,
        StringAttr::get(module.getContext(), (*blob)->getBuffer()), ptx.getProperties(),
        ptx.getKernels());
    binary.setObjectsAttr(ArrayAttr::get(module.getContext(), {fatbin}));
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

} // namespace modelc::lowering
