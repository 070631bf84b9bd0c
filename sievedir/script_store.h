// A user's Sieve scripts, kept where Cyrus keeps them so that a Cyrus `sievedir` copied over works
// unchanged (docs/sieve.md):
//   <sievedir>/<h>/<user>/<name>.script        the source of each script
//   <sievedir>/<h>/<user>/defaultbc            symlink naming "<name>.bc": the active script
//   <sievedir>/domain/<h>/<domain>/<h>/<user>/ for a user "user@domain"
//   <sievedir>/global/<name>.script            global scripts (include :global)
// <h> is Cyrus's hashed first letter (fulldirhash off): the lower-cased first character, or 'q'
// when that is not a letter a-z. Only the `.script` source is ever read; Cyrus's bytecode (`.bc`)
// is ignored, the `defaultbc` link only names which script is active.
// Errors are values (std::optional<std::string> / Result with a message for people).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"

namespace cubby::sievedir {

struct ScriptInfo {
  std::string name;
  bool active = false;
};

// The file of a script, with what identifies its version (the compiled-script cache key). The
// inode and ctime are part of it because mtime alone may not move: `put` replaces a script by
// rename (a new inode) possibly within one timestamp tick, with a script of the same size.
struct ScriptFile {
  std::string path;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;
  int64_t ctime_ns = 0;

  bool same_version(const ScriptFile& o) const {
    return path == o.path && mtime_ns == o.mtime_ns && size == o.size && inode == o.inode &&
           ctime_ns == o.ctime_ns;
  }
  // The version as text (path, mtime, size, inode, ctime), for keys.
  std::string version() const;
};

class ScriptStore {
 public:
  explicit ScriptStore(std::string sievedir) : root_(std::move(sievedir)) {}

  // Cyrus's hashed first letter of a name.
  static char hash_letter(const std::string& name);
  // A script name is usable when it is non-empty, at most 255 bytes, has no '/', NUL or control
  // character and does not start with '.'.
  static bool valid_name(const std::string& name);

  std::string user_dir(const std::string& user) const;
  std::string global_dir() const { return root_ + "/global"; }

  // The active script of `user`: nullopt when none (no defaultbc link, or its script is missing).
  std::optional<ScriptFile> active(const std::string& user) const;
  std::optional<std::string> active_name(const std::string& user) const;
  std::optional<ScriptFile> personal(const std::string& user, const std::string& name) const;
  std::optional<ScriptFile> global(const std::string& name) const;

  Result<std::vector<ScriptInfo>, std::string> list(const std::string& user) const;
  // Writes <name>.script atomically (temp file + rename), making the directories as needed.
  std::optional<std::string> put(const std::string& user, const std::string& name,
                                 const std::string& source, int max_scripts) const;
  std::optional<std::string> activate(const std::string& user, const std::string& name) const;
  std::optional<std::string> deactivate(const std::string& user) const;
  // Refuses the active script (as Cyrus's timsieved does): deactivate it first.
  std::optional<std::string> remove(const std::string& user, const std::string& name) const;

 private:
  std::string root_;
};

// The whole content of a file, or an error message.
Result<std::string, std::string> read_file(const std::string& path);
// A file's identity for the cache, nullopt when it is not a regular file.
std::optional<ScriptFile> stat_script(const std::string& path);

}  // namespace cubby::sievedir
