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
#include <dirent.h>
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

namespace {

/// The directory part of `path` ("." for a bare name), for O_TMPFILE, the
/// directory fsync and the sweep of stale temporaries.
std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash + 1);
}

/// Calls `create(name)` on fresh names "<path>.tmp.<pid>.<n>" until it
/// succeeds or fails for a reason other than EEXIST. The process id tells
/// processes apart, the counter the threads of this one (two models saved to
/// the same path at once must not share a temporary file); EEXIST skips a
/// name left behind by a killed process whose id was reused.
template <typename Create>
bool withFreshTempName(const std::string &path, std::string &name,
                       Create create) {
  static std::atomic<unsigned long long> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    name = format("%s.tmp.%ld.%llu", path.c_str(),
                  static_cast<long>(::getpid()), counter++);
    if (create(name))
      return true;
    if (errno != EEXIST)
      return false;
  }
  return false;
}

/// The process id in a temporary file's name "<base>.tmp.<pid>.<n>", or 0
/// when `entry` is not one of `base`'s temporaries.
pid_t tempFileOwner(const std::string &entry, const std::string &base) {
  std::string prefix = base + ".tmp.";
  if (entry.compare(0, prefix.size(), prefix) != 0)
    return 0;
  const char *p = entry.c_str() + prefix.size();
  long long pid = 0;
  const char *digits = p;
  while (*p >= '0' && *p <= '9' && pid < (1LL << 31))
    pid = pid * 10 + (*p++ - '0');
  if (p == digits || *p++ != '.' || !(*p >= '0' && *p <= '9'))
    return 0;
  while (*p >= '0' && *p <= '9')
    ++p;
  return *p == 0 && pid < (1LL << 31) ? static_cast<pid_t>(pid) : 0;
}

/// Removes `path`'s temporaries whose process no longer exists: what a save
/// killed between naming its file and renaming it left behind (the named
/// fallback's whole write, O_TMPFILE's instant between link and rename).
/// A live process's file is a save in progress and stays, and so does one
/// of a process id reused since (rare, and only a leftover file).
void removeStaleTempFiles(const std::string &path) {
  std::string dir = directoryOf(path);
  std::string base = path.substr(path.rfind('/') + 1); // npos + 1 == 0
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return; // creating the new file reports the reason
  pid_t self = ::getpid();
  while (const struct dirent *entry = ::readdir(d)) {
    pid_t owner = tempFileOwner(entry->d_name, base);
    if (owner > 0 && owner != self && ::kill(owner, 0) != 0 && errno == ESRCH)
      (void)::unlinkat(::dirfd(d), entry->d_name, 0);
  }
  ::closedir(d);
}

/// Gives the unnamed (O_TMPFILE) file `fd` the name `name`. Through
/// /proc/self/fd, which needs no privilege; AT_EMPTY_PATH, where /proc is
/// not mounted, needs CAP_DAC_READ_SEARCH.
bool linkUnnamedFile(int fd, const std::string &name) {
  std::string self = format("/proc/self/fd/%d", fd);
  if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(),
               AT_SYMLINK_FOLLOW) == 0)
    return true;
  if (errno != ENOENT)
    return false;
  return ::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0;
}

} // namespace

TempFile::~TempFile() { discard(); }

void TempFile::discard() {
  if (fd >= 0)
    ::close(fd); // an unnamed file vanishes with its last descriptor
  fd = -1;
  if (!path.empty())
    ::unlink(path.c_str());
  path.clear();
}

/// Closes the descriptor of `temp`, which has a name by now; a failed
/// close (a delayed write error) removes the file.
static bool closeNamedTempFile(TempFile &temp, std::string &error) {
  int fd = temp.fd;
  temp.fd = -1;
  if (::close(fd) == 0)
    return true;
  error = "cannot close: " + errnoText();
  temp.discard();
  return false;
}

bool writeTempFile(const std::string &path, const std::string &data,
                   TempFile &temp, std::string &error) {
  temp.discard();
  removeStaleTempFiles(path);
  // An unnamed file in the target's directory: until commitTempFile links
  // it, a killed process leaves nothing. File systems without O_TMPFILE
  // refuse it with EOPNOTSUPP (old kernels, which read the flag as
  // O_DIRECTORY, with EISDIR): those get a named file.
  std::string dir = directoryOf(path);
  int raw = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
  if (raw < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    error = format("cannot create a temporary file in '%s': %s", dir.c_str(),
                   errnoText().c_str());
    return false;
  }
  if (raw < 0 && !withFreshTempName(path, temp.path, [&](const std::string &name) {
        raw = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        return raw >= 0;
      })) {
    error = format("cannot create '%s': %s", temp.path.c_str(),
                   errnoText().c_str());
    temp.path.clear(); // not created: nothing to remove
    return false;
  }
  temp.fd = raw;
  bool ok = writeFully(temp.fd, data.data(), data.size(), error);
  if (ok && ::fsync(temp.fd) != 0) {
    error = "cannot fsync: " + errnoText();
    ok = false;
  }
  if (!ok) {
    temp.discard();
    return false;
  }
  // A named file is complete: close it now (close reports delayed write
  // errors). An unnamed one stays open: its descriptor is its only handle.
  return temp.path.empty() || closeNamedTempFile(temp, error);
}

bool commitTempFile(TempFile &temp, const std::string &path,
                    std::string &error) {
  // rename(2) replaces the target atomically, but only names can be
  // renamed: an unnamed file gets one first (linkat cannot replace).
  if (temp.fd >= 0) {
    std::string name;
    if (!withFreshTempName(path, name, [&](const std::string &candidate) {
          return linkUnnamedFile(temp.fd, candidate);
        })) {
      error = format("cannot link the temporary file as '%s': %s",
                     name.c_str(), errnoText().c_str());
      temp.discard();
      return false;
    }
    temp.path = name;
    if (!closeNamedTempFile(temp, error))
      return false;
  }
  if (::rename(temp.path.c_str(), path.c_str()) != 0) {
    error = "cannot rename the temporary file into place: " + errnoText();
    temp.discard();
    return false;
  }
  temp.path.clear(); // it is `path` now
  // Make the rename itself durable; failing to is not an error worth
  // reporting (some file systems refuse fsync on directories).
  int dfd = ::open(directoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

bool writeFileAtomically(const std::string &path, const std::string &data,
                         std::string &error) {
  TempFile temp;
  return writeTempFile(path, data, temp, error) &&
         commitTempFile(temp, path, error);
}

} // namespace modelc::rt
