//===- Link.cpp - One self-contained model.so -----------------------------===//
//
// Links the generated object with the runtime archive through the system C++
// compiler driver (Debian's cross driver, aarch64-linux-gnu-g++, for
// --mtriple=aarch64-linux-gnu, with the runtime cross-built for it), as
// docs/ABI.md specifies. The runtime's generic ABI
// functions (modelc_rt_<fn>, listed in lib/modelc_runtime.symbols) are
// exported under the model's prefix by linker aliases (--defsym), the version
// script lib/modelc_runtime.map.in hides everything else, and libstdc++ and
// libgcc are linked statically so that the library needs nothing beyond libc,
// libm and threads.
//
//===----------------------------------------------------------------------===//

#include "lowering/emission/Emission.h"
#include "lowering/emission/ExternalTools.h"
#include "llvm/Support/MemoryBuffer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <fmt/format.h>

using namespace mlir;

namespace modelc::lowering {

/// The directory holding libmodelc_runtime.a for the host: `lib/` beside
/// the `bin/` of this executable, or $MODELC_RUNTIME_DIR. A cross target's
/// runtime is in its subdirectory named by Debian's multiarch triple
/// (lib/aarch64-linux-gnu/).
static std::string runtimeDirectory() {
  if (const char *dir = std::getenv("MODELC_RUNTIME_DIR"))
    return dir;
  static int anchor;
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, &anchor);
  llvm::SmallString<256> dir(llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(dir, "lib");
  return std::string(dir);
}

std::string multiarchName(const llvm::Triple &triple) {
  return fmt::format("{}-linux-gnu", triple.getArchName().str());
}

/// A tool for `triple` on PATH: `host` for the host, Debian's cross tool
/// (`aarch64-linux-gnu-<cross>`) otherwise.
static FailureOr<std::string> findTool(const llvm::Triple &triple, bool cross, StringRef host,
                                       ArrayRef<StringRef> crossNames, std::string &error) {
  SmallVector<std::string> names;
  if (cross)
    for (StringRef name : crossNames)
      names.push_back(multiarchName(triple) + "-" + name.str());
  else
    names.push_back(host.str());
  for (const std::string &name : names)
    if (auto path = llvm::sys::findProgramByName(name))
      return *path;
  error = cross ? fmt::format("cannot find '{}' for --mtriple={} on PATH (Debian: apt-get "
                              "install g++-{})",
                              names.front(), multiarchName(triple), multiarchName(triple))
                : fmt::format("cannot find the system's '{}' on PATH", names.front());
  return failure();
}

namespace {
/// What the link step needs for one target: the runtime's files (docs/ABI.md,
/// "The link step") and the C++ driver.
struct LinkInputs {
  bool cross = false;
  std::string dir;     // the runtime's directory
  std::string archive; // libmodelc_runtime.a
  std::unique_ptr<llvm::MemoryBuffer> symbols, mapTemplate;
  std::string cxx;

  LogicalResult find(const llvm::Triple &triple, std::string &error) {
    cross = triple.getArch() != llvm::Triple(llvm::sys::getDefaultTargetTriple()).getArch();
    dir = runtimeDirectory();
    if (cross) {
      llvm::SmallString<256> sub(dir);
      llvm::sys::path::append(sub, multiarchName(triple));
      dir = std::string(sub);
    }
    archive = inDir("libmodelc_runtime.a");
    auto readSymbols = llvm::MemoryBuffer::getFile(inDir("modelc_runtime.symbols"));
    auto readMap = llvm::MemoryBuffer::getFile(inDir("modelc_runtime.map.in"));
    if (!llvm::sys::fs::exists(archive) || !readSymbols || !readMap) {
      error = cross ? fmt::format("cannot find the {} runtime (libmodelc_runtime.a, "
                                  "modelc_runtime.symbols, modelc_runtime.map.in) in '{}': "
                                  "modelc was built without it (README.md, \"Cross-compiling "
                                  "for ARM64\")",
                                  multiarchName(triple), dir)
                    : fmt::format("cannot find the runtime (libmodelc_runtime.a, "
                                  "modelc_runtime.symbols, modelc_runtime.map.in) in '{}'; set "
                                  "MODELC_RUNTIME_DIR",
                                  dir);
      return failure();
    }
    symbols = std::move(*readSymbols);
    mapTemplate = std::move(*readMap);
    auto driver = findTool(triple, cross, "c++", {"g++", "c++"}, error);
    if (failed(driver))
      return failure();
    cxx = *driver;
    return success();
  }

  std::string inDir(StringRef name) const {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

  /// The ABI function names (create, destroy, ...).
  SmallVector<std::string> functions() const {
    SmallVector<StringRef> names;
    symbols->getBuffer().split(names, '\n', -1, /*KeepEmpty=*/false);
    SmallVector<std::string> result;
    for (StringRef fn : names)
      if (!fn.trim().empty())
        result.push_back(fn.trim().str());
    return result;
  }

  /// The linker's aliases that export the runtime's generic ABI under the
  /// model's prefix: P_model_entry and P_<fn> for each ABI function.
  std::vector<std::string> aliases(StringRef prefix) const {
    std::vector<std::string> args = {
        fmt::format("-Wl,--defsym={}_model_entry=modelc_model_entry", prefix.str())};
    for (const std::string &fn : functions())
      args.push_back(fmt::format("-Wl,--defsym={}_{}=modelc_rt_{}", prefix.str(), fn, fn));
    return args;
  }
};
} // namespace

/// Renames the finished `partial` to `outputPath`, so that the output is
/// whole or absent.
static LogicalResult renameIntoPlace(StringRef partial, StringRef outputPath, std::string &error) {
  if (std::error_code ec = llvm::sys::fs::rename(partial, outputPath)) {
    llvm::sys::fs::remove(partial);
    error = fmt::format("cannot write '{}': {}", outputPath.str(), ec.message());
    return failure();
  }
  return success();
}

LogicalResult linkSharedLibrary(ArrayRef<std::string> objectPaths, StringRef outputPath,
                                StringRef prefix, const llvm::Triple &triple, std::string &error) {
  LinkInputs in;
  if (failed(in.find(triple, error)))
    return failure();

  // The version script with the model's prefix.
  TempFiles temps;
  std::string script = temps.make("modelc-exports", "map");
  std::string log = temps.make("modelc-link", "log");
  if (script.empty() || log.empty()) {
    error = "cannot create the temporary files of the link step";
    return failure();
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(script, ec);
    if (ec) {
      error = fmt::format("cannot write the export list '{}': {}", script, ec.message());
      return failure();
    }
    std::string map = in.mapTemplate->getBuffer().str();
    for (size_t at; (at = map.find("@PREFIX@")) != std::string::npos;)
      map.replace(at, 8, prefix.str());
    os << map;
  }

  // Link to a temporary file beside the output, then rename it into place.
  llvm::SmallString<256> partial(outputPath);
  partial += ".partial";
  std::vector<std::string> args = {"-shared", "-o", std::string(partial)};
  args.insert(args.end(), objectPaths.begin(), objectPaths.end());
  args.insert(args.end(), {in.archive,
      "-static-libstdc++", "-static-libgcc",
      // Programs linked against the library record its file name, not the
      // path it was linked from.
      "-Wl,-soname," + llvm::sys::path::filename(outputPath).str(),
      // The generated code references little of the runtime (its heap, the
      // shape check): pull all of it in.
      "-Wl,-u,modelc_model_entry",
      "-Wl,--exclude-libs,libstdc++.a:libsupc++.a:libgcc.a:libgcc_eh.a",
      "-Wl,--version-script=" + script});
  std::vector<std::string> aliases = in.aliases(prefix);
  args.insert(args.end(), aliases.begin(), aliases.end());
  args.insert(args.end(), {"-Wl,-z,defs", "-Wl,-z,noexecstack", "-lm", "-lpthread"});
  // A runtime built with sanitizers needs their run-time libraries: its
  // modelc_runtime.ldflags lists the flags, one a line (absent or empty
  // otherwise).
  if (auto ldflags = llvm::MemoryBuffer::getFile(in.inDir("modelc_runtime.ldflags"))) {
    SmallVector<StringRef> flags;
    (*ldflags)->getBuffer().split(flags, '\n', -1, /*KeepEmpty=*/false);
    for (StringRef flag : flags)
      if (!flag.trim().empty())
        args.push_back(flag.trim().str());
  }
  if (failed(runTool(in.cxx, args, log,
                     fmt::format("linking '{}'", outputPath.str()), error))) {
    llvm::sys::fs::remove(partial);
    return failure();
  }
  return renameIntoPlace(partial, outputPath, error);
}

LogicalResult linkStaticObject(ArrayRef<std::string> objectPaths, StringRef outputPath,
                               StringRef prefix, const llvm::Triple &triple, std::string &error) {
  LinkInputs in;
  if (failed(in.find(triple, error)))
    return failure();
  // LLVM's objcopy, of this LLVM release: it reads every target's objects,
  // and unlike GNU objcopy it also makes libstdc++'s STB_GNU_UNIQUE
  // symbols local.
  std::string objcopyName = fmt::format("llvm-objcopy-{}", LLVM_VERSION_MAJOR);
  auto objcopy = llvm::sys::findProgramByName(objcopyName);
  if (!objcopy)
    objcopy = llvm::sys::findProgramByName("llvm-objcopy");
  if (!objcopy) {
    error = fmt::format("cannot find '{}' (or 'llvm-objcopy') on PATH, which --emit=static "
                        "needs (Debian: apt-get install llvm-{})",
                        objcopyName, LLVM_VERSION_MAJOR);
    return failure();
  }
  TempFiles temps;
  std::string merged = temps.make("modelc-static", "o");
  std::string log = temps.make("modelc-link", "log");
  if (merged.empty() || log.empty()) {
    error = "cannot create the temporary files of the link step";
    return failure();
  }
  // One relocatable object: the model's code, the whole runtime, and the
  // members of the static C++ and GCC libraries they use, with the prefixed
  // aliases. (The driver prints the archives' paths for its own target.)
  auto libraryPath = [&](StringRef name) -> FailureOr<std::string> {
    std::string out = temps.make("modelc-print-file-name", "txt");
    if (out.empty() || failed(runTool(in.cxx, {"-print-file-name=" + name.str()}, out,
                                      "asking the C++ driver for " + name.str(), error)))
      return failure();
    auto text = llvm::MemoryBuffer::getFile(out);
    if (!text) {
      error = "cannot read the C++ driver's answer for " + name.str();
      return failure();
    }
    return (*text)->getBuffer().trim().str();
  };
  std::vector<std::string> args = {"-r", "-nostdlib", "-o", merged};
  args.insert(args.end(), objectPaths.begin(), objectPaths.end());
  args.insert(args.end(), {"-Wl,--whole-archive", in.archive, "-Wl,--no-whole-archive"});
  for (StringRef lib : {"libstdc++.a", "libgcc_eh.a", "libgcc.a"}) {
    auto path = libraryPath(lib);
    if (failed(path))
      return failure();
    args.push_back(*path);
  }
  std::vector<std::string> aliases = in.aliases(prefix);
  args.insert(args.end(), aliases.begin(), aliases.end());
  if (failed(runTool(in.cxx, args, log, fmt::format("linking '{}'", outputPath.str()), error)))
    return failure();
  // Only the prefixed ABI stays global, as the shared library's version
  // script has it: two models (and the application's own C++ library) can
  // share a program.
  llvm::SmallString<256> partial(outputPath);
  partial += ".partial";
  std::vector<std::string> keep = {
      fmt::format("--keep-global-symbol={}_model_entry", prefix.str())};
  for (const std::string &fn : in.functions())
    keep.push_back(fmt::format("--keep-global-symbol={}_{}", prefix.str(), fn));
  keep.insert(keep.end(), {merged, std::string(partial)});
  if (failed(runTool(*objcopy, keep, log, fmt::format("writing '{}'", outputPath.str()),
                     error))) {
    llvm::sys::fs::remove(partial);
    return failure();
  }
  return renameIntoPlace(partial, outputPath, error);
}

} // namespace modelc::lowering
