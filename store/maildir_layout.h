// Maildir layout: where a mailbox of a Maildir++ partition lives, and making one safely.
//
// On a partition whose format is maildir (config.h) every user is one Maildir++ directory, the one
// Dovecot opens with `mail_location = maildir:<partition>/%d/%n` (docs/dovecot.md):
//   <partition>/<user>/             the INBOX: cur/ new/ tmp/, and maildirsize (maildir_quota.h)
//   <partition>/<user>/.Work/       folder Work: cur/ new/ tmp/ and an empty file maildirfolder
//   <partition>/<user>/.Work.Sub/   folder Work/Sub ('.' is Maildir++'s hierarchy separator)
// A user in a domain (virtdomains) lives in <partition>/<domain>/<user>/ (%d is the domain, empty
// for a user without one). A folder's components are Cubby's internal components, which are
// already IMAP modified UTF-7 as Dovecot keeps folder names on disk. What has no Maildir++ name is
// refused with kBadName: a shared mailbox (no user), a folder component holding '.', a first
// folder component "INBOX" (any case: Dovecot's INBOX is the user directory itself), and a user or
// domain named "stage." (Cubby's stage directory in the partition root). hashimapspool does not
// apply to Maildir partitions.
//
// Creating never follows a symbolic link and never leaves the partition: every directory is opened
// beneath the partition root (fs.h open_beneath). An existing directory is fine (Dovecot may have
// made it); a link or a file where a directory belongs is an error. Each directory created is
// made durable by an fsync of its parent, and the parent of the first one created too.
#pragma once

#include <optional>
#include <string>

#include "conf/result.h"
#include "store/error.h"
#include "store/fs.h"
#include "store/mailbox_name.h"

namespace cubby::store {

// The user's Maildir relative to the partition root: "alice", "example.com/alice".
Result<std::string, Error> maildir_user_dir(const MailboxName& name);
// The folder's directory name inside the user's Maildir: "" for the INBOX, ".Work.Sub" for
// user.alice.Work.Sub.
Result<std::string, Error> maildir_folder_dir(const MailboxName& name);
// The mailbox's Maildir relative to the partition root: "alice", "alice/.Work.Sub".
Result<std::string, Error> maildir_mailbox_dir(const MailboxName& name);

// Creates the mailbox's Maildir (and the user's, and the domain's directory, when missing): cur/,
// new/, tmp/, and for a folder the maildirfolder file; durable when it returns. Idempotent.
[[nodiscard]] std::optional<Error> create_maildir_mailbox(const std::string& partition_root,
                                            const MailboxName& name);

// The three directories of a Maildir.
enum class MaildirSubdir { kNew, kCur, kTmp };
const char* subdir_name(MaildirSubdir subdir);  // "new", "cur", "tmp"

// Opens <partition_root>/<mailbox dir>/<subdir> beneath the partition root without following
// links: what a delivery links its message into (linkat to new/). An error when it is missing, a
// file or a link (the delivery then refuses that recipient with 451).
Result<Fd, Error> open_maildir_subdir(const std::string& partition_root, const MailboxName& name,
                                      MaildirSubdir subdir);

// An open user Maildir (the INBOX directory, parent of the user's folders): what the quota file
// (maildir_quota.h) is read and counted from.
class UserMaildir {
 public:
  // Opens <partition_root>/<user_dir> beneath the partition root without following links.
  static Result<UserMaildir, Error> open(const std::string& partition_root,
                                         const std::string& user_dir);
  // The user's Maildir of any mailbox of that user.
  static Result<UserMaildir, Error> open(const std::string& partition_root,
                                         const MailboxName& name);
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }  // for messages

 private:
  UserMaildir(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Fd fd_;
  std::string path_;
};

}  // namespace cubby::store
