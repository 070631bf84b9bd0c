// The group-commit delivery protocol; see delivery.h for the steps and why they are safe.
#include "store/delivery.h"

#include <unistd.h>

#include <ctime>

#include "store/fs.h"
#include "store/sqlite.h"

namespace cubby::store {

void DeliveryGroup::add(DeliveryBatch batch) {
  Item item;
  item.guid = batch.stage.guid();
  item.size = batch.stage.size();
  for (auto& name : batch.mailboxes) item.targets.push_back(Target{std::move(name), {}, 0, {}});
  std::string partition = batch.stage.partition();
  item.stages.emplace(partition, std::move(batch.stage));
  items_.push_back(std::move(item));
}

void DeliveryGroup::fail_all(const Error& e) {
  for (auto& item : items_) {
    if (!item.error) item.error = e;
  }
}

void DeliveryGroup::stage() {
  std::set<std::string> stage_dirs;
  for (auto& item : items_) {
    StageFile& first = item.stages.begin()->second;
    for (auto& t : item.targets) {
      t.mailbox = index_.find_mailbox(t.name);
      if (!t.mailbox) {
        t.error = Error{Errc::kNotFound, "mailbox " + t.name + " does not exist"};
        continue;
      }
      if (item.stages.count(t.mailbox->partition)) continue;
      const std::string root = config_.partition_root(t.mailbox->partition);
      if (root.empty()) {
        t.error = Error{Errc::kIo, "mailbox " + t.name + " is on unknown partition " +
                                       t.mailbox->partition};
        continue;
      }
      auto copy = first.copy_to(root, t.mailbox->partition);  // fdatasync'd by copy_to
      if (!copy.ok()) {
        item.error = copy.error();
        break;
      }
      item.stages.emplace(t.mailbox->partition, std::move(copy.value()));
      stage_dirs.insert(stage_dir(root));
    }
    if (item.error) continue;
    if (auto e = first.sync()) {
      item.error = *e;
      continue;
    }
    stage_dirs.insert(stage_dir(config_.partition_root(first.partition())));
  }
  for (const auto& dir : stage_dirs) {
    if (auto e = fsync_dir(dir)) {
      fail_all(*e);
      return;
    }
  }
}

void DeliveryGroup::commit() {
  auto txn = Transaction::begin(index_.db());
  if (!txn.ok()) return fail_all(txn.error());
  const int64_t now = static_cast<int64_t>(time(nullptr));
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& t : item.targets) {
      if (t.error) continue;
      auto uid = index_.allocate_uid(t.mailbox->id);
      if (!uid.ok()) return fail_all(uid.error());
      if (!uid.value()) {
        t.error = Error{Errc::kNotFound, "mailbox " + t.name + " was deleted"};
        continue;
      }
      t.uid = *uid.value();
      MessageRecord row{t.mailbox->id, t.uid, item.guid, static_cast<int64_t>(item.size), now,
                        item.stages.at(t.mailbox->partition).name()};
      if (auto e = index_.insert_message(row)) return fail_all(*e);
    }
  }
  if (auto e = txn->commit()) return fail_all(*e);
  // The rows now name the stage files: they must outlive these objects until a checkpoint.
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& [partition, stage] : item.stages) stage.keep();
  }
}

void DeliveryGroup::link() {
  std::vector<std::pair<int64_t, int64_t>> undo;  // rows whose file could not be made
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& t : item.targets) {
      if (t.error) continue;
      const std::string root = config_.partition_root(t.mailbox->partition);
      const std::string dir = root + "/" + t.mailbox->dir;
      const std::string& from = item.stages.at(t.mailbox->partition).path();
      // The file is made through a descriptor of the mailbox directory opened without following
      // symbolic links (one planted as, or above, the directory would lead out of the partition).
      int dir_fd = -1;
      if (auto e = open_dir_beneath(root, t.mailbox->dir, &dir_fd)) {
        t.error = *e;
        undo.emplace_back(t.mailbox->id, t.uid);
        continue;
      }
      Fd dir_owner(dir_fd);
      const std::string path =
          "/proc/self/fd/" + std::to_string(dir_fd) + "/" + std::to_string(t.uid) + ".";
      bool linked = false;
      if (config_.single_instance) {
        int rc = ::link(from.c_str(), path.c_str());
        if (rc != 0 && errno == EEXIST) {  // a stale file from before a crash: never ours
          ::unlink(path.c_str());
          rc = ::link(from.c_str(), path.c_str());
        }
        linked = rc == 0;
      }
      if (linked) {
        ++item.links;
      } else if (auto e = copy_file(from, path)) {
        t.error = *e;
        undo.emplace_back(t.mailbox->id, t.uid);
        continue;
      } else {
        ++item.copies;
      }
      dirs_.insert(dir);
    }
  }
  if (undo.empty()) return;
  // The UIDs stay used (invariant 4); only the rows go. If this fails, recovery relinks them.
  auto txn = Transaction::begin(index_.db());
  if (!txn.ok()) return;
  for (auto [mailbox, uid] : undo) index_.delete_message(mailbox, uid);
  txn->commit();
}

void DeliveryGroup::retire(Checkpoint& checkpoint) {
  for (const auto& dir : dirs_) checkpoint.add_dir(dir);
  dirs_.clear();
  for (auto& item : items_) {
    if (item.error) continue;  // never committed: the stage files are removed with the item
    for (auto& [partition, stage] : item.stages) checkpoint.add_stage(std::move(stage));
    item.stages.clear();
  }
}

std::vector<DeliveryResult> DeliveryGroup::results() {
  std::vector<DeliveryResult> out;
  for (auto& item : items_) {
    DeliveryResult r;
    r.guid = item.guid;
    r.size = item.size;
    r.links = item.links;
    r.copies = item.copies;
    for (auto& t : item.targets) {
      DeliveryOutcome o{t.name, t.uid, t.error};
      if (item.error) {
        o.error = item.error;
        o.uid = 0;
      }
      r.outcomes.push_back(std::move(o));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Error> Checkpoint::run(Index& index) {
  for (const auto& dir : dirs_) {
    if (auto e = fsync_dir(dir)) return e;
  }
  dirs_.clear();
  if (stages_.empty()) return std::nullopt;
  auto txn = Transaction::begin(index.db());
  if (!txn.ok()) return txn.error();
  for (const auto& stage : stages_) {
    if (auto e = index.clear_stage(stage.partition(), stage.name())) return e;
  }
  if (auto e = txn->commit()) return e;
  for (auto& stage : stages_) stage.remove();
  stages_.clear();
  return std::nullopt;
}

}  // namespace cubby::store
