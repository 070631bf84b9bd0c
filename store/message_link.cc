// Making a delivered message's file from its stage file; see message_link.h.
#include "store/message_link.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "store/fs.h"

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
