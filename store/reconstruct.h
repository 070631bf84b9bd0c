// Reconstruct: rebuild the index from what is on disk, as Cyrus's reconstruct does: after the
// index was lost or damaged, or files were added, removed or changed behind its back.
//
// 1. Mailboxes the index lacks are found on disk: with no names given, by walking every partition
//    (a directory is a mailbox when it holds a cubby.header, or <uid>. files in the legacy layout,
//    whose name is then read back from the path); with names, at each name's directory on each
//    partition. Such a mailbox is added with its header's unique id (so duplicate suppression
//    survives), UID validity, ACL and quota limits; without a header it gets new ones and the
//    default ACL.
// 2. Each mailbox's directory is compared with its rows, in one write transaction per mailbox (so
//    deliveries may go on meanwhile; rows still pending are left to recovery):
//    - a file without a row is "found" and added under its own UID when the mailbox was just
//      added, or when its UID is at or above uidnext; below uidnext (a UID that was handed out and
//      whose row is gone) it is "rediscovered": renamed to a new UID and added there, so no UID is
//      ever reused (Cyrus does the same);
//    - a row whose file is gone is removed; a row whose file has another size is corrected (size
//      and XXH3 re-read); an empty file is removed, as Cyrus treats it as missing;
//    - uidnext ends above the highest UID and at or above the header's floor (mailbox_header.h).
// 3. The usage of every quota root is recomputed; every header is rewritten from the index.
// Each change is reported as one line.
#pragma once

#include <string>
#include <vector>

#include "conf/result.h"
#include "store/error.h"
#include "store/mailbox_name.h"
#include "store/store.h"

namespace cubby::store {

struct ReconstructReport {
  std::vector<std::string> events;    // one line per change
  std::vector<std::string> problems;  // what could not be done
  int mailboxes = 0;                  // mailboxes examined
  int mailboxes_added = 0;
  int found = 0, rediscovered = 0, removed = 0, corrected = 0;
};

// `only`: the mailboxes to reconstruct; empty for the whole store.
Result<ReconstructReport, Error> reconstruct(Store& store, const std::vector<MailboxName>& only);

}  // namespace cubby::store
