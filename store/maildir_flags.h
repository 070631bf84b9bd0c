// IMAP flags of a delivery on a Maildir partition, written the way Dovecot saves a message with
// flags (dovecot/core src/lib-storage/index/maildir/: maildir-save.c, maildir-filename-flags.c,
// maildir-keywords.c), so that Dovecot's IMAP shows them at once:
//   - a message without flags goes to new/ under its base name; one with any flag or keyword goes
//     to cur/ as `<base>:2,<letters>`;
//   - the letters are sorted by their ASCII code: the system flags D \Draft, F \Flagged,
//     R \Answered, S \Seen, T \Deleted (names matched without case), and the keywords a..z: the
//     keyword on the line "<i> <name>" of the mailbox's `dovecot-keywords` file is the letter
//     'a' + i (names compared without case, as Dovecot does);
//   - a keyword the file does not list yet gets the first free index, and the file is rewritten
//     as Dovecot rewrites it: under Dovecot's own `dovecot-uidlist.lock` (a dot-lock created with
//     O_EXCL, holding "<pid>:<host>"; a lock held by someone else is waited for at most
//     `lock_wait`; a delivery waits in DeliveryGroup::stage(), before its index transaction, and
//     not at all in the commit: maildir_delivery.h prepare_maildir_keywords), the new content goes
//     to `dovecot-keywords.lock`, is fsynced and renamed over `dovecot-keywords`, with an mtime
//     later than the old file's (Dovecot rereads the file only when its mtime changes); then the
//     uidlist lock is removed;
//   - \Recent and unknown system flags are dropped; so is a keyword once all 26 letters are in use
//     or when the lock could not be had: those come back in `unmapped` for the caller.
// Every file is reached through the open mailbox directory, never through a symbolic link.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/error.h"

namespace cubby::store {

struct MaildirInfo {
  std::string letters;                // "": no flags, the message goes to new/
  std::vector<std::string> unmapped;  // keywords that have no letter
};

// The letters of `flags` given the keywords already listed (`keywords[i]` is letter 'a' + i; an
// empty entry is a free index). Keywords not listed are put in `unmapped`. Pure: no file access.
MaildirInfo maildir_letters(const std::vector<std::string>& flags,
                            const std::vector<std::string>& keywords);

// The keywords of `dovecot-keywords` in the open Maildir directory `dir` (by index; none when the
// file does not exist).
Result<std::vector<std::string>, Error> read_maildir_keywords(int dir, const std::string& shown);

// The letters of `flags` for a message delivered into the Maildir directory open as `dir` (path
// `shown`, for messages), adding the keywords the mailbox does not know yet to its
// dovecot-keywords file as described above.
Result<MaildirInfo, Error> maildir_info(int dir, const std::string& shown,
                                        const std::vector<std::string>& flags,
                                        std::chrono::milliseconds lock_wait =
                                            std::chrono::seconds(2));

// The file name of a delivery: `base`, or `base:2,<letters>` when there are letters.
std::string maildir_name_with_info(const std::string& base, const std::string& letters);

}  // namespace cubby::store
