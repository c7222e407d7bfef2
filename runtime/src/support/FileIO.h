//===- FileIO.h - whole-file reads and atomic writes -----------------------===//
#ifndef MODELC_RUNTIME_SUPPORT_FILEIO_H
#define MODELC_RUNTIME_SUPPORT_FILEIO_H

#include <string>
#include <vector>

#include <sys/stat.h>

namespace modelc::rt {

/// Reads a whole safetensors file. The 8-byte header length is checked
/// against the file size and the header limit first, so an absurd length
/// is refused before anything large is allocated. Errors do not repeat the
/// path (callers put it in front).
bool readSafeTensorsFile(const std::string &path, std::string &bytes,
                         std::string &error);

/// Opens `path` for reading if it is a regular file; a FIFO, a device or a
/// directory is an error ("not a regular file (it is a FIFO)"), refused
/// without blocking. Returns the descriptor, or -1 with `error` set; `st`
/// is the file's status.
int openRegularFile(const std::string &path, struct stat &st,
                    std::string &error);

/// The new content of a file being replaced atomically, until it is
/// committed: an unnamed O_TMPFILE file (`fd`) in the target's directory
/// where the file system supports one, so that a process killed before the
/// commit leaves nothing behind; otherwise a named "<path>.tmp.<pid>.<n>"
/// (`path`). Destroying it uncommitted removes it.
struct TempFile {
  int fd = -1;
  std::string path;

  TempFile() = default;
  TempFile(const TempFile &) = delete;
  TempFile &operator=(const TempFile &) = delete;
  ~TempFile();
  /// Removes the file; nothing is left behind.
  void discard();
};

/// Writes `data` to a new temporary file for `path` and fsyncs it; the first
/// half of an atomic write. On failure nothing is left behind. It first
/// removes the "<path>.tmp.<pid>.<n>" files of processes that no longer
/// exist (saves killed before their rename). Exceeding the file size limit
/// (ulimit -f) is an error (EFBIG), not a SIGXFSZ that kills the process.
bool writeTempFile(const std::string &path, const std::string &data,
                   TempFile &temp, std::string &error);
/// Names the temp file (an unnamed one gets a "<path>.tmp.<pid>.<n>" name),
/// rename(2)s it over `path` and fsyncs the directory; on failure removes
/// it. The old file stays intact until the rename.
bool commitTempFile(TempFile &temp, const std::string &path,
                    std::string &error);

/// writeTempFile + commitTempFile: a crash never leaves a half-written file
/// where a good one was.
bool writeFileAtomically(const std::string &path, const std::string &data,
                         std::string &error);

} // namespace modelc::rt

#endif
