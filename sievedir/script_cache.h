// Compiled Sieve scripts of one worker, keyed by the script file's path and recompiled when its
// version changes (mtime, size, inode or ctime: a script replaced by `cubbyctl sieve put` is a new
// inode); and the note that a script's failure was already logged, so that a broken
// script is logged once per version of the file, not once per message. Not thread-safe: one per
// worker thread (the lmtpd event loop), or behind the caller's lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "sieve/sieve.h"
#include "sievedir/script_store.h"

namespace cubby::sievedir {

struct CompiledScript {
  ScriptFile file;
  std::shared_ptr<const sieve::Script> script;  // null when it did not compile (or read)
  std::optional<sieve::Error> error;            // why not
  // XXH3-128 of the source: scripts of two users with the same bytes compile to the same script
  // (what lets delivery share one evaluation between them; sieve_delivery.h). 0 when unread.
  std::pair<uint64_t, uint64_t> source_hash{0, 0};
};

class ScriptCache {
 public:
  explicit ScriptCache(size_t capacity = 4096) : capacity_(capacity) {}
  // The compiled script of `file` (read and compiled on a miss or when the file changed).
  std::shared_ptr<const CompiledScript> get(const ScriptFile& file, const sieve::Limits& limits);
  // True the first time a failure of this version of the file is noted: log it then.
  bool first_failure(const ScriptFile& file, const std::string& what);
  size_t compiles() const { return compiles_; }

 private:
  size_t capacity_;
  size_t compiles_ = 0;
  std::map<std::string, std::shared_ptr<const CompiledScript>> by_path_;
  std::set<std::string> failures_;  // ScriptFile::version() \n what
};

// The source of an included script (RFC 6609) for `user`, as delivery and `cubbyctl sieve test`
// find it: personal scripts in the user's directory, global ones in <sievedir>/global.
std::optional<std::string> include_source(const ScriptStore& store, const std::string& user,
                                          std::string_view name, sieve::ScriptLocation where);

}  // namespace cubby::sievedir
