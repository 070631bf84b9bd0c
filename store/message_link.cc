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
#include "store/maildir_file_name.h"

namespace cubby::store {

namespace {

// Makes a hard link to `from` at `path`, or a durable copy where links cannot be made (or with
// singleinstancestore off); the name must be free. *linked says which.
std::optional<Error> make_new(const std::string& from, const std::string& path,
                              bool single_instance, bool* linked) {
  *linked = false;
  if (single_instance) {
    if (::link(from.c_str(), path.c_str()) == 0) {
      *linked = true;
      return std::nullopt;
    }
    if (errno != EXDEV && errno != EMLINK && errno != EPERM && errno != EOPNOTSUPP) {
      return sys_error("link " + path);
    }
  }
  return copy_file(from, path);
}

// Frees `name` (a temporary name of ours) and makes it anew as make_new() does.
std::optional<Error> make_temporary(const std::string& from, const std::string& tmp,
                                    bool single_instance, bool* linked) {
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + tmp);
  return make_new(from, tmp, single_instance, linked);
}

}  // namespace

Result<MessageLink, Error> link_message(const std::string& stage_path, const std::string& root,
                                        const std::string& rel_dir, int64_t uid,
                                        bool single_instance, LinkMode mode) {
  // The directory must open without following a link. (The file is then made by path, as the
  // fault interposer of tests/fault expects; a link swapped in between is a race only someone who
  // can already write the spool could run.)
  int dir_fd = -1;
  if (auto e = open_dir_beneath(root, rel_dir, &dir_fd)) return fail(*e);
  ::close(dir_fd);  // only the check was needed
  MessageLink out;
  out.dir = root + "/" + rel_dir;
  const std::string name = std::to_string(uid) + ".";
  const std::string path = out.dir + "/" + name;
  struct stat st;
  out.existed = ::lstat(path.c_str(), &st) == 0;
  if (!out.existed) {
    if (auto e = make_new(stage_path, path, single_instance, &out.linked)) return fail(*e);
    return out;
  }
  switch (mode) {
    case LinkMode::kMissing:
      out.made = false;
      return out;
    case LinkMode::kNew:
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail(sys_error("unlink " + path));
      if (auto e = make_new(stage_path, path, single_instance, &out.linked)) return fail(*e);
      return out;
    case LinkMode::kRemake:
      break;
  }
  // Never a <uid>. name, so check and reconstruct ignore it; a crash between the steps leaves it
  // to the next settling or recovery of the same row, which frees it first.
  const std::string tmp = out.dir + "/." + name + "remake";
  bool linked = false;
  if (auto e = make_temporary(stage_path, tmp, /*single_instance=*/false, &linked)) {
    return fail(*e);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sys_error("rename " + tmp));
  if (auto e = make_temporary(stage_path, tmp, single_instance, &out.linked)) return fail(*e);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(sys_error("rename " + tmp));
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

// Makes <sub>/<file_name> (sub: new, or cur for a name with flags) from the stage file: a hard
// link, or a durable copy in tmp/ renamed into place (so new/ and cur/ never show a partial file).
// An existing entry is an error.
std::optional<Error> publish(const std::string& stage_path, int sub_fd, const std::string& dir,
                             const std::string& sub, const std::string& file_name,
                             bool single_instance, bool* linked) {
  const std::string target = dir + "/" + sub + "/" + file_name;
  if (single_instance) {
    if (::linkat(AT_FDCWD, stage_path.c_str(), sub_fd, file_name.c_str(), 0) == 0) {
      *linked = true;
      return std::nullopt;
    }
    if (errno != EXDEV && errno != EMLINK && errno != EPERM && errno != EOPNOTSUPP) {
      return sys_error("link " + stage_path + " to " + target);
    }
  }
  const std::string tmp = dir + "/tmp/" + std::string(maildir_base_name(file_name));
  if (auto e = copy_file(stage_path, tmp)) {
    ::unlink(tmp.c_str());
    return e;
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), sub_fd, file_name.c_str(), RENAME_NOREPLACE) != 0) {
    auto e = sys_error("rename " + tmp + " to " + target);
    ::unlink(tmp.c_str());
    return e;
  }
  *linked = false;
  return std::nullopt;
}

// new/<file_name> exists: its entry is made anew by two atomic exchanges through a dot name
// (Dovecot skips dot names): first with a durable copy of the stage file, then with a fresh hard
// link of it, so the name never disappears, ends as one inode with the others, and the directory
// is dirty again for the next fsync (an exchange between two links of one inode would do nothing,
// hence the copy). False when it vanished meanwhile (Dovecot moved it); then nothing was made.
Result<bool, Error> refresh(const std::string& stage_path, int new_fd, const std::string& dir,
                            const std::string& file_name) {
  const std::string holder = ".cubby-relink-" + file_name;
  const std::string holder_path = dir + "/new/" + holder;
  for (bool copy : {true, false}) {
    ::unlinkat(new_fd, holder.c_str(), 0);
    if (copy) {
      if (auto e = copy_file(stage_path, holder_path)) return fail(*e);
    } else if (::linkat(AT_FDCWD, stage_path.c_str(), new_fd, holder.c_str(), 0) != 0) {
      // No hard link possible here: the copy stays in place, which is all that can be done.
      if (errno == EXDEV || errno == EMLINK || errno == EPERM || errno == EOPNOTSUPP) return true;
      return fail(sys_error("link " + stage_path + " to " + holder_path));
    }
    if (::renameat2(new_fd, holder.c_str(), new_fd, file_name.c_str(), RENAME_EXCHANGE) != 0) {
      const int err = errno;
      ::unlinkat(new_fd, holder.c_str(), 0);
      if (err == ENOENT) return false;  // Dovecot moved it: cur/ is looked at next
      if (err == EINVAL) return true;   // no exchange on this file system; the entry stays
      return fail(sys_error("exchange " + dir + "/new/" + file_name, err));
    }
    if (::unlinkat(new_fd, holder.c_str(), 0) != 0 && errno != ENOENT) {
      return fail(sys_error("unlink " + holder_path));
    }
  }
  return true;
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
                                                bool single_instance, LinkMode mode,
                                                int new_dir_fd) {
  // A name with flags (<base>:2,<letters>, maildir_flags.h) is delivered into cur/; the message
  // is found by its base name wherever it is.
  const std::string base(maildir_base_name(file_name));
  const bool flagged = base.size() != file_name.size();
  if (base.empty() || file_name.find('/') != std::string::npos || file_name[0] == '.') {
    return fail(Error{Errc::kIo, "not a Maildir file name: \"" + file_name + "\""});
  }
  Fd opened;  // new/, unless the caller keeps it open
  if (new_dir_fd < 0) {
    if (auto e = open_dir_beneath(root, rel_dir + "/new", &opened)) return fail(as_io(*e));
    new_dir_fd = opened.get();
  }
  const std::string dir = root + "/" + rel_dir;
  MessageLink out;
  out.dir = dir + "/new";
  if (mode != LinkMode::kNew) {
    struct stat st;
    if (::fstatat(new_dir_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      out.existed = true;
      if (mode == LinkMode::kMissing) {
        out.made = false;
        return out;
      }
      auto present = refresh(stage_path, new_dir_fd, dir, base);
      if (!present) return fail(as_io(present.error()));
      if (*present) {
        out.linked = true;
        return out;
      }
      out.existed = false;  // Dovecot moved it meanwhile: cur/ is looked at
    } else if (errno != ENOENT) {
      return fail(sys_error("stat " + dir + "/new/" + base));
    }
    auto cur = in_cur(root, rel_dir, base);
    if (!cur) return fail(cur.error());
    if (*cur) {
      out.existed = true;
      out.made = mode == LinkMode::kRemake;  // then its directory is fsynced, nothing more
      out.dir = dir + "/cur";
      out.linked = true;
      return out;
    }
  }
  if (!flagged) {
    if (auto e = publish(stage_path, new_dir_fd, dir, "new", file_name, single_instance,
                         &out.linked)) {
      return fail(as_io(*e));
    }
    return out;
  }
  Fd cur_dir;
  if (auto e = open_dir_beneath(root, rel_dir + "/cur", &cur_dir)) return fail(as_io(*e));
  out.dir = dir + "/cur";
  if (auto e = publish(stage_path, cur_dir.get(), dir, "cur", file_name, single_instance,
                       &out.linked)) {
    return fail(as_io(*e));
  }
  return out;
}

Result<MessageLink, Error> link_delivery(const std::string& stage_path, const std::string& root,
                                         const std::string& rel_dir, int64_t uid,
                                         const std::string& file_name, bool single_instance,
                                         LinkMode mode, int new_dir_fd) {
  if (file_name.empty()) return link_message(stage_path, root, rel_dir, uid, single_instance, mode);
  return link_maildir_message(stage_path, root, rel_dir, file_name, single_instance, mode,
                              new_dir_fd);
}

}  // namespace cubby::store
