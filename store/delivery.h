// The delivery protocol: how a message in a stage file becomes durable in every recipient's mailbox
// with O(1) fsyncs whatever the number of recipients (the store invariants 1-5 of
// docs/store-protocol.md), and the delivery rules a Cyrus administrator expects, decided inside the
// same commit.
//
// A DeliveryGroup carries several transactions (from any sessions of one worker) through the steps
// together, so they share the fsyncs (group commit):
//   1. stage():  look up each target mailbox (and the INBOX a +detail folder falls back to); give
//                each partition involved its own copy of the stage file (one write per partition);
//                start the fdatasync of every stage file and the fsync of each stage directory
//                a new name was made in, all at once on the SyncPool (without a pool they run
//                here, before the commit). A stage file from the StageReserve (stage_reserve.h)
//                has a durable name already: it needs its fdatasync only.
//   2. commit(): one SQLite transaction decides and records every delivery (below), while the
//                stage syncs run: the group waits about one sync's time, not two in series.
//                The rows record the message's XXH3-128 (its GUID), which recovery checks the
//                stage file against.
//   3. finish_stage() (link() calls it first): waits for the stage syncs. A transaction whose
//                stage file or stage directory failed to sync is undone if it was committed
//                (rows, marks, charges in one transaction; its stage files removed, so no
//                recovery ever trusts them) and fails (`451`); an undo that fails goes to an
//                Unsettled like any other. Both the COMMIT and the stage syncs have succeeded
//                for every transaction that goes on: that is the point of durability, a `250`
//                may follow the link step.
//   4. link():   hard-link (copy when link() fails, or with singleinstancestore off) each stage
//                file to <mailbox dir>/<uid>. (link_message, message_link.h), or on a Maildir
//                partition into <mailbox dir>/new/ under the unique name commit() recorded in the
//                row (link_maildir_message; then the user's maildirsize gets its line); a delivery whose
//                file could not be made is undone (row, quota charge and duplicate mark, in one
//                transaction) and that recipient fails. A big group makes its files in lanes on
//                the pool (a mailbox directory in one lane) and takes the results up in order.
// The new directory entries are not fsynced here: a Checkpoint does that later for many messages at
// once, then marks the rows durable and removes the stage files. Until then a crash is repaired by
// recovery (recovery.h), which makes the file of every pending row again from its stage file.
//
// A failure that leaves the disk state unknown is never retried into "durable" (settle.h): a
// COMMIT that fails, an undo that fails, a checkpoint whose directory fsync fails. retire() and
// Checkpoint::surrender() hand what is involved to an Unsettled, which keeps the stage files and
// blocks the partitions until it has settled them; a group given blocked partitions (block())
// refuses every transaction that touches one (Errc::kUnsettled).
//
// What commit() decides for each target, in RCPT order (Cyrus's deliver_mailbox and deliver_local in imap/lmtpd.c):
//   - a target refused before the group (DeliveryTarget::refused) keeps its error;
//   - rights: a mailbox that is not an INBOX (a +detail folder, a shared mailbox) needs `p` for the
//     transaction's poster (MAIL AUTH=, or anonymous): check_post_right (acl.h);
//   - quota (unless IGNOREQUOTA): check_delivery_quota (quota.h) on the root covering the mailbox,
//     as charged so far in this commit;
//     on a Maildir partition the user's maildirsize instead (maildir_delivery.h);
//   - duplicates (duplicatesuppression): a message already marked for this mailbox is not stored
//     again and the target succeeds (its outcome says `duplicate`); a second target of the same
//     transaction that reaches a mailbox already delivered to is folded into that delivery;
//   - otherwise a UID is allocated, the row inserted, the usage charged and the mark made, all in
//     this transaction;
//   - a +detail folder that fails for any reason falls back to its owner's INBOX, with no rights
//     check; a shared mailbox has no fall-back. The INBOX's error is the one reported.
// A quota root that this commit takes across quotawarn percent of a limit is logged once.
// The steps are public so tests can stop between them and check what recovery makes of the state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/config.h"
#include "store/delivery_slot.h"
#include "store/duplicates.h"
#include "store/error.h"
#include "store/index.h"
#include "store/mailbox_cache.h"
#include "store/maildir_delivery.h"
#include "store/settle.h"
#include "store/stage_file.h"
#include "store/stage_reserve.h"
#include "store/sync_pool.h"

namespace cubby::store {

// One recipient of a transaction.
struct DeliveryTarget {
  std::string mailbox;           // internal name: the INBOX, a +detail folder or a shared mailbox
  bool ignore_quota = false;     // RCPT ... IGNOREQUOTA
  std::optional<Error> refused;  // refused before delivery (e.g. too many concurrent deliveries)
  // Set by the owner's Sieve script (fileinto/keep): IMAP flags stored with this delivery (the
  // index's message_flags table), and no `p` check, since a script runs as the mailbox owner.
  std::vector<std::string> flags = {};
  bool by_owner = false;
};

// One transaction: the message in its stage file and where it goes.
struct DeliveryBatch {
  StageFile stage;
  std::vector<DeliveryTarget> targets;  // in RCPT order; repeats allowed
  std::string poster;      // MAIL AUTH= identity whose rights are checked; "" = anonymous
  std::string message_id;  // Message-ID and Date as stored: the duplicate key
  std::string date;
  std::vector<DeliverySlot> slots;  // held until the group is done with the transaction
};

struct DeliveryOutcome {
  std::string mailbox;   // where the message went (the INBOX after a fall-back), else the target
  std::string uniqueid;  // of that mailbox, when known
  int64_t uid = 0;       // delivered, or the UID of the earlier delivery of a duplicate
  bool duplicate = false;  // already delivered there before: nothing stored, success all the same
  bool folded = false;     // same mailbox as an earlier target of this transaction
  bool fell_back = false;  // the +detail folder failed; this is its owner's INBOX
  std::optional<Error> error;  // why not, when not
};

struct DeliveryResult {
  std::vector<DeliveryOutcome> outcomes;  // one per DeliveryBatch::targets entry
  std::string guid;
  uint64_t size = 0;
  int links = 0;   // hard links made (the rest were copies)
  int copies = 0;
};

// Mailbox directories and stage files whose durability is settled later, in bulk.
class Checkpoint {
 public:
  void add_dir(std::string dir) { dirs_.insert(std::move(dir)); }
  void add_stage(StageFile stage) { stages_.push_back(std::move(stage)); }
  size_t pending_stages() const { return stages_.size(); }
  bool empty() const { return dirs_.empty() && stages_.empty(); }
  // fsyncs every directory, clears the stage names from the index, removes the stage files. The
  // fsyncs run at once on `pool` when given. On an error the state is unknown: the caller must
  // surrender() what is held, never run it again.
  [[nodiscard]] std::optional<Error> run(Index& index, SyncPool* pool = nullptr);
  // Hands the stage files to `unsettled` (which makes their rows' files again before it trusts a
  // sync) and forgets the directories.
  void surrender(Unsettled& unsettled);

 private:
  std::set<std::string> dirs_;
  std::vector<StageFile> stages_;
};

class DeliveryGroup {
 public:
  // With a `pool`, stage() runs its fdatasyncs and directory fsyncs at once on it.
  DeliveryGroup(const StoreConfig& config, Index& index, SyncPool* pool = nullptr)
      : config_(config), index_(index), pool_(pool) {}
  void add(DeliveryBatch batch);
  size_t size() const { return items_.size(); }
  // Partitions that refuse deliveries until settled: a transaction touching one fails kUnsettled
  // at stage().
  void block(std::set<std::string> partitions) { blocked_ = std::move(partitions); }
  // The commit reads Maildir users' quotas through `cache` (maildir_delivery.h; the committer's,
  // kept across groups) instead of opening and reading each maildirsize once per group.
  void use_maildir_quotas(MaildirQuotaCache* cache) { maildir_quotas_ = cache; }
  // stage() looks the targets up through `cache` (mailbox_cache.h; the committer's, on `index`'s
  // connection, kept across groups while the catalog generation stays): a mailbox seen before
  // costs no query. commit() reads each mailbox's row again inside its transaction anyway.
  void use_mailbox_cache(MailboxCache* cache) { mailbox_cache_ = cache; }
  // stage() refills `reserve` (stage_reserve.h) for the partitions this group's messages were
  // staged on, when it runs low: the files are made and their directory fsynced on the pool
  // beside the group's own syncs, and offered once finish_stage() has seen that fsync succeed.
  void use_stage_reserve(StageReserve* reserve) { reserve_ = reserve; }

  ~DeliveryGroup();  // waits for syncs still running (finish_stage)
  DeliveryGroup(const DeliveryGroup&) = delete;
  DeliveryGroup& operator=(const DeliveryGroup&) = delete;

  void stage();
  void commit();
  // Waits for the syncs stage() started and takes back what commit() recorded for a transaction
  // whose sync failed. Runs once; link(), retire(), results() and the destructor call it.
  void finish_stage();
  void link();
  // Hands the new directories and the stage files to `checkpoint` (call after link()); what a
  // failed COMMIT or a failed undo left unknown goes to `unsettled` instead.
  void retire(Checkpoint& checkpoint, Unsettled& unsettled);
  // One result per batch, in add() order.
  std::vector<DeliveryResult> results();

 private:
  struct Target {
    DeliveryTarget request;
    std::optional<MailboxRecord> mailbox;   // the target, looked up by stage()
    std::optional<MailboxRecord> fallback;  // a +detail folder's INBOX
    bool check_rights = true;               // false for an INBOX
    std::optional<Error> unusable;          // why stage() could not use the target mailbox
    DeliveryOutcome outcome;
    const MailboxRecord* delivered_to = nullptr;  // set when a row was inserted
    std::optional<DuplicateKey> mark;             // the mark made, to undo with the row
    std::string quota_root;                       // the root charged, to undo with the row
    std::optional<size_t> folded_into;            // index of the target it shares a delivery with
    std::string file;  // on a Maildir partition: the row's name in new/ (index.h MessageRecord)
    bool maildir_quota = false;  // its user had a maildirsize at commit: link() adds its line
  };
  struct Item {
    std::map<std::string, StageFile> stages;  // partition -> its stage file
    std::vector<Target> targets;
    std::string poster, message_id, date;
    std::vector<DeliverySlot> slots;
    std::optional<Error> error;  // the whole transaction failed
    bool unknown = false;        // its COMMIT or its undo failed: what the disk holds is unknown
    std::string guid;
    uint64_t size = 0;
    int links = 0, copies = 0;
  };
  struct CommitState;
  void fail_all(const Error& e);
  std::optional<MailboxRecord> lookup(const std::string& name);
  [[nodiscard]] std::optional<Error> need_stage(Item& item, const MailboxRecord& box,
                                  std::set<std::string>& stage_dirs);
  // Tries to deliver `t` to `box`; a rights check only when `check_rights`. Returns the error
  // (a database failure fails the whole group through *fatal).
  [[nodiscard]] std::optional<Error> attempt(CommitState& cs, Item& item, size_t index, const MailboxRecord& box,
                               bool check_rights, std::optional<Error>* fatal);

  const StoreConfig& config_;
  Index& index_;
  SyncPool* pool_;
  MaildirQuotaCache* maildir_quotas_ = nullptr;
  MailboxCache* mailbox_cache_ = nullptr;
  StageReserve* reserve_ = nullptr;
  std::vector<Item> items_;
  std::set<std::string> dirs_;
  std::set<std::string> blocked_;
  std::vector<UndoneDelivery> failed_undo_;  // an undo whose transaction failed
  std::set<std::string> failed_undo_partitions_;
  std::map<std::string, std::optional<MailboxRecord>> lookups_;  // stage()'s cache by name
  // The stage syncs started by stage(), written by the pool's threads until finish_stage().
  bool syncs_started_ = false;
  bool committed_ = false;  // commit()'s COMMIT succeeded
  std::vector<Item*> syncing_;                     // items whose first stage file is synced
  std::vector<std::string> sync_dirs_;             // stage directories fsynced
  std::vector<std::optional<Error>> file_errors_;  // one per syncing_ entry
  std::vector<std::optional<Error>> dir_errors_;   // one per sync_dirs_ entry
  std::vector<StageReserve::Refill> refills_;      // run on the pool beside the syncs
};

}  // namespace cubby::store
