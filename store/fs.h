// File-system steps the store's durability protocol is built from.
//
// Each returns an Error value instead of throwing. fsync_dir() makes the entries of a directory
// durable; make_dirs() creates missing directories (mode 0700) and fsyncs each parent it changed so a
// new mailbox directory survives a crash; copy_file() writes a durable copy (used when link() fails).
#pragma once

#include <optional>
#include <string>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

std::optional<Error> fsync_dir(const std::string& dir);
std::optional<Error> make_dirs(const std::string& dir);
// Copies `from` to a new file `to` (0600), fsyncs it, and removes it again if anything failed.
std::optional<Error> copy_file(const std::string& from, const std::string& to);
// Replaces `path` with `content` so that a crash leaves the old or the new file, never a mix: a
// temporary file in the same directory, fsync, rename over `path`, fsync of the directory.
std::optional<Error> write_file_atomically(const std::string& path, const std::string& content);
// The whole content of a small file.
Result<std::string, Error> read_small_file(const std::string& path);
// The parent directory of `path` ("." when it has none).
std::string parent_dir(const std::string& path);
// An error unless `dir` is a directory itself, not a symbolic link to one: the store never
// follows a link planted where its own directories (stage., mailboxes) belong.
std::optional<Error> require_real_dir(const std::string& dir);
// Opens directory `rel` below the directory `root` without following any symbolic link and
// without leaving `root` (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH; on kernels without
// openat2, an open with O_NOFOLLOW of the last component). Sets *fd; an Error says why not.
std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, int* fd);
// Opens `rel` below the open directory `dir_fd` with open(2) `flags` (and `mode` for O_CREAT)
// without following any symbolic link and without leaving the directory (openat2
// RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH; without openat2, `rel` must be one component and is opened
// with O_NOFOLLOW). Returns the descriptor, or -1 with errno set (ELOOP/EXDEV: a link on the way).
int open_beneath(int dir_fd, const std::string& rel, int flags, unsigned mode = 0);

// A file descriptor owned by its holder; closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace cubby::store
