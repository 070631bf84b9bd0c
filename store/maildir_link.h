// Publishing a staged message in a Maildir: the hard link into a mailbox's new/ under a fresh
// unique name (maildir_file_name.h), which is what makes it visible to Dovecot; and finding or
// removing that link later, wherever Dovecot has moved it.
//
// The stage file must be complete and durable (StageFile::sync) before it is linked: from the
// moment the link exists Dovecot may show it, move it to cur/ or expunge it, and it owns the file
// from then on. So nothing partial ever appears in new/. The link itself is durable only once
// new/ is fsynced; the caller batches that (one fsync per new/ directory per group commit, with
// fsync_dir(partition_root + "/" + dir + "/new") or the descriptor of open_maildir_subdir()). The
// stage file stays where it is; removing it is the caller's checkpoint, as on a Cyrus partition.
#pragma once

#include <string>

#include "conf/result.h"
#include "store/error.h"
#include "store/mailbox_name.h"
#include "store/maildir_file_name.h"

namespace cubby::store {

struct MaildirLink {
  std::string file_name;  // the name in new/, e.g. "1764660000.M123P45Q0R….host,S=812,W=830"
  std::string path;       // relative to the partition root, e.g. "alice/.Work/new/<file_name>"
};

// Links `stage_path` (a file on the same partition) into new/ of mailbox `name` on the Maildir
// partition `partition_root`, never following a symbolic link on the way to new/. Another name is
// tried if the first one exists (it cannot, short of a clock step back onto a reused pid and the
// same 64 random bits). An error names the path: new/ missing, a file or a link (kIo), no space
// (kNoSpace), a name without a Maildir++ place (kBadName).
Result<MaildirLink, Error> link_into_new(const std::string& partition_root, const MailboxName& name,
                                         const std::string& stage_path, MaildirNamer& namer,
                                         const MessageSizes& sizes);

// Where the message linked as `file_name` is now, relative to the partition root: still
// "<dir>/new/<file_name>", or "<dir>/cur/<file_name>:2,<flags>" (or without info) once Dovecot
// has seen it; nullopt when it is gone (expunged). Finding it in cur/ reads the directory.
Result<std::optional<std::string>, Error> find_maildir_message(const std::string& partition_root,
                                                               const MailboxName& name,
                                                               const std::string& file_name);
// Removes that link wherever it is (cubbyctl message delete); false when it was already gone.
// The directory is not fsynced, and the quota is the caller's (append_maildir_quota with the
// negative size).
Result<bool, Error> unlink_maildir_message(const std::string& partition_root,
                                           const MailboxName& name, const std::string& file_name);

}  // namespace cubby::store
