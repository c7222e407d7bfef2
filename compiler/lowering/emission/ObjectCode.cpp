//===- ObjectCode.cpp - Optimized object code for the target CPU ----------===//
//
// LLVM's optimization pipeline at -O<n> and code generation for the CPU of
// the target description (--cpu, or the host), in process; a model's code
// is mostly two large functions, so it is split into partitions compiled
// side by side.
//
//===----------------------------------------------------------------------===//

#include "lowering/emission/Emission.h"
#include "lowering/cpu/KeepSelectStoresPlain.h"

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Transforms/Utils/SplitModule.h"

#include <thread>

using namespace mlir;

namespace modelc::lowering {

/// Sets LLVM's command-line option `name` to `value` unless the command
/// line set it itself.
static void setLLVMOptionUnlessGiven(llvm::StringRef name, llvm::StringRef value) {
  llvm::cl::Option *option = llvm::cl::getRegisteredOptions().lookup(name);
  if (option && option->getNumOccurrences() == 0)
    option->addOccurrence(0, name, value);
}

/// LLVM's options for modelc's code. -disable-lsr: loop strength
/// reduction took 2.6 of the 5.9 CPU seconds of LLVM on ResNet-18 (in SCEV,
/// on the forward functions' hundreds of loops) and changed no run time
/// measurably: the kernels' loops already step one pointer by a constant,
/// and the rest is not hot. -vectorizer-min-trip-count=4: loops of 4 to 15
/// iterations are vectorized with a scalar remainder; the default, 16, left
/// every loop along a row of 14 or 7 pixels scalar (ResNet's and
/// MobileNet's last stages, the epilogues of their convolutions): a
/// BatchNorm and ReLU6 over 14-pixel rows ran at one element per 4 cycles.
static void setLLVMOptions() {
  setLLVMOptionUnlessGiven("disable-lsr", "true");
  setLLVMOptionUnlessGiven("vectorizer-min-trip-count", "4");
}

static void initializeTargetsOnce() {
  static bool initialized = [] {
    // The host's target and ARM64's (--mtriple=aarch64-linux-gnu).
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    LLVMInitializeAArch64TargetInfo();
    LLVMInitializeAArch64Target();
    LLVMInitializeAArch64TargetMC();
    LLVMInitializeAArch64AsmPrinter();
    setLLVMOptions();
    return true;
  }();
  (void)initialized;
}

FailureOr<llvm::Triple> resolveTriple(StringRef name, std::string &error) {
  llvm::Triple host(llvm::sys::getDefaultTargetTriple());
  if (name.empty())
    return host;
  llvm::Triple triple(llvm::Triple::normalize(name));
  bool known = triple.isOSLinux() && triple.getEnvironment() == llvm::Triple::GNU &&
               (triple.getArch() == llvm::Triple::x86_64 ||
                triple.getArch() == llvm::Triple::aarch64);
  if (!known) {
    error = "--mtriple=" + name.str() + ": modelc builds libraries for x86_64-linux-gnu and " +
            "aarch64-linux-gnu (ARM64 Linux)";
    return failure();
  }
  // The host's own spelling for the host (x86_64-pc-linux-gnu).
  if (triple.getArch() == host.getArch() && triple.getOS() == host.getOS())
    return host;
  return triple;
}

FailureOr<CpuTarget> resolveCpuTarget(const llvm::Triple &triple, StringRef cpu,
                                      StringRef extraFeatures, std::string &error) {
  initializeTargetsOnce();
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return failure();
  bool host = triple.str() == llvm::sys::getDefaultTargetTriple();
  std::string name, features;
  if ((cpu == "native" || cpu == "host") && !host) {
    error = "--cpu=" + cpu.str() + " names this machine's CPU, which cannot run code for " +
            triple.str() + ": name one (generic, or an LLVM CPU name such as neoverse-n1, "
            "cortex-a76)";
    return failure();
  }
  if (cpu == "native" || cpu == "host") {
    // The host: its name and the features it reports (a CPU the LLVM
    // release does not know by name still gets its instruction sets).
    name = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures list;
    for (auto &f : llvm::sys::getHostCPUFeatures())
      list.AddFeature(f.getKey(), f.getValue());
    features = list.getString();
  } else {
    // A named CPU: the features are the ones LLVM gives it.
    name = cpu.str();
  }
  // (Asked of a generic subtarget first: one made for an unknown name
  // prints LLVM's own warning.)
  std::unique_ptr<llvm::MCSubtargetInfo> info(target->createMCSubtargetInfo(triple, "", ""));
  if (info && info->isCPUStringValid(name))
    info.reset(target->createMCSubtargetInfo(triple, name, features));
  else
    info.reset();
  if (!info) {
    error = "--cpu=" + cpu.str() + ": '" + cpu.str() + "' is not a CPU LLVM knows for " +
            triple.str() +
            (triple.isAArch64() ? " (generic, or a name such as cortex-a76, neoverse-n1, "
                                  "neoverse-v1)"
                                : " (native, x86-64-v2, x86-64-v3, x86-64-v4, or a name such as "
                                  "haswell, znver4, skylake-avx512)");
    return failure();
  }
  // --cpu-features: +name or -name, comma-separated, as llc's -mattr.
  if (!extraFeatures.empty()) {
    llvm::SubtargetFeatures list(features);
    SmallVector<StringRef> items;
    extraFeatures.split(items, ',', -1, /*KeepEmpty=*/false);
    for (StringRef item : items) {
      item = item.trim();
      StringRef bare = item.drop_front(item.starts_with("+") || item.starts_with("-") ? 1 : 0);
      if (!(item.starts_with("+") || item.starts_with("-")) ||
          llvm::none_of(info->getAllProcessorFeatures(),
                        [&](const llvm::SubtargetFeatureKV &kv) { return bare == kv.Key; })) {
        error = "--cpu-features=" + extraFeatures.str() + ": '" + item.str() +
                "' is not +name or -name of a feature LLVM knows for " + triple.str() +
                (triple.isAArch64() ? " (for example +sve, -dotprod)"
                                    : " (for example +avx512f, -avx512bw)");
        return failure();
      }
      list.AddFeature(item);
    }
    features = list.getString();
    info.reset(target->createMCSubtargetInfo(triple, name, features));
  }
  // ARM64's kernels are NEON's 128 bits, SVE or not.
  int64_t vectorBits = triple.isAArch64()                ? 128
                       : info->checkFeatures("+avx512f") ? 512
                       : info->checkFeatures("+avx")     ? 256
                                                         : 128;
  CpuTarget result = CpuTarget::forMachine(triple.str(), name, features, vectorBits);
  if (triple.isAArch64()) {
#define MODELC_AARCH64_FEATURE(feature, hwcap, bit)                            \
  if (info->checkFeatures("+" feature))                                        \
    result.requiredFeatures.push_back(feature);
#include "../../../runtime/src/support/CpuFeatures.def"
  } else {
#define MODELC_CPU_FEATURE(feature, level)                                     \
  if (info->checkFeatures("+" feature))                                        \
    result.requiredFeatures.push_back(feature);
#include "../../../runtime/src/support/CpuFeatures.def"
  }
  return result;
}

/// The target machine of `cpu` at `optLevel`.
static std::unique_ptr<llvm::TargetMachine> targetMachine(const CpuTarget &cpu, unsigned optLevel,
                                                          std::string &error) {
  initializeTargetsOnce();
  llvm::Triple triple(cpu.triple.empty() ? llvm::sys::getDefaultTargetTriple() : cpu.triple);
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::TargetOptions targetOptions;
  auto level = optLevel == 0   ? llvm::CodeGenOptLevel::None
               : optLevel == 1 ? llvm::CodeGenOptLevel::Less
               : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                               : llvm::CodeGenOptLevel::Aggressive;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu.cpu, cpu.features, targetOptions, llvm::Reloc::PIC_, std::nullopt, level));
}

/// Optimizes `m` at `options.optLevel` and appends its object code to
/// `object`.
static LogicalResult optimizeAndEmit(llvm::Module &m, llvm::TargetMachine &tm,
                                     const CodegenOptions &options,
                                     SmallVectorImpl<char> &object, std::string &error) {
  m.setDataLayout(tm.createDataLayout());
  m.setTargetTriple(tm.getTargetTriple());
  if (options.optLevel > 0) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(&tm);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::OptimizationLevel level = options.optLevel == 1   ? llvm::OptimizationLevel::O1
                                    : options.optLevel == 2 ? llvm::OptimizationLevel::O2
                                                            : llvm::OptimizationLevel::O3;
    pb.buildPerModuleDefaultPipeline(level).run(m, mam);
  }
  keepSelectStoresPlain(m);
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (tm.addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return failure();
  }
  codegen.run(m);
  return success();
}

LogicalResult emitObject(llvm::Module &m, const CodegenOptions &options,
                         SmallVectorImpl<char> &object, std::string &error) {
  std::unique_ptr<llvm::TargetMachine> tm = targetMachine(options.cpu, options.optLevel, error);
  if (!tm)
    return failure();
  return optimizeAndEmit(m, *tm, options, object, error);
}

LogicalResult emitObjects(llvm::Module &m, const CodegenOptions &options,
                          std::vector<SmallVector<char, 0>> &objects, std::string &error) {
  unsigned parts = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
  if (parts == 1) {
    objects.resize(1);
    return emitObject(m, options, objects.front(), error);
  }
  // Partitions travel as bitcode: each thread reads its own into its own
  // LLVMContext, as LLVM's parallel code generation does.
  std::vector<SmallVector<char, 0>> bitcode;
  llvm::SplitModule(m, parts, [&](std::unique_ptr<llvm::Module> part) {
    bitcode.emplace_back();
    llvm::raw_svector_ostream os(bitcode.back());
    llvm::WriteBitcodeToFile(*part, os);
  });
  objects.assign(bitcode.size(), {});
  std::vector<std::string> errors(bitcode.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bitcode.size(); ++i) {
    threads.emplace_back([&, i] {
      llvm::LLVMContext ctx;
      auto part = llvm::parseBitcodeFile(
          llvm::MemoryBufferRef(llvm::StringRef(bitcode[i].data(), bitcode[i].size()), "part"),
          ctx);
      if (!part) {
        errors[i] = llvm::toString(part.takeError());
        return;
      }
      std::unique_ptr<llvm::TargetMachine> tm = targetMachine(options.cpu, options.optLevel, errors[i]);
      if (!tm || failed(optimizeAndEmit(**part, *tm, options, objects[i], errors[i])))
        if (errors[i].empty())
          errors[i] = "code generation failed";
    });
  }
  for (std::thread &t : threads)
    t.join();
  for (std::string &e : errors) {
    if (!e.empty()) {
      error = e;
      return failure();
    }
  }
  return success();
}

} // namespace modelc::lowering
