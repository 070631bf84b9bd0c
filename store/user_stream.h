// The user stream: one user's mailboxes and messages as a byte stream, so that a user can be moved
// between back ends through a pipe (`cubbyctl user export | ssh other cubbyctl user import`, and
// `cubbyctl directory move`, docs/scale-out.md "Moving a user"), like Dovecot's dsync over a pipe
// or Cyrus's XFER.
//
// Format, version 1. Text lines end in "\n"; a line is words separated by one space; each word is
// percent-encoded (every byte <= 0x20, >= 0x7F and '%' as %XX), an empty word is "-" (a word that
// is "-" itself is "%2D"). After a `message` line come exactly <size> bytes of the message, then
// "\n".
//   cubby-user-stream 1
//   mailbox <internal name> <uniqueid> <uidvalidity> <uidnext> <acl>
//   quota <storage KiB|-> <messages|->            only when the mailbox is a quota root
//   message <uid> <internaldate> <size> <flags>   flags joined by single spaces, one word
//   <size bytes>
//   end-mailbox <messages in it>
//   ... (more mailboxes, the user's INBOX first, then in name order)
//   end <mailboxes>
// A stream cut short lacks `end`: the reader reports it as an error after importing the mailboxes
// that were complete (each import is idempotent, so the next run finishes the rest).
//
// The writer sends, per mailbox, the messages with since <= UID < uidnext', where uidnext' is the
// mailbox's uidnext read before its messages, lowered to the first UID whose delivery is still in
// flight (a committed row whose file may not stand yet): every message below uidnext' is in the
// stream (or was expunged), so the reader may raise its uidnext to uidnext' and a later stream
// "since uidnext'" sends the rest. Only Cyrus-format mailboxes are written.
//
// The reader imports each mailbox through import_mailbox() (import.h): the mailbox is made with the
// writer's uniqueid, UID validity and ACL; each message keeps its UID, internal date and flags; a
// UID below the mailbox's uidnext here is skipped (its bytes are read and dropped), so a second
// stream never doubles a message. The bytes go first into a staging file under
// <partition>/transfer./ (fsynced), from which import_mailbox hard-links them: one inode per
// message within the target partition, also when the same message (same digest and size) comes
// in several mailboxes. The staging directory is removed when the reader returns, error or not.
// Quota limits are set after the mailboxes (Store::set_quota, which recomputes the usage).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "conf/result.h"
#include "store/error.h"
#include "store/mailbox_name.h"
#include "store/store.h"

namespace cubby::store {

// Per mailbox (internal name): a UID; the stream holds only messages at or above it.
using UidFloors = std::map<std::string, int64_t>;

struct UserStreamSummary {
  int64_t mailboxes = 0;
  int64_t messages = 0;  // written, or (reader) imported now
  int64_t bytes = 0;
  int64_t present = 0;  // reader: skipped, already here (UID below uidnext)
  int64_t created = 0;  // reader: mailboxes made
  // Writer: per mailbox, the uidnext' it sent (see above): the floors of the next stream.
  UidFloors sent_up_to;
};

// Writes the mailboxes of the user whose INBOX is `inbox` (it and every mailbox below it) to `fd`.
// kNotFound when the user has no INBOX here; kBadName for a Maildir mailbox; kCorrupt when a
// settled message's file is missing; kIo for a failed write (a closed pipe among them).
Result<UserStreamSummary, Error> write_user_stream(Store& store, const MailboxName& inbox,
                                                   const UidFloors& since, int fd);

// Reads a stream from `fd` into `store`, new mailboxes on `partition` (the default when empty).
// kCorrupt for a malformed or truncated stream; import_mailbox's errors otherwise.
Result<UserStreamSummary, Error> read_user_stream(Store& store, int fd,
                                                  const std::string& partition);

}  // namespace cubby::store
