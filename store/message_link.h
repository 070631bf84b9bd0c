// Making a delivered message's file: <partition>/<mailbox dir>/<uid>. from the transaction's stage
// file. One rule for every place that makes one (delivery's link step, recovery, settling after a
// failed sync; docs/store-protocol.md):
//   - the mailbox directory is opened beneath the partition without following a symbolic link
//     (a link planted as, or above, it would lead out of the partition);
//   - a hard link to the stage file (invariant 3), replacing whatever stands at the name (only a
//     stale file from before a crash, or this very message being linked again, can);
//   - a durable copy only where hard links cannot be made (another file system, a link-count
//     limit, no hard links at all) or with singleinstancestore off; any other failure (an I/O
//     error, a full disk) is returned, and nothing is left at the name.
// The new directory entry is not fsynced here: the caller collects the directories and syncs them
// together (a Checkpoint, recovery, settling).
#pragma once

#include <cstdint>
#include <string>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

struct MessageLink {
  std::string dir;      // absolute path of the mailbox directory: to fsync later
  bool linked = false;  // false: a copy was written
};

// Makes <root>/<rel_dir>/<uid>. from `stage_path` as the rule above says.
[[nodiscard]] Result<MessageLink, Error> link_message(const std::string& stage_path,
                                                      const std::string& root,
                                                      const std::string& rel_dir, int64_t uid,
                                                      bool single_instance);

}  // namespace cubby::store
