// Import: bringing a mailbox over from another server's files (a Cyrus spool) under its own UIDs,
// so that IMAP clients keep their caches: the mailbox keeps its unique id, UID validity and ACL,
// each message its UID, internal date and system flags, and uidnext never falls below the
// source's. The message file is hard-linked from the source (one inode shared with it), or copied
// and fsynced where no hard link can be made (another file system, singleinstancestore: no).
//
// The steps for one mailbox, in the order that makes a crash harmless:
//   1. the mailbox is created when missing (directory, row with the source's uniqueid, uidvalidity
//      and ACL, header); when it exists its UID validity must be the source's, else nothing is
//      imported into it (the source mailbox was deleted and made again: its UIDs mean other
//      messages);
//   2. every source message whose UID is at or above the mailbox's uidnext is linked to
//      <dir>/<uid>. (a file already there can only be a link left by an import that crashed
//      before step 4, and is replaced); a UID below uidnext is never imported again, so a second
//      run adds only what arrived since, and never doubles a message, nor brings back one deleted
//      in Cubby;
//   3. the mailbox directory is fsynced;
//   4. one transaction inserts the rows (durable at once: pending = 0), raises uidnext to the
//      source's and charges the covering quota root; then the header is rewritten.
// A crash before 4 leaves files without rows (cubbyctl check reports them as strays); the next run
// links them again and commits. A row's `stage` is "import:<dev>:<ino>" of the source file when
// linked (rows sharing it share that inode, as cubbyctl check expects of a transaction) and
// "import:<mailbox id>:<uid>" when copied.
//
// Only Cyrus-format mailboxes take imports (a Maildir partition's files belong to Dovecot): a new
// mailbox on a Cyrus partition, or one already here whose own format is Cyrus (mailboxes.format,
// cubbyctl convert), on whatever partition it now is; one being converted is refused (kBusy).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/error.h"
#include "store/mailbox_name.h"
#include "store/store.h"

namespace cubby::store {

struct ImportedMessage {
  int64_t uid = 0;
  std::string path;                // the source file, absolute
  int64_t internaldate = 0;        // seconds since the epoch
  std::vector<std::string> flags;  // IMAP flags ("\\Seen", ...), kept in message_flags
};

struct ImportedMailbox {
  MailboxName name;
  std::string partition;  // Cubby's; the default partition when empty
  std::string uniqueid;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;                    // the source's: no UID below it is ever handed out again
  std::string acl;                        // stored form (acl.h)
  std::vector<ImportedMessage> messages;  // in any order
};

struct ImportResult {
  bool created = false;  // the mailbox was made
  int added = 0;         // messages imported now
  int linked = 0;        // of which hard links (the rest are copies)
  int64_t bytes = 0;     // their bytes
  int present = 0;       // skipped: UID below uidnext (imported before, or deleted since)
};

// Imports `box` as described above. With `dry_run` nothing is changed and the result says what
// would be done. kCorrupt when the mailbox exists with another UID validity; kBadName for a
// Maildir mailbox or partition or an unknown partition; kBusy for a mailbox being converted; kIo
// and kNotFound (a source file gone) for the rest, in which case nothing of this mailbox's new
// messages is committed.
[[nodiscard]] Result<ImportResult, Error> import_mailbox(Store& store, const ImportedMailbox& box,
                                                         bool dry_run);

}  // namespace cubby::store
