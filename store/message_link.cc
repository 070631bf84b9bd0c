// Making a delivered message's file from its stage file; see message_link.h.
#include "store/message_link.h"

#include <unistd.h>

#include <cerrno>

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
