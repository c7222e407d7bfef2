//===- FileIO.cpp ---------------------------------------------------------===//
#include "support/FileIO.h"

#include "support/Format.h"
#include "support/SafeTensors.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace modelc::rt {

namespace {

std::string errnoText() { return std::strerror(errno); }

/// read(2) until `size` bytes arrived; false on error or early EOF.
bool readFully(int fd, char *dst, size_t size, std::string &error) {
  while (size > 0) {
    ssize_t n = ::read(fd, dst, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error = "cannot read: " + errnoText();
      return false;
    }
    if (n == 0) {
      error = "the file shrank while it was read";
      return false;
    }
    dst += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// While alive, SIGXFSZ is blocked in the calling thread. Writing past the
/// file size limit (RLIMIT_FSIZE, `ulimit -f`) then fails with EFBIG instead
/// of killing the process (the signal's default action), and the SIGXFSZ
/// that write raised is consumed, not left pending. A library must not
/// change the process's signal dispositions; a thread mask is its own.
class FileSizeSignalBlocker {
public:
  FileSizeSignalBlocker() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGXFSZ);
    active = ::pthread_sigmask(SIG_BLOCK, &set, &saved) == 0;
    sigset_t pending;
    sigemptyset(&pending);
    ownSignal = active && !sigismember(&saved, SIGXFSZ) &&
                ::sigpending(&pending) == 0 &&
                !sigismember(&pending, SIGXFSZ);
  }
  ~FileSizeSignalBlocker() {
    if (!active)
      return;
    sigset_t pending;
    sigemptyset(&pending);
    if (ownSignal && ::sigpending(&pending) == 0 &&
        sigismember(&pending, SIGXFSZ)) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGXFSZ);
      struct timespec now = {0, 0};
      (void)::sigtimedwait(&set, nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  }
  FileSizeSignalBlocker(const FileSizeSignalBlocker &) = delete;
  FileSizeSignalBlocker &operator=(const FileSizeSignalBlocker &) = delete;

private:
  sigset_t saved;
  bool active = false, ownSignal = false;
};

bool writeFully(int fd, const char *src, size_t size, std::string &error) {
  FileSizeSignalBlocker blockSigxfsz;
  while (size > 0) {
    ssize_t n = ::write(fd, src, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EFBIG) {
      struct rlimit limit;
      if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 &&
          limit.rlim_cur != RLIM_INFINITY)
        error = format("cannot write: %s (the file size limit of this "
                       "process, ulimit -f, is %llu bytes)",
                       errnoText().c_str(),
                       static_cast<unsigned long long>(limit.rlim_cur));
      else
        error = "cannot write: " + errnoText();
      return false;
    }
    if (n < 0) {
      error = "cannot write: " + errnoText();
      return false;
    }
    src += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

class FileDescriptor {
public:
  explicit FileDescriptor(int fd) : fd(fd) {}
  ~FileDescriptor() {
    if (fd >= 0)
      ::close(fd);
  }
  FileDescriptor(const FileDescriptor &) = delete;
  FileDescriptor &operator=(const FileDescriptor &) = delete;
  int get() const { return fd; }
  int release() {
    int result = fd;
    fd = -1;
    return result;
  }

private:
  int fd;
};

/// What a file that is not a regular one is, for "not a regular file (it is
/// a FIFO)".
const char *fileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  return "of another kind";
}

} // namespace

int openRegularFile(const std::string &path, struct stat &st,
                    std::string &error) {
  // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
  // forever if none comes, before the check below could refuse it.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    error = "cannot open: " + errnoText();
    return -1;
  }
  if (::fstat(fd.get(), &st) != 0) {
    error = "cannot stat: " + errnoText();
    return -1;
  }
  // Only a regular file has a size known in advance: a FIFO's or a device's
  // reads may never end (/dev/zero), or block.
  if (!S_ISREG(st.st_mode)) {
    error = format("not a regular file (it is %s)", fileKind(st.st_mode));
    return -1;
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    error = "cannot clear O_NONBLOCK: " + errnoText();
    return -1;
  }
  return fd.release();
}

bool readSafeTensorsFile(const std::string &path, std::string &bytes,
                         std::string &error) {
  struct stat st;
  FileDescriptor fd(openRegularFile(path, st, error));
  if (fd.get() < 0)
    return false;
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  if (fileSize < 8) {
    error = format("file is too short (%llu bytes) to be a safetensors file: "
                   "it needs at least the 8-byte header length",
                   static_cast<unsigned long long>(fileSize));
    return false;
  }
  char prefix[8];
  if (!readFully(fd.get(), prefix, 8, error))
    return false;
  uint64_t headerLength;
  std::memcpy(&headerLength, prefix, 8);
  if (!checkSafeTensorsHeaderLength(headerLength, fileSize, error))
    return false;
  bytes.assign(prefix, 8);
  bytes.resize(fileSize);
  return readFully(fd.get(), &bytes[8], fileSize - 8, error);
}

bool writeTempFile(const std::string &path, const std::string &data,
                   std::string &tempPath, std::string &error) {
  // A name no other writer uses: the process id tells processes apart, the
  // counter the threads of this one (two models saved to the same path at
  // once must not write into the same temporary file). O_EXCL skips a name
  // left behind by a killed process whose id was reused.
  static std::atomic<unsigned long long> counter{0};
  int raw = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {
    tempPath = format("%s.tmp.%ld.%llu", path.c_str(),
                      static_cast<long>(::getpid()), counter++);
    raw = ::open(tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                 0644);
    if (raw >= 0 || errno != EEXIST)
      break;
  }
  FileDescriptor fd(raw);
  if (fd.get() < 0) {
    error = format("cannot create '%s': %s", tempPath.c_str(),
                   errnoText().c_str());
    return false;
  }
  bool ok = writeFully(fd.get(), data.data(), data.size(), error);
  if (ok && ::fsync(fd.get()) != 0) {
    error = "cannot fsync: " + errnoText();
    ok = false;
  }
  if (::close(fd.release()) != 0 && ok) {
    error = "cannot close: " + errnoText();
    ok = false;
  }
  if (!ok)
    ::unlink(tempPath.c_str());
  return ok;
}

bool commitTempFile(const std::string &tempPath, const std::string &path,
                    std::string &error) {
  if (::rename(tempPath.c_str(), path.c_str()) != 0) {
    error = "cannot rename the temporary file into place: " + errnoText();
    ::unlink(tempPath.c_str());
    return false;
  }
  // Make the rename itself durable; failing to is not an error worth
  // reporting (some file systems refuse fsync on directories).
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

void discardTempFile(const std::string &tempPath) {
  if (!tempPath.empty())
    ::unlink(tempPath.c_str());
}

bool writeFileAtomically(const std::string &path, const std::string &data,
                         std::string &error) {
  std::string tempPath;
  return writeTempFile(path, data, tempPath, error) &&
         commitTempFile(tempPath, path, error);
}

} // namespace modelc::rt
