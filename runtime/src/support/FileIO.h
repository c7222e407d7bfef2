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

/// Writes `data` to a new "<path>.tmp.<pid>.<n>" and fsyncs it; the first
/// half of an atomic write. On failure nothing is left behind (a process
/// killed meanwhile leaves the temporary file, never a damaged `path`).
/// Exceeding the file size limit (ulimit -f) is an error (EFBIG), not a
/// SIGXFSZ that kills the process.
bool writeTempFile(const std::string &path, const std::string &data,
                   std::string &tempPath, std::string &error);
/// rename(2)s the temp file over `path` and fsyncs the directory; on failure
/// removes the temp file. The old file stays intact until the rename.
bool commitTempFile(const std::string &tempPath, const std::string &path,
                    std::string &error);
void discardTempFile(const std::string &tempPath);

/// writeTempFile + commitTempFile: a crash never leaves a half-written file
/// where a good one was.
bool writeFileAtomically(const std::string &path, const std::string &data,
                         std::string &error);

} // namespace modelc::rt

#endif
