// Settling what a failed durability step left unknown; see settle.h.
#include "store/settle.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <map>

#include "conf/log.h"
#include "store/fs.h"
#include "store/message_link.h"
#include "store/sqlite.h"
#include "store/stage_marks.h"

namespace cubby::store {

namespace {

std::string own_mark(const StoreConfig& config) {
  return config.config_directory + "/unsettled-" + std::to_string(::getpid());
}

}  // namespace

void mark_unsettled(const StoreConfig& config) {
  const std::string path = own_mark(config);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  std::optional<Error> e;
  if (!fd) {
    e = sys_error("create " + path);
  } else if (::fsync(fd.get()) != 0) {
    e = sys_error("fsync " + path);
  } else {
    e = fsync_dir(config.config_directory);
  }
  if (e) CUBBY_LOG_ERR("store: cannot leave the unsettled mark: %s", e->detail.c_str());
}

void clear_unsettled_mark(const StoreConfig& config) {
  const std::string path = own_mark(config);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    CUBBY_LOG_ERR("store: %s", sys_error("unlink " + path).detail.c_str());
  }
}

std::vector<std::string> dead_unsettled_marks(const StoreConfig& config) {
  std::vector<std::string> out;
  DIR* d = ::opendir(config.config_directory.c_str());
  if (!d) return out;
  while (dirent* ent = ::readdir(d)) {
    const std::string name = ent->d_name;
    if (name.rfind("unsettled-", 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + 10, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // alive
    out.push_back(config.config_directory + "/" + name);
  }
  ::closedir(d);
  return out;
}

std::optional<Error> undo_deliveries(Index& index, const std::vector<UndoneDelivery>& undo) {
  if (undo.empty()) return std::nullopt;
  auto txn = Transaction::begin(index.db());
  if (!txn.ok()) return txn.error();
  for (const auto& u : undo) {
    // Still pending, as it nearly always is: its row found through the stage index.
    auto pending = u.stage.empty() ? Result<bool, Error>(false)
                                   : index.delete_delivery(u.stage, u.mailbox, u.uid);
    if (!pending.ok()) return pending.error();
    if (!pending.value()) {
      // Already gone: a recovery in another worker took it back (its stage file was removed),
      // and a mark or a charge made since belongs to another delivery.
      if (!index.message(u.mailbox, u.uid)) continue;
      if (auto e = index.delete_message(u.mailbox, u.uid)) return e;
    }
    if (u.mark) {
      if (auto e = index.duplicates().unmark(*u.mark)) return e;
    }
    if (!u.quota_root.empty()) {
      if (auto e = index.quotas().charge(u.quota_root, -u.size, -1)) return e;
    }
  }
  return txn->commit();
}

std::optional<Error> relink_rows(const StoreConfig& config, Index& index,
                                 const std::string& partition, const std::string& stage_path,
                                 const std::vector<MessageRecord>& rows,
                                 LinkMode mode, std::set<std::string>* dirs, int* made,
                                 int* missing) {
  const std::string root = config.partition_root(partition);
  if (root.empty()) return Error{Errc::kIo, "unknown partition " + partition};
  std::map<int64_t, std::optional<MailboxRecord>> boxes;
  for (const auto& m : rows) {
    auto it = boxes.find(m.mailbox);
    if (it == boxes.end()) it = boxes.emplace(m.mailbox, index.mailbox_by_id(m.mailbox)).first;
    if (!it->second) continue;  // deleted meanwhile: nothing to serve
    auto link = link_delivery(stage_path, root, it->second->dir, m.uid, m.file,
                              config.single_instance, mode);
    if (!link.ok()) return link.error();
    if (!link->made) continue;
    dirs->insert(link->dir);
    if (made) ++*made;
    if (missing && !link->existed) ++*missing;
  }
  return std::nullopt;
}

void Unsettled::add_undo(const std::vector<UndoneDelivery>& undo, const std::string& partition) {
  undo_.insert(undo_.end(), undo.begin(), undo.end());
  partitions_.insert(partition);
}

void Unsettled::add_stage(StageFile stage) {
  stage.keep();  // rows may name it: it must outlive a crash
  partitions_.insert(stage.partition());
  stages_.push_back(std::move(stage));
}

std::optional<Error> Unsettled::settle(const StoreConfig& config, Index& index, SyncPool* pool) {
  if (auto e = undo_deliveries(index, undo_)) return e;
  undo_.clear();

  // The rows still naming a kept stage file, by (partition, stage name).
  std::map<std::pair<std::string, std::string>, std::vector<MessageRecord>> rows;
  for (auto& row : index.staged_rows()) {
    rows[{row.partition, row.message.stage}].push_back(std::move(row.message));
  }
  std::set<std::string> dirs;
  int made = 0;
  for (const auto& stage : stages_) {
    auto it = rows.find({stage.partition(), stage.name()});
    if (it == rows.end()) continue;  // never committed, or undone: nothing to make
    if (auto e = relink_rows(config, index, stage.partition(), stage.path(), it->second,
                             LinkMode::kRemake, &dirs, &made)) {
      return e;
    }
  }
  if (auto e = fsync_dirs(dirs, pool)) return e;

  // This transaction always writes (the meta row), so the frames of a COMMIT that failed earlier
  // are overwritten in the WAL and can never come back after a crash: once it is durable, a stage
  // file no row names really is uncommitted.
  auto txn = Transaction::begin(index.db());
  if (!txn.ok()) return txn.error();
  {
    Statement s(index.db(),
                "INSERT OR REPLACE INTO meta(key, value) VALUES('last_settled', ?1)");
    s.bind(1, static_cast<int64_t>(time(nullptr)));
    if (auto e = s.run()) return e;
  }
  StageMarks marks(index.db());
  for (const auto& stage : stages_) {
    if (auto e = index.clear_stage(stage.partition(), stage.name())) return e;
    if (auto e = marks.forget(stage.name())) return e;
  }
  if (auto e = txn->commit()) return e;
  for (auto& stage : stages_) stage.remove();
  CUBBY_LOG_NOTICE("store: settled partition(s) after a failed write: %zu stage file(s), %d "
                   "message file(s) made again; deliveries resume",
                   stages_.size(), made);
  stages_.clear();
  partitions_.clear();
  return std::nullopt;
}

}  // namespace cubby::store
