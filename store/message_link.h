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

// On a Maildir partition (docs/store-protocol.md, "Maildir++ partitions") the file is
// <root>/<rel_dir>/new/<file_name>, the unique name the row records, and Dovecot owns it once it
// is there: it may move it to cur/<file_name>:2,<flags> or unlink it (expunge). So:
//   - `fresh` (the delivery's link step: the name was just made and cannot exist): a hard link
//     into new/, or, where none can be made, a durable copy in tmp/ renamed into new/ (never a
//     partial file in new/); an existing entry is an error, never replaced;
//   - otherwise (recovery, settling): the message is looked for by its name in new/ and then in
//     cur/ (find_maildir_message). In new/ its entry is made anew by exchanging it atomically with
//     a fresh link of the stage file (renameat2 RENAME_EXCHANGE; a dot name, which Dovecot
//     ignores, holds the old entry until it is unlinked), so the directory is dirty again for the
//     next fsync; if Dovecot moves it meanwhile the exchange fails and nothing is made. In cur/ it
//     is left alone (its directory is returned to be fsynced). Nowhere: it is linked into new/
//     again (a message Dovecot expunged before its row was durable comes back: a duplicate is
//     preferred to a loss).
// Nothing in new/ or cur/ that a row names is ever deleted or renamed. *found is set when the
// message already stood in new/ or cur/. Every error is kIo (the recipient gets 451).
[[nodiscard]] Result<MessageLink, Error> link_maildir_message(const std::string& stage_path,
                                                              const std::string& root,
                                                              const std::string& rel_dir,
                                                              const std::string& file_name,
                                                              bool single_instance, bool fresh,
                                                              bool* found = nullptr);

}  // namespace cubby::store
