//===- Cuda.cpp - The CUDA toolkit, architectures and one fatbinary -------===//
//
// The end of the CUDA back end (docs/CUDA.md): the PTX that the GPU pipeline
// (Pipelines.cpp) leaves in each gpu.binary goes through the toolkit's ptxas
// to a cubin per architecture, which fatbinary packs with the PTX itself
// (JIT-compiled by the driver on newer chips) into the blob the host code
// hands to mgpuModuleLoad.
//
//===----------------------------------------------------------------------===//

#include "lowering/gpu/Cuda.h"
#include "lowering/emission/ExternalTools.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include "mlir/Dialect/GPU/IR/CompilationInterfaces.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <fmt/format.h>

#include <thread>

using namespace mlir;

namespace modelc::lowering {

StringRef lowestArch(ArrayRef<std::string> archs) {
  return *llvm::min_element(archs, [](const std::string &a, const std::string &b) {
    return std::stoi(a.substr(3)) < std::stoi(b.substr(3));
  });
}

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

void renameForCuda(ModuleOp module) {
  // (modelc_forward_backward_* become modelc_cuda_forward_backward_*.)
  for (auto fn : module.getOps<func::FuncOp>()) {
    StringRef name = fn.getSymName();
    if (name.consume_front("modelc_forward_"))
      fn.setSymName(("modelc_cuda_forward_" + name).str());
    else if (name.consume_front("modelc_loss_backward_"))
      fn.setSymName(("modelc_cuda_loss_backward_" + name).str());
  }
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
