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

// On a Maildir partition (docs/store-protocol.md, "Maildir++ partitions") the file is
// <root>/<rel_dir>/new/<file_name>, the unique name the row records, and Dovecot owns it once it
// is there: it may move it to cur/<file_name>:2,<flags> or unlink it (expunge). So:
//   - kNew (the delivery's link step: the name was just made and cannot exist): a hard link
//     into new/, or, where none can be made, a durable copy in tmp/ renamed into new/ (never a
//     partial file in new/); an existing entry is an error, never replaced;
//   - otherwise (recovery: kMissing, settling: kRemake): the message is looked for by its name in
//     new/ and then in cur/ (find_maildir_message). Found, recovery leaves it alone. Settling
//     makes its entry in new/ anew by two atomic exchanges through a dot name, which Dovecot
//     ignores (renameat2 RENAME_EXCHANGE, first with a durable copy, then with a fresh link of the
//     stage file), so the directory is dirty again for the next fsync; if Dovecot moves it
//     meanwhile the exchange fails and cur/ is looked at. In cur/ it is left alone (its directory
//     is returned to be fsynced). Nowhere: it is linked into new/
//     again (a message Dovecot expunged before its row was durable comes back: a duplicate is
//     preferred to a loss).
// Nothing in new/ or cur/ that a row names is ever deleted or renamed. MessageLink::existed says
// whether the message already stood in new/ or cur/. Every error is kIo (the recipient gets 451).
[[nodiscard]] Result<MessageLink, Error> link_maildir_message(const std::string& stage_path,
                                                              const std::string& root,
                                                              const std::string& rel_dir,
                                                              const std::string& file_name,
                                                              bool single_instance,
                                                              LinkMode mode,
                                                              int new_dir_fd = -1);

// The file of one delivery, whichever the partition's format: link_maildir_message when the row
// names a Maildir file (`file_name` not empty), else link_message. `new_dir_fd`, for a Maildir
// file: <root>/<rel_dir>/new already open as link_maildir_message would open it (beneath the
// root, no symbolic link: open_dir_beneath), when the caller links several messages into it
// (DeliveryGroup::link keeps one per directory for its group); -1 opens it for this call.
[[nodiscard]] Result<MessageLink, Error> link_delivery(const std::string& stage_path,
                                                       const std::string& root,
                                                       const std::string& rel_dir, int64_t uid,
                                                       const std::string& file_name,
                                                       bool single_instance, LinkMode mode,
                                                       int new_dir_fd = -1);

}  // namespace cubby::store
