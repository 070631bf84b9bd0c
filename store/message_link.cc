// Making a delivered message's file from its stage file; see message_link.h.
#include "store/message_link.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "store/fs.h"

namespace cubby::store {

Result<MessageLink, Error> link_message(const std::string& stage_path, const std::string& root,
                                        const std::string& rel_dir, int64_t uid,
                                        bool single_instance) {
  // The directory must open without following a link. (The file is then made by path, as the
  // fault interposer of tests/fault expects; a link swapped in between is a race only someone who
  // can already write the spool could run.)
  int dir_fd = -1;
  if (auto e = open_dir_beneath(root, rel_dir, &dir_fd)) return fail(*e);
  ::close(dir_fd);  // only the check was needed
  MessageLink out;
  out.dir = root + "/" + rel_dir;
  const std::string path = out.dir + "/" + std::to_string(uid) + ".";
  if (single_instance) {
    int rc = ::link(stage_path.c_str(), path.c_str());
    if (rc != 0 && errno == EEXIST) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(sys_error("unlink " + path));
      rc = ::link(stage_path.c_str(), path.c_str());
    }
    if (rc == 0) {
      out.linked = true;
      return out;
    }
    if (errno != EXDEV && errno != EMLINK && errno != EPERM && errno != EOPNOTSUPP) {
      return fail(sys_error("link " + path));
    }
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(sys_error("unlink " + path));
  if (auto e = copy_file(stage_path, path)) return fail(*e);
  return out;
}

}  // namespace cubby::store

namespace cubby::store {
namespace {

// A missing or misplaced directory is an I/O error of this recipient (451), not "no mailbox".
Error as_io(Error e) {
  if (e.code != Errc::kNoSpace) e.code = Errc::kIo;
  return e;
}

// Makes new/<file_name> from the stage file: a hard link, or a durable copy in tmp/ renamed into
// new/ (so new/ never shows a partial file). An existing entry is an error.
std::optional<Error> publish(const std::string& stage_path, int new_fd, const std::string& dir,
                             const std::string& file_name, bool single_instance, bool* linked) {
  const std::string target = dir + "/new/" + file_name;
  if (single_instance) {
    if (::linkat(AT_FDCWD, stage_path.c_str(), new_fd, file_name.c_str(), 0) == 0) {
      *linked = true;
      return std::nullopt;
    }
    if (errno != EXDEV && errno != EMLINK && errno != EPERM && errno != EOPNOTSUPP) {
      return sys_error("link " + stage_path + " to " + target);
    }
  }
  const std::string tmp = dir + "/tmp/" + file_name;
  if (auto e = copy_file(stage_path, tmp)) {
    ::unlink(tmp.c_str());
    return e;
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), new_fd, file_name.c_str(), RENAME_NOREPLACE) != 0) {
    auto e = sys_error("rename " + tmp + " to " + target);
    ::unlink(tmp.c_str());
    return e;
  }
  *linked = false;
  return std::nullopt;
}

// new/<file_name> exists: exchanges it with a fresh link of the stage file, so its entry is
// written again. False when it vanished meanwhile (Dovecot moved it); then nothing was made.
Result<bool, Error> refresh(const std::string& stage_path, int new_fd, const std::string& dir,
                            const std::string& file_name) {
  const std::string holder = ".cubby-relink-" + file_name;  // Dovecot skips dot names
  ::unlinkat(new_fd, holder.c_str(), 0);
  if (::linkat(AT_FDCWD, stage_path.c_str(), new_fd, holder.c_str(), 0) != 0) {
    // No hard link possible here: the entry stays as it is (its fsync is all we can do).
    if (errno == EXDEV || errno == EMLINK || errno == EPERM || errno == EOPNOTSUPP) return true;
    return fail(sys_error("link " + stage_path + " to " + dir + "/new/" + holder));
  }
  bool present = true;
  if (::renameat2(new_fd, holder.c_str(), new_fd, file_name.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno == ENOENT) {
      present = false;
    } else if (errno != EINVAL) {  // EINVAL: no exchange on this file system; the entry stays
      auto e = sys_error("exchange " + dir + "/new/" + file_name);
      ::unlinkat(new_fd, holder.c_str(), 0);
      return fail(e);
    }
  }
  if (::unlinkat(new_fd, holder.c_str(), 0) != 0 && errno != ENOENT) {
    return fail(sys_error("unlink " + dir + "/new/" + holder));
  }
  return present;
}

// Whether cur/ holds <file_name> with or without ":2,<flags>".
Result<bool, Error> in_cur(const std::string& root, const std::string& rel_dir,
                           const std::string& file_name) {
  int fd = -1;
  if (auto e = open_dir_beneath(root, rel_dir + "/cur", &fd)) return fail(as_io(*e));
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return fail(sys_error("opendir " + root + "/" + rel_dir + "/cur"));
  }
  bool found = false;
  while (dirent* ent = ::readdir(d)) {
    std::string_view n = ent->d_name;
    if (n == file_name || (n.size() > file_name.size() && n.starts_with(file_name) &&
                           n[file_name.size()] == ':')) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

Result<MessageLink, Error> link_maildir_message(const std::string& stage_path,
                                                const std::string& root,
                                                const std::string& rel_dir,
                                                const std::string& file_name,
                                                bool single_instance, bool fresh, bool* found) {
  if (found) *found = false;
  if (file_name.empty() || file_name.find('/') != std::string::npos || file_name[0] == '.') {
    return fail(Error{Errc::kIo, "not a Maildir file name: \"" + file_name + "\""});
  }
  Fd new_dir;
  if (auto e = open_dir_beneath(root, rel_dir + "/new", &new_dir)) return fail(as_io(*e));
  const std::string dir = root + "/" + rel_dir;
  MessageLink out;
  out.dir = dir + "/new";
  if (!fresh) {
    struct stat st;
    if (::fstatat(new_dir.get(), file_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      auto present = refresh(stage_path, new_dir.get(), dir, file_name);
      if (!present) return fail(as_io(present.error()));
      out.linked = true;
      if (*present) {
        if (found) *found = true;
        return out;
      }
    } else if (errno != ENOENT) {
      return fail(sys_error("stat " + dir + "/new/" + file_name));
    }
    auto cur = in_cur(root, rel_dir, file_name);
    if (!cur) return fail(cur.error());
    if (*cur) {
      if (found) *found = true;
      out.dir = dir + "/cur";
      out.linked = true;
      return out;
    }
  }
  if (auto e = publish(stage_path, new_dir.get(), dir, file_name, single_instance, &out.linked)) {
    return fail(as_io(*e));
  }
  return out;
}

}  // namespace cubby::store
