// The delivery protocol: how a message in a stage file becomes durable in every recipient's mailbox
// with O(1) fsyncs whatever the number of recipients (DESIGN.md invariants 1-5), and the delivery
// rules a Cyrus administrator expects, decided inside the same commit.
//
// A DeliveryGroup carries several transactions (from any sessions of one worker) through the steps
// together, so they share the fsyncs (group commit):
//   1. stage():  look up each target mailbox (and the INBOX a +detail folder falls back to); give
//                each partition involved its own copy of the stage file (one write per partition);
//                fdatasync every stage file and fsync each stage directory once, all at once
//                (SyncPool): the group waits about one sync's time, not k.
//   2. commit(): one SQLite transaction decides and records every delivery (below); COMMIT (the WAL
//                fsync) is the point of durability: a `250` may follow.
//   3. link():   hard-link (copy when link() fails, or with singleinstancestore off) each stage
//                file to <mailbox dir>/<uid>. ; a delivery whose file could not be made is undone
//                (row, quota charge and duplicate mark) and that recipient fails.
// The new directory entries are not fsynced here: a Checkpoint does that later for many messages at
// once, then marks the rows durable and removes the stage files. Until then a crash is repaired by
// recovery (recovery.h), which relinks from the stage file any row whose file is missing.
//
// What commit() decides for each target, in RCPT order (Cyrus's deliver_mailbox, reference §3.3-3.5):
//   - a target refused before the group (DeliveryTarget::refused) keeps its error;
//   - rights: a mailbox that is not an INBOX (a +detail folder, a shared mailbox) needs `p` for the
//     transaction's poster (MAIL AUTH=, or anonymous, which only "anyone" entries match); without
//     `p` it fails kPermission when `l` is granted, else kNotFound;
//   - quota (unless IGNOREQUOTA): the root covering the mailbox must not break used + delta > limit,
//     delta being 0, or the message's size and 1 with lmtp_strict_quota; else kOverQuota;
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
#include "store/stage_file.h"
#include "store/sync_pool.h"

namespace cubby::store {

// One recipient of a transaction.
struct DeliveryTarget {
  std::string mailbox;           // internal name: the INBOX, a +detail folder or a shared mailbox
  bool ignore_quota = false;     // RCPT ... IGNOREQUOTA
  std::optional<Error> refused;  // refused before delivery (e.g. too many concurrent deliveries)
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
  // fsyncs every directory, clears the stage names from the index, removes the stage files. On an
  // error nothing is forgotten: the next run (or recovery) tries again.
  // The fsyncs run at once on `pool` when given.
  std::optional<Error> run(Index& index, SyncPool* pool = nullptr);

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

  void stage();
  void commit();
  void link();
  // Hands the new directories and the stage files to `checkpoint` (call after link()).
  void retire(Checkpoint& checkpoint);
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
  };
  struct Item {
    std::map<std::string, StageFile> stages;  // partition -> its stage file
    std::vector<Target> targets;
    std::string poster, message_id, date;
    std::vector<DeliverySlot> slots;
    std::optional<Error> error;  // the whole transaction failed
    std::string guid;
    uint64_t size = 0;
    int links = 0, copies = 0;
  };
  struct CommitState;
  void fail_all(const Error& e);
  std::optional<MailboxRecord> lookup(const std::string& name);
  std::optional<Error> need_stage(Item& item, const MailboxRecord& box,
                                  std::set<std::string>& stage_dirs);
  // Tries to deliver `t` to `box`; a rights check only when `check_rights`. Returns the error
  // (a database failure fails the whole group through *fatal).
  std::optional<Error> attempt(CommitState& cs, Item& item, size_t index, const MailboxRecord& box,
                               bool check_rights, std::optional<Error>* fatal);

  const StoreConfig& config_;
  Index& index_;
  SyncPool* pool_;
  std::vector<Item> items_;
  std::set<std::string> dirs_;
  std::map<std::string, std::optional<MailboxRecord>> lookups_;  // stage()'s cache by name
};

}  // namespace cubby::store
