// The master's pidfile and ready file; see master_files.h.
#include "server/master/master_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cubby::server {
namespace {

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<PidFile>, std::string> PidFile::acquire(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot open pidfile " + path + ": " + strerror(errno));
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &lk) != 0) {
    int err = errno;
    std::string msg = "cannot lock pidfile " + path + ": " + strerror(err);
    if (err == EAGAIN || err == EACCES) {
      struct flock who {};
      who.l_type = F_WRLCK;
      who.l_whence = SEEK_SET;
      if (fcntl(fd, F_GETLK, &who) == 0 && who.l_type != F_UNLCK)
        msg = "pidfile " + path + " is locked by pid " + std::to_string(who.l_pid) +
              " (is another cubby-master running?)";
    }
    close(fd);
    return fail(msg);
  }
  if (ftruncate(fd, 0) != 0 || !write_all(fd, std::to_string(getpid()) + "\n")) {
    std::string msg = "cannot write pidfile " + path + ": " + strerror(errno);
    close(fd);
    return fail(msg);
  }
  return std::unique_ptr<PidFile>(new PidFile(path, fd));
}

PidFile::~PidFile() {
  unlink(path_.c_str());
  close(fd_);
}

Result<bool, std::string> write_ready_file(const std::string& path) {
  auto r = replace_file(path, std::to_string(getpid()) + "\n");
  if (!r) return fail("cannot write ready file: " + r.error());
  return r;
}

Result<bool, std::string> replace_file(const std::string& path, const std::string& content,
                                       int mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail(tmp + ": " + strerror(errno));
  bool ok = fchmod(fd, static_cast<mode_t>(mode)) == 0 && write_all(fd, content);
  int err = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    return fail(path + ": " + strerror(err));
  }
  return true;
}

}  // namespace cubby::server
