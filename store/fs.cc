// File-system steps of the store; see fs.h.
#include "store/fs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace cubby::store {

Error sys_error(const std::string& what, int err) {
  Errc code = (err == ENOSPC || err == EDQUOT) ? Errc::kNoSpace : Errc::kIo;
  return Error{code, what + ": " + std::strerror(err)};
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::optional<Error> require_real_dir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return sys_error("lstat " + dir);
  if (S_ISLNK(st.st_mode)) return Error{Errc::kIo, dir + ": is a symbolic link; refusing to follow it"};
  if (!S_ISDIR(st.st_mode)) return Error{Errc::kIo, dir + ": exists and is not a directory"};
  return std::nullopt;
}

std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, int* fd) {
  Fd base(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base) return sys_error("open " + root);
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  long r = ::syscall(SYS_openat2, base.get(), rel.c_str(), &how, sizeof how);
  if (r < 0 && errno == ENOSYS) {
    r = ::openat(base.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (r < 0) {
    if (errno == ELOOP || errno == EXDEV) {
      return Error{Errc::kIo, root + "/" + rel + ": a symbolic link on the way; refusing to follow it"};
    }
    return sys_error("open " + root + "/" + rel);
  }
  *fd = static_cast<int>(r);
  return std::nullopt;
}

int open_beneath(int dir_fd, const std::string& rel, int flags, unsigned mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  long r = ::syscall(SYS_openat2, dir_fd, rel.c_str(), &how, sizeof how);
  if (r < 0 && errno == ENOSYS) {
    if (rel.find('/') != std::string::npos || rel == "..") {
      errno = EXDEV;
      return -1;
    }
    r = ::openat(dir_fd, rel.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  }
  return static_cast<int>(r);
}

std::optional<Error> fsync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return sys_error("open " + dir);
  if (::fsync(fd.get()) != 0) return sys_error("fsync " + dir);
  return std::nullopt;
}

std::optional<Error> make_dirs(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return std::nullopt;
    return Error{Errc::kIo, dir + ": exists and is not a directory"};
  }
  std::string parent = parent_dir(dir);
  if (parent != dir) {
    if (auto err = make_dirs(parent)) return err;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + dir);
  return fsync_dir(parent);
}

std::optional<Error> copy_file(const std::string& from, const std::string& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return sys_error("open " + from);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return sys_error("create " + to);
  auto failed = [&](const std::string& what) {
    Error e = sys_error(what);
    ::unlink(to.c_str());
    return e;
  };
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failed("read " + from);
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf + off, n - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return failed("write " + to);
      }
      off += w;
    }
  }
  if (::fsync(out.get()) != 0) return failed("fsync " + to);
  return std::nullopt;
}

std::optional<Error> write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) return sys_error("create " + tmp);
    for (size_t off = 0; off < content.size();) {
      ssize_t w = ::write(out.get(), content.data() + off, content.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        Error e = sys_error("write " + tmp);
        ::unlink(tmp.c_str());
        return e;
      }
      off += static_cast<size_t>(w);
    }
    if (::fsync(out.get()) != 0) {
      Error e = sys_error("fsync " + tmp);
      ::unlink(tmp.c_str());
      return e;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = sys_error("rename " + tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  return fsync_dir(parent_dir(path));
}

Result<std::string, Error> read_small_file(const std::string& path) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return fail(sys_error("open " + path));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(sys_error("read " + path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) return fail(Error{Errc::kCorrupt, path + ": larger than 1 MiB"});
  }
  return out;
}

}  // namespace cubby::store
