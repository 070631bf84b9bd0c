// The delivery protocol: how a message in a stage file becomes durable in every recipient's mailbox
// with O(1) fsyncs whatever the number of recipients (DESIGN.md invariants 1-5).
//
// A DeliveryGroup carries several transactions (from any sessions of one worker) through the steps
// together, so they share the fsyncs (group commit):
//   1. stage():  resolve each target mailbox; give each partition involved its own copy of the
//                stage file (one write per partition); fdatasync every stage file; fsync each stage
//                directory once.
//   2. commit(): one SQLite transaction allocates a UID per target and inserts its row, naming the
//                stage file; COMMIT (the WAL fsync) is the point of durability: a `250` may follow.
//   3. link():   hard-link (copy when link() fails, or with singleinstancestore off) each stage
//                file to <mailbox dir>/<uid>. ; rows whose file could not be made are deleted again
//                and that recipient fails.
// The new directory entries are not fsynced here: a Checkpoint does that later for many messages at
// once, then clears the rows' stage names and removes the stage files. Until then a crash is
// repaired by recovery (recovery.h), which relinks from the stage file any row whose file is missing.
// The steps are public so tests can stop between them and check what recovery makes of the state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/config.h"
#include "store/error.h"
#include "store/index.h"
#include "store/stage_file.h"

namespace cubby::store {

// One transaction: the message in its stage file and the mailboxes it goes to.
struct DeliveryBatch {
  StageFile stage;
  std::vector<std::string> mailboxes;  // internal names in RCPT order; repeats allowed
};

struct DeliveryOutcome {
  std::string mailbox;
  int64_t uid = 0;             // when delivered
  std::optional<Error> error;  // why not, when not
};

struct DeliveryResult {
  std::vector<DeliveryOutcome> outcomes;  // one per DeliveryBatch::mailboxes entry
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
  std::optional<Error> run(Index& index);

 private:
  std::set<std::string> dirs_;
  std::vector<StageFile> stages_;
};

class DeliveryGroup {
 public:
  DeliveryGroup(const StoreConfig& config, Index& index) : config_(config), index_(index) {}
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
    std::string name;
    std::optional<MailboxRecord> mailbox;
    int64_t uid = 0;
    std::optional<Error> error;
  };
  struct Item {
    std::map<std::string, StageFile> stages;  // partition -> its stage file
    std::vector<Target> targets;
    std::optional<Error> error;  // the whole transaction failed
    std::string guid;
    uint64_t size = 0;
    int links = 0, copies = 0;
  };
  void fail_all(const Error& e);

  const StoreConfig& config_;
  Index& index_;
  std::vector<Item> items_;
  std::set<std::string> dirs_;
};

}  // namespace cubby::store
