// Store: the mailboxes of every partition and the index that describes them.
//
// Opening a Store creates what is missing (the configuration directory, each partition's stage
// directory, the index schema); it does not run recovery (recovery.h), which the worker and cubbyctl
// run explicitly. A Store's own Index connection belongs to the thread that opened it; the delivery
// committer (committer.h) opens a second one. The store knows nothing of sockets or LMTP.
//
// The administrative operations below keep the index, the files, the quota usage and each
// mailbox's header file (mailbox_header.h) in step; errors an administrator can cause are Error
// values: kNotFound (no such mailbox or message), kExists (the name is taken), kBadName (a name or
// request the store refuses). They are not atomic against a crash half-way (a rename moves
// directories, then updates the index); `cubbyctl check` reports what a crash left and
// `cubbyctl reconstruct` repairs it.
//
// Every path these operations touch is reached beneath its partition without following a symbolic
// link (fs.h make_dirs_beneath, open_dir_beneath; files by *at() calls on the opened directory);
// a planted link makes the operation fail with an Error naming the path, before it changes
// anything where it can (create, delete, rename, set_acl, set_quota, delete_message check first).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/result.h"
#include "store/config.h"
#include "store/error.h"
#include "store/fs.h"
#include "store/index.h"
#include "store/mailbox_header.h"
#include "store/maildir_quota.h"
#include "store/mailbox_name.h"
#include "store/stage_file.h"
#include "store/stage_reserve.h"

namespace cubby::store {

class Store {
 public:
  static Result<std::unique_ptr<Store>, Error> open(StoreConfig config);

  const StoreConfig& config() const { return config_; }
  Index& index() { return index_; }

  // Parses an external name with this store's hierarchy separator.
  Result<MailboxName, Error> parse_name(const std::string& external) const {
    return MailboxName::from_external(external, config_.unix_hierarchy_sep);
  }
  std::string external_name(const std::string& internal) const;

  std::string partition_root(const std::string& partition) const;
  std::string mailbox_dir(const MailboxRecord& m) const;
  // The file of message `uid`: "<dir>/<uid>." on a Cyrus partition; on a Maildir partition the
  // row's file in new/, or in cur/ with flags where Dovecot moved it (new/<file> when gone).
  std::string message_path(const MailboxRecord& m, int64_t uid) const;
  std::string message_path(const MailboxRecord& m, const MessageRecord& row) const;
  // Whether the mailbox lives on a Maildir++ partition (docs/dovecot.md).
  bool is_maildir(const MailboxRecord& m) const;
  // Maildir: the quota of the user owning `m`, from maildirsize (recalculated when garbled or
  // stale); nullopt when the user has none.
  Result<std::optional<MaildirQuota>, Error> maildir_quota(const MailboxRecord& m);

  // Creates the mailbox, its directory and its header on `partition` (default partition when
  // empty). A user's mailbox gives its owner every right; a shared one gets defaultacl.
  Result<MailboxRecord, Error> create_mailbox(const MailboxName& name,
                                              const std::string& partition = "");
  // Removes the mailbox, its index rows, its message files and its quota root if it is one; the
  // usage of the root that covered it goes down. Deleting a user's INBOX deletes the user: every
  // mailbox below it too.
  [[nodiscard]] std::optional<Error> delete_mailbox(const MailboxName& name);
  // Renames a mailbox and every mailbox below it, on the same partition; unique ids (and so
  // duplicate suppression), UIDs and quota roots go with them. An INBOX can only become another
  // user's INBOX (renaming the user).
  [[nodiscard]] std::optional<Error> rename_mailbox(const MailboxName& from, const MailboxName& to);
  std::optional<MailboxRecord> find_mailbox(const MailboxName& name) {
    return index_.find_mailbox(name.internal());
  }
  // Stores a new ACL (acl.h stored form) in the index and the header.
  [[nodiscard]] std::optional<Error> set_acl(const MailboxRecord& m, const std::string& acl);
  // Removes one message from one mailbox: its row, its usage, its link (the file goes with the
  // last link). The header's UID floor is raised first, so reconstruct never reuses the UID.
  [[nodiscard]] std::optional<Error> delete_message(const MailboxRecord& m, int64_t uid);
  // Sets the limits of the quota root on mailbox `name` (created if needed); no limit at all
  // removes the root. Recomputes the usage of the roots concerned. On a Maildir partition the
  // quota is the user's maildirsize instead (only on an INBOX; "none" writes "0S": no limit).
  [[nodiscard]] std::optional<Error> set_quota(const MailboxName& name, std::optional<int64_t> storage_kib,
                                 std::optional<int64_t> messages);
  // Rewrites a mailbox's header from the index (the quota limits included when it is a root).
  [[nodiscard]] std::optional<Error> write_header(const MailboxRecord& m);
  // Opens a mailbox's directory, or one message file read-only, beneath its partition without
  // following a link (fs.h); kNotFound when missing.
  [[nodiscard]] std::optional<Error> open_mailbox_dir(const MailboxRecord& m, Fd* fd) const;
  [[nodiscard]] std::optional<Error> open_message_file(const MailboxRecord& m, int64_t uid, Fd* fd) const;

  // A stage file for a message arriving on `partition`: one the reserve made ahead (its name
  // durable) when it has one ready, else a new one.
  Result<StageFile, Error> create_stage(const std::string& partition) const;
  // The stage files made ahead for create_stage(); a worker's committer refills it (committer.h).
  StageReserve& stage_reserve() const { return *reserve_; }

 private:
  Store(StoreConfig config, Index index) : config_(std::move(config)), index_(std::move(index)) {}
  [[nodiscard]] std::optional<Error> delete_one(const MailboxRecord& m);
  // Maildir: unlinks the files `rows` name wherever Dovecot moved them, and appends the removal
  // to the user's maildirsize (when there is one).
  [[nodiscard]] std::optional<Error> remove_maildir_files(const MailboxRecord& m,
                                                          const std::vector<MessageRecord>& rows);
  StoreConfig config_;
  Index index_;
  std::unique_ptr<StageReserve> reserve_ = std::make_unique<StageReserve>(config_.stage_reserve);
};

// Parses the "<uid>." file name of a message; nullopt for anything else.
std::optional<int64_t> parse_message_file_name(const std::string& name);

}  // namespace cubby::store
