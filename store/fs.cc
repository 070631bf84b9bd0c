// File-system steps of the store; see fs.h.
#include "store/fs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

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

Error refused_link(const std::string& path) {
  return Error{Errc::kIo, path + ": is a symbolic link; refusing to follow it"};
}

namespace {

std::vector<std::string> components(const std::string& rel) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t slash = rel.find('/', start);
    out.push_back(rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

bool plain_component(const std::string& c) { return !c.empty() && c != "." && c != ".."; }

// The error for a failed open of `name` in `dir` with O_NOFOLLOW, whose path is `shown`.
Error open_error(int dir, const std::string& shown, const std::string& name, int err) {
  struct stat st;
  if ((err == ELOOP || err == ENOTDIR || err == EMLINK) &&
      ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    return refused_link(shown);
  }
  if (err == ENOENT) return Error{Errc::kNotFound, shown + ": " + std::strerror(err)};
  return sys_error("open " + shown, err);
}

// Opens the directory `rel` below the open directory `base` one component at a time; when
// `create`, makes the missing ones.
std::optional<Error> walk_beneath(int base, const std::string& root, const std::string& rel,
                                  bool create, Fd* fd) {
  Fd cur(::fcntl(base, F_DUPFD_CLOEXEC, 0));
  if (!cur) return sys_error("dup " + root);
  std::string shown = root;
  for (const std::string& c : components(rel)) {
    shown += "/" + c;
    if (!plain_component(c)) return Error{Errc::kBadName, shown + ": not a plain path component"};
    int next = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (::mkdirat(cur.get(), c.c_str(), 0700) != 0 && errno != EEXIST) {
        return sys_error("mkdir " + shown);
      }
      if (::fsync(cur.get()) != 0) return sys_error("fsync " + parent_dir(shown));
      next = ::openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) return open_error(cur.get(), shown, c, errno);
    cur = Fd(next);
  }
  *fd = std::move(cur);
  return std::nullopt;
}

}  // namespace

std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, Fd* fd) {
  Fd base(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base) return sys_error("open " + root);
  if (rel.empty()) {
    *fd = std::move(base);
    return std::nullopt;
  }
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH;
  const long r = ::syscall(SYS_openat2, base.get(), rel.c_str(), &how, sizeof how);
  if (r >= 0) {
    *fd = Fd(static_cast<int>(r));
    return std::nullopt;
  }
  // Without openat2, or to say which component is the link: walk it.
  return walk_beneath(base.get(), root, rel, false, fd);
}

std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, int* fd) {
  Fd dir;
  if (auto e = open_dir_beneath(root, rel, &dir)) {
    if (e->code == Errc::kNotFound) e->code = Errc::kIo;  // for delivery, a missing directory is 451
    return e;
  }
  *fd = dir.release();
  return std::nullopt;
}

std::optional<Error> make_dirs_beneath(const std::string& root, const std::string& rel, Fd* fd) {
  Fd base(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base) return sys_error("open " + root);
  if (rel.empty()) {
    *fd = std::move(base);
    return std::nullopt;
  }
  return walk_beneath(base.get(), root, rel, true, fd);
}

std::optional<Error> open_file_at(int dir, const std::string& shown, const std::string& name,
                                  Fd* fd) {
  Fd f(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!f) return open_error(dir, shown, name, errno);
  *fd = std::move(f);
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

namespace {

// Copies the open file `in` (path `from`) into the new file `name` of directory `dir` (path
// `to`), created exclusively and never through a link, fsynced; removed again on failure.
std::optional<Error> copy_into(int in, const std::string& from, int dir, const std::string& name,
                               const std::string& to) {
  Fd out(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return errno == ELOOP ? refused_link(to) : sys_error("create " + to);
  auto failed = [&](const std::string& what) {
    Error e = sys_error(what);
    ::unlinkat(dir, name.c_str(), 0);
    return e;
  };
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
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

}  // namespace

std::optional<Error> copy_file(const std::string& from, const std::string& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return sys_error("open " + from);
  const std::string dir_path = parent_dir(to);
  Fd dir(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sys_error("open " + dir_path);
  const size_t slash = to.find_last_of('/');
  return copy_into(in.get(), from, dir.get(), slash == std::string::npos ? to : to.substr(slash + 1),
                   to);
}

std::optional<Error> write_file_atomically_at(int dir, const std::string& shown,
                                              const std::string& name, const std::string& content) {
  const std::string tmp = name + ".tmp";
  const std::string tmp_shown = shown + "/" + tmp;
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  Fd out(::openat(dir, tmp.c_str(), kFlags, 0600));
  if (!out && errno == EEXIST) {
    // Left by a crash, or planted: a regular file is ours to replace, a link is refused untouched.
    struct stat st;
    if (::fstatat(dir, tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
      if (S_ISLNK(st.st_mode)) return refused_link(tmp_shown);
      return Error{Errc::kIo, tmp_shown + ": exists and is not a regular file"};
    }
    if (::unlinkat(dir, tmp.c_str(), 0) != 0 && errno != ENOENT) {
      return sys_error("unlink " + tmp_shown);
    }
    out = Fd(::openat(dir, tmp.c_str(), kFlags, 0600));
  }
  if (!out) {
    if (errno == ELOOP) return refused_link(tmp_shown);
    return sys_error("create " + tmp_shown);
  }
  auto failed = [&](const std::string& what) {
    Error e = sys_error(what);
    ::unlinkat(dir, tmp.c_str(), 0);
    return e;
  };
  for (size_t off = 0; off < content.size();) {
    const ssize_t w = ::write(out.get(), content.data() + off, content.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return failed("write " + tmp_shown);
    }
    off += static_cast<size_t>(w);
  }
  if (::fsync(out.get()) != 0) return failed("fsync " + tmp_shown);
  out = Fd();
  // rename() replaces a link at `name` itself; it never writes through one.
  if (::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) return failed("rename " + tmp_shown);
  if (::fsync(dir) != 0) return sys_error("fsync " + shown);
  return std::nullopt;
}

std::optional<Error> write_file_atomically(const std::string& path, const std::string& content) {
  const std::string dir_path = parent_dir(path);
  Fd dir(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sys_error("open " + dir_path);
  const size_t slash = path.find_last_of('/');
  return write_file_atomically_at(dir.get(), dir_path,
                                  slash == std::string::npos ? path : path.substr(slash + 1),
                                  content);
}

namespace {

Result<std::string, Error> read_small(const Fd& in, const std::string& path) {
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

}  // namespace

Result<std::string, Error> read_small_file(const std::string& path) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return fail(sys_error("open " + path));
  return read_small(in, path);
}

Result<std::string, Error> read_small_file_at(int dir, const std::string& shown,
                                              const std::string& name) {
  Fd in;
  if (auto e = open_file_at(dir, shown + "/" + name, name, &in)) return fail(*e);
  return read_small(in, shown + "/" + name);
}

}  // namespace cubby::store
