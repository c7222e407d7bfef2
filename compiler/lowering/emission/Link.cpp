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

/// The C++ compiler driver that links for `triple`: `c++` for the host,
/// Debian's cross driver (`aarch64-linux-gnu-g++`) otherwise.
static FailureOr<std::string> linkerDriver(const llvm::Triple &triple, bool cross,
                                           std::string &error) {
  SmallVector<std::string> names;
  if (cross)
    names = {multiarchName(triple) + "-g++", multiarchName(triple) + "-c++"};
  else
    names = {"c++"};
  for (const std::string &name : names)
    if (auto path = llvm::sys::findProgramByName(name))
      return *path;
  error = cross ? fmt::format("cannot find the linker driver '{}' for --mtriple={} on PATH "
                              "(Debian: apt-get install g++-{})",
                              names.front(), multiarchName(triple),
                              multiarchName(triple))
                : "cannot find the system linker driver 'c++' on PATH";
  return failure();
}

LogicalResult linkSharedLibrary(ArrayRef<std::string> objectPaths, StringRef outputPath,
                                StringRef prefix, const llvm::Triple &triple, std::string &error) {
  bool cross = triple.getArch() != llvm::Triple(llvm::sys::getDefaultTargetTriple()).getArch();
  std::string dir = runtimeDirectory();
  if (cross) {
    llvm::SmallString<256> sub(dir);
    llvm::sys::path::append(sub, multiarchName(triple));
    dir = std::string(sub);
  }
  auto inDir = [&](StringRef name) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  };
  std::string archive = inDir("libmodelc_runtime.a");
  auto symbols = llvm::MemoryBuffer::getFile(inDir("modelc_runtime.symbols"));
  auto mapTemplate = llvm::MemoryBuffer::getFile(inDir("modelc_runtime.map.in"));
  if (!llvm::sys::fs::exists(archive) || !symbols || !mapTemplate) {
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
  auto cxx = linkerDriver(triple, cross, error);
  if (failed(cxx))
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
    std::string map = (*mapTemplate)->getBuffer().str();
    for (size_t at; (at = map.find("@PREFIX@")) != std::string::npos;)
      map.replace(at, 8, prefix.str());
    os << map;
  }

  // Link to a temporary file beside the output, then rename it into place.
  llvm::SmallString<256> partial(outputPath);
  partial += ".partial";
  std::vector<std::string> args = {"-shared", "-o", std::string(partial)};
  args.insert(args.end(), objectPaths.begin(), objectPaths.end());
  args.insert(args.end(), {archive,
      "-static-libstdc++", "-static-libgcc",
      // Programs linked against the library record its file name, not the
      // path it was linked from.
      "-Wl,-soname," + llvm::sys::path::filename(outputPath).str(),
      // The generated code references little of the runtime (its heap, the
      // shape check): pull all of it in.
      "-Wl,-u,modelc_model_entry",
      "-Wl,--exclude-libs,libstdc++.a:libsupc++.a:libgcc.a:libgcc_eh.a",
      "-Wl,--version-script=" + script,
      fmt::format("-Wl,--defsym={}_model_entry=modelc_model_entry", prefix.str())});
  SmallVector<StringRef> names;
  (*symbols)->getBuffer().split(names, '\n', -1, /*KeepEmpty=*/false);
  for (StringRef fn : names)
    args.push_back(fmt::format("-Wl,--defsym={}_{}=modelc_rt_{}", prefix.str(), fn.trim().str(),
                               fn.trim().str()));
  args.insert(args.end(), {"-Wl,-z,defs", "-Wl,-z,noexecstack", "-lm", "-lpthread"});
  // A runtime built with sanitizers needs their run-time libraries: its
  // modelc_runtime.ldflags lists the flags, one a line (absent or empty
  // otherwise).
  if (auto ldflags = llvm::MemoryBuffer::getFile(inDir("modelc_runtime.ldflags"))) {
    SmallVector<StringRef> flags;
    (*ldflags)->getBuffer().split(flags, '\n', -1, /*KeepEmpty=*/false);
    for (StringRef flag : flags)
      if (!flag.trim().empty())
        args.push_back(flag.trim().str());
  }
  if (failed(runTool(*cxx, args, log,
                     fmt::format("linking '{}'", outputPath.str()), error))) {
    llvm::sys::fs::remove(partial);
    return failure();
  }
  if (std::error_code ec = llvm::sys::fs::rename(partial, outputPath)) {
    llvm::sys::fs::remove(partial);
    error = fmt::format("cannot write '{}': {}", outputPath.str(), ec.message());
    return failure();
  }
  return success();
}

} // namespace modelc::lowering
