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
//
// What happens where a file already stands at the name depends on who asks (LinkMode):
//   kNew      delivery: the name's UID was just allocated, so a file there is stale (from before a
//             crash) and is replaced;
//   kMissing  recovery: a file there is this message, left alone (readers such as an IMAP server
//             must never see it vanish);
//   kRemake   settling after a failed fsync: a file there is this message, but its directory entry
//             may not be on disk although the page cache shows it, so the entry is made anew by
//             atomic renames (a durable copy renamed over it, then a new hard link renamed over
//             the copy: the name never disappears, and the directory is dirty again, so the next
//             fsync really writes it). rename() between two links of one inode does nothing,
//             hence the copy in between.
#pragma once

#include <cstdint>
#include <string>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

enum class LinkMode { kNew, kMissing, kRemake };

struct MessageLink {
  std::string dir;      // absolute path of the mailbox directory: to fsync later
  bool made = true;     // false: kMissing found the file there and left it
  bool existed = false; // a file stood at the name before
  bool linked = false;  // the name is a hard link to the stage file (else a copy, or untouched)
};

// Makes <root>/<rel_dir>/<uid>. from `stage_path` as the rules above say.
[[nodiscard]] Result<MessageLink, Error> link_message(const std::string& stage_path,
                                                      const std::string& root,
                                                      const std::string& rel_dir, int64_t uid,
                                                      bool single_instance,
                                                      LinkMode mode = LinkMode::kNew);

}  // namespace cubby::store
