// Index: the store's metadata in SQLite ({configdirectory}/cubby.sqlite, WAL): mailboxes and the
// messages in them (quota roots and duplicate marks have their own modules: quota.h, duplicates.h).
// Opening an Index creates or upgrades the schema (schema.h).
//
// One Index is one connection, used by one thread. Workers keep two: one for RCPT-time lookups on
// the event-loop thread and one for the committer thread. The schema:
//   mailboxes(id, name, uniqueid, partition, dir, uidvalidity, uidnext, created, acl, format,
//             converting)
//   messages(mailbox, uid, guid, size, internaldate, stage, pending, file): durable rows
//   deliveries(mailbox, uid, guid, size, internaldate, stage, file): pending rows, in commit order
//   message_flags(mailbox, uid, flags): a Sieve script's flags or an imported message's
//   (import.h), deleted with the message (a trigger for a durable row; for a pending one, the
//   methods below that take it back)
// `uidnext` only grows (invariant 4: a UID is never reused, even after a failed delivery or a
// crash, because it is allocated inside the committing transaction). `stage` names the stage file
// the message was linked from: it identifies the delivery transaction (all rows of one transaction
// on one partition share one inode: invariant 3, which cubbyctl check verifies). A row is pending
// until the link's directory entry is known to be durable; recovery relinks pending rows whose file
// is missing from their stage file, which is kept until then. Pending rows live in `deliveries`,
// appended in commit order, so that a group's COMMIT writes a page or two of it rather than a leaf
// of the (mailbox, uid) B-tree per recipient; clear_stage() moves a checkpointed stage's rows into
// `messages` (whose `pending` column is 0 on every row since schema 9). The methods below read and
// change both tables as one: MessageRecord::pending says which holds a row. `deliveries` has no
// (mailbox, uid) index (it would put the scattered writes back): looking a pending row up by
// mailbox scans it, which checkpoints keep small (each worker's at most 1024 stage files' rows).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "conf/result.h"
#include "store/duplicates.h"
#include "store/error.h"
#include "store/quota.h"
#include "store/sqlite.h"

namespace cubby::store {

struct MailboxRecord {
  int64_t id = 0;
  std::string name;      // internal
  std::string uniqueid;  // stable across renames
  std::string partition;
  std::string dir;       // relative to the partition root
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  int64_t created = 0;
  std::string acl;
  // The mailbox's own format, recorded by `cubbyctl convert` (convert.h): "cyrus" or "maildir";
  // "" for a mailbox that follows its partition's configured format (StoreConfig::mailbox_format).
  std::string format;
  // Set while `cubbyctl convert` moves the mailbox: deliveries refuse it (451) until it is done.
  bool converting = false;
};

struct MessageRecord {
  int64_t mailbox = 0;
  int64_t uid = 0;
  std::string guid;  // XXH3-128, hex
  int64_t size = 0;
  int64_t internaldate = 0;
  std::string stage;     // stage file name: the delivery transaction
  bool pending = true;   // the link may not be durable yet; the stage file still exists
  // On a Maildir partition: the unique Maildir name the message was linked into new/ with
  // (maildir_file_name.h), chosen before the COMMIT so recovery finds it in new/ or, moved by
  // Dovecot, in cur/ with flags. "" on a Cyrus partition (the file is "<uid>.").
  std::string file;
};

class Index {
 public:
  static Result<Index, Error> open(const std::string& path);
  Index(Index&&) noexcept;
  ~Index();

  Db& db() { return *db_; }
  QuotaTable& quotas() { return *quotas_; }
  DuplicateMarks& duplicates() { return *duplicates_; }

  // The catalog generation (schema.h): it changes in every transaction that changes a mailbox's
  // name, place, ACL, format or converting mark, or a quota root's existence or limits, whoever
  // commits it; deliveries leave it alone. One small read per call.
  Result<int64_t, Error> catalog_generation();

  std::optional<MailboxRecord> find_mailbox(const std::string& name);
  std::optional<MailboxRecord> mailbox_by_id(int64_t id);
  std::optional<MailboxRecord> mailbox_by_uniqueid(const std::string& uniqueid);
  std::vector<MailboxRecord> list_mailboxes();
  Result<MailboxRecord, Error> insert_mailbox(const std::string& name, const std::string& partition,
                                              const std::string& dir, const std::string& acl = "");
  // Inserts a mailbox as `m` describes it (reconstruct): its uniqueid, uidvalidity, uidnext, ACL
  // are kept (a new uniqueid and the current time when empty or 0); `m.id` is ignored.
  Result<MailboxRecord, Error> restore_mailbox(MailboxRecord m);
  // The mailboxes named `name` or below it ("user.alice" and "user.alice.*"), in name order.
  std::vector<MailboxRecord> mailboxes_below(const std::string& name);
  // The mailboxes whose names fall in [from, to), in name order (prefix scans on the name index).
  std::vector<MailboxRecord> mailboxes_between(const std::string& from, const std::string& to);
  [[nodiscard]] std::optional<Error> set_acl(int64_t id, const std::string& acl);
  [[nodiscard]] std::optional<Error> rename_mailbox(int64_t id, const std::string& name, const std::string& dir);
  [[nodiscard]] std::optional<Error> delete_mailbox(int64_t id);  // and its message rows
  // cubbyctl convert (convert.h), inside its transactions: the mailbox's new place and format
  // (clearing `converting`), the converting mark, a message's new Maildir name ("" on Cyrus; the
  // row is durable then, its file made and fsynced by the conversion).
  [[nodiscard]] std::optional<Error> set_location(int64_t id, const std::string& partition,
                                                  const std::string& dir, const std::string& format);
  [[nodiscard]] std::optional<Error> set_converting(int64_t id, bool converting);
  [[nodiscard]] std::optional<Error> set_message_file(int64_t mailbox, int64_t uid,
                                                      const std::string& file);

  // Inside a transaction: the next UID of `mailbox` (and uidnext moves past it); nullopt if the
  // mailbox no longer exists.
  Result<std::optional<int64_t>, Error> allocate_uid(int64_t mailbox);
  // Raises uidnext to at least `uid + 1` (used when adopting files).
  [[nodiscard]] std::optional<Error> raise_uidnext(int64_t mailbox, int64_t uid);
  // Into `deliveries` when m.pending, else into `messages`.
  [[nodiscard]] std::optional<Error> insert_message(const MessageRecord& m);
  // IMAP flags a Sieve script set on a delivery, or an import brought (import.h):
  // message_flags(mailbox, uid, flags), the flags joined by single spaces. A message without a
  // row has no flags.
  [[nodiscard]] std::optional<Error> set_flags(int64_t mailbox, int64_t uid,
                                               const std::vector<std::string>& flags);
  std::vector<std::string> flags_of(int64_t mailbox, int64_t uid);
  [[nodiscard]] std::optional<Error> delete_message(int64_t mailbox, int64_t uid);
  // Deletes the pending row of (mailbox, uid) made from stage file `stage`, through the stage
  // index; false when there is none (taken back or made durable meanwhile).
  Result<bool, Error> delete_delivery(const std::string& stage, int64_t mailbox, int64_t uid);
  // Marks the rows made from stage file `name` on `partition` durable: they move into `messages`.
  [[nodiscard]] std::optional<Error> clear_stage(const std::string& partition, const std::string& name);
  // The same for many stage files, given as (partition, name), at once (a checkpoint's).
  [[nodiscard]] std::optional<Error> clear_stages(
      const std::vector<std::pair<std::string, std::string>>& stages);

  std::vector<MessageRecord> messages(int64_t mailbox);
  std::optional<MessageRecord> message(int64_t mailbox, int64_t uid);
  // Pending rows, with their mailbox's partition.
  struct StagedRow {
    MessageRecord message;
    std::string partition;
  };
  std::vector<StagedRow> staged_rows();

 private:
  explicit Index(Db db);
  struct Statements;
  std::unique_ptr<Db> db_;
  std::unique_ptr<Statements> st_;
  std::unique_ptr<QuotaTable> quotas_;
  std::unique_ptr<DuplicateMarks> duplicates_;
};

}  // namespace cubby::store
