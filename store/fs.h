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

[[nodiscard]] std::optional<Error> fsync_dir(const std::string& dir);
[[nodiscard]] std::optional<Error> make_dirs(const std::string& dir);
// Copies `from` to a new file `to` (0600), fsyncs it, and removes it again if anything failed.
[[nodiscard]] std::optional<Error> copy_file(const std::string& from, const std::string& to);
// Replaces `path` with `content` so that a crash leaves the old or the new file, never a mix: a
// temporary file in the same directory, fsync, rename over `path`, fsync of the directory. The
// temporary file `<path>.tmp` is created exclusively and never through a link (O_CREAT | O_EXCL |
// O_NOFOLLOW) and removed on error; a leftover regular `.tmp` (a crash) is replaced, a link there
// is refused. Store directories go through write_file_atomically_at, which also refuses links on
// the way to the directory.
[[nodiscard]] std::optional<Error> write_file_atomically(const std::string& path, const std::string& content);
// The same in the open directory `dir` (from open_dir_beneath); `shown` is its path, for messages.
[[nodiscard]] std::optional<Error> write_file_atomically_at(int dir, const std::string& shown,
                                              const std::string& name, const std::string& content);
// The whole content of a small file.
Result<std::string, Error> read_small_file(const std::string& path);
// The same for the file `name` in the open directory `dir` (path `shown`), never through a link;
// kNotFound when there is none.
Result<std::string, Error> read_small_file_at(int dir, const std::string& shown,
                                              const std::string& name);
// The parent directory of `path` ("." when it has none).
std::string parent_dir(const std::string& path);
// An error unless `dir` is a directory itself, not a symbolic link to one: the store never
// follows a link planted where its own directories (stage., mailboxes) belong.
[[nodiscard]] std::optional<Error> require_real_dir(const std::string& dir);
// Opens directory `rel` below the directory `root` without following any symbolic link and
// without leaving `root` (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH; on kernels without
// openat2, component by component with O_NOFOLLOW). Sets *fd; an Error says why not.
[[nodiscard]] std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, int* fd);

// The rule every store path an administrative command touches follows (the same as delivery's):
// it is reached from its partition root without following a symbolic link anywhere on the way and
// without leaving the root; a planted link makes the operation fail with an Error naming the path
// ("<path>: is a symbolic link; refusing to follow it"), having touched nothing through it.

// Opens the directory `rel` below `root` as open_dir_beneath() does; kNotFound when some part of
// it does not exist.
[[nodiscard]] std::optional<Error> open_dir_beneath(const std::string& root, const std::string& rel, Fd* fd);
// Opens (and creates where missing, mode 0700, fsyncing each parent it changed) the directories of
// `rel` below `root`, one component at a time with O_NOFOLLOW. `rel` must be relative with no
// empty, "." or ".." component.
[[nodiscard]] std::optional<Error> make_dirs_beneath(const std::string& root, const std::string& rel, Fd* fd);
// Opens the file `name` in the open directory `dir` read-only without following a link; `shown`
// is the file's path, for messages. kNotFound when there is none.
[[nodiscard]] std::optional<Error> open_file_at(int dir, const std::string& shown, const std::string& name,
                                  Fd* fd);
// The error for a link found at `path`.
Error refused_link(const std::string& path);

}  // namespace cubby::store
