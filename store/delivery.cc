// The group-commit delivery protocol and the delivery rules; see delivery.h for the steps and why
// they are safe.
#include "store/delivery.h"

#include <unistd.h>

#include <ctime>
#include <functional>

#include "conf/log.h"
#include "store/acl.h"
#include "store/fs.h"
#include "store/mailbox_name.h"
#include "store/sqlite.h"

namespace cubby::store {

namespace {

// Runs `tasks` on `pool`, or one after another without one.
void run_tasks(SyncPool* pool, const std::vector<std::function<void()>>& tasks) {
  if (pool) return pool->run(tasks);
  for (const auto& task : tasks) task();
}

}  // namespace

void DeliveryGroup::add(DeliveryBatch batch) {
  Item item;
  item.guid = batch.stage.guid();
  item.size = batch.stage.size();
  item.poster = std::move(batch.poster);
  item.message_id = std::move(batch.message_id);
  item.date = std::move(batch.date);
  item.slots = std::move(batch.slots);
  for (auto& request : batch.targets) {
    Target t;
    t.outcome.mailbox = request.mailbox;
    t.request = std::move(request);
    item.targets.push_back(std::move(t));
  }
  std::string partition = batch.stage.partition();
  item.stages.emplace(partition, std::move(batch.stage));
  items_.push_back(std::move(item));
}

void DeliveryGroup::fail_all(const Error& e) {
  for (auto& item : items_) {
    if (!item.error) item.error = e;
  }
}

std::optional<MailboxRecord> DeliveryGroup::lookup(const std::string& name) {
  auto it = lookups_.find(name);
  if (it == lookups_.end()) it = lookups_.emplace(name, index_.find_mailbox(name)).first;
  return it->second;
}

std::optional<Error> DeliveryGroup::need_stage(Item& item, const MailboxRecord& box,
                                               std::set<std::string>& stage_dirs) {
  if (item.stages.count(box.partition)) return std::nullopt;
  const std::string root = config_.partition_root(box.partition);
  auto copy = item.stages.begin()->second.copy_to(root, box.partition);  // fdatasync'd
  if (!copy.ok()) return copy.error();
  item.stages.emplace(box.partition, std::move(copy.value()));
  stage_dirs.insert(stage_dir(root));
  return std::nullopt;
}

void DeliveryGroup::stage() {
  std::set<std::string> stage_dirs;
  std::vector<Item*> to_sync;  // items whose first stage file still needs its fdatasync
  for (auto& item : items_) {
    StageFile& first = item.stages.begin()->second;
    for (auto& t : item.targets) {
      if (t.request.refused) continue;
      t.mailbox = lookup(t.request.mailbox);
      auto name = MailboxName::from_internal(t.request.mailbox);
      t.check_rights = !(name.ok() && name->is_inbox());
      if (name.ok() && name->is_user() && !name->is_inbox()) {
        t.fallback = lookup(name->inbox()->internal());
      }
      for (auto* box : {&t.mailbox, &t.fallback}) {
        if (!*box) continue;
        if (config_.partition_root((*box)->partition).empty()) {  // a target we cannot serve
          if (box == &t.mailbox) {
            t.unusable = Error{Errc::kIo, "mailbox " + (*box)->name + " is on unknown partition " +
                                              (*box)->partition};
          }
          box->reset();
          continue;
        }
        if (auto e = need_stage(item, **box, stage_dirs)) {
          item.error = *e;
          break;
        }
      }
      if (item.error) break;
    }
    if (item.error) continue;
    to_sync.push_back(&item);
    stage_dirs.insert(stage_dir(config_.partition_root(first.partition())));
  }
  // Each file's data and each stage directory's entries must be durable before the COMMIT; the
  // order among them does not matter, so they all go at once.
  const std::vector<std::string> dirs(stage_dirs.begin(), stage_dirs.end());
  std::vector<std::optional<Error>> file_errors(to_sync.size()), dir_errors(dirs.size());
  std::vector<std::function<void()>> tasks;
  for (size_t i = 0; i < to_sync.size(); ++i) {
    tasks.emplace_back([&, i] { file_errors[i] = to_sync[i]->stages.begin()->second.sync(); });
  }
  for (size_t i = 0; i < dirs.size(); ++i) {
    tasks.emplace_back([&, i] { dir_errors[i] = fsync_dir(dirs[i]); });
  }
  run_tasks(pool_, tasks);
  for (size_t i = 0; i < to_sync.size(); ++i) {
    if (file_errors[i]) to_sync[i]->error = *file_errors[i];
  }
  for (const auto& e : dir_errors) {
    if (e) return fail_all(*e);
  }
}

// What commit() keeps while it runs: quota roots as charged so far, the mailboxes delivered to by
// the current transaction.
struct DeliveryGroup::CommitState {
  int64_t now = 0;
  bool quotas_on = false;
  std::map<std::string, std::optional<std::string>> root_of;  // mailbox -> covering root's name
  std::map<std::string, QuotaRoot> roots, before;             // by root name: now and at the start
  std::map<int64_t, size_t> delivered;  // mailbox id -> target of the current transaction

  // The root covering `mailbox` as charged so far, or nullptr; a database failure in *error.
  QuotaRoot* root_for(QuotaTable& quotas, const std::string& mailbox, std::optional<Error>* error) {
    auto it = root_of.find(mailbox);
    if (it == root_of.end()) {
      auto found = quotas.root_of(mailbox);
      if (!found.ok()) {
        *error = found.error();
        return nullptr;
      }
      std::optional<std::string> name;
      if (found.value()) {
        name = found.value()->name;
        if (!roots.count(*name)) {
          roots.emplace(*name, *found.value());
          before.emplace(*name, *found.value());
        }
      }
      it = root_of.emplace(mailbox, name).first;
    }
    return it->second ? &roots.at(*it->second) : nullptr;
  }
};

std::optional<Error> DeliveryGroup::attempt(CommitState& cs, Item& item, size_t index,
                                            const MailboxRecord& box, bool check_rights,
                                            std::optional<Error>* fatal) {
  Target& t = item.targets[index];
  if (config_.duplicate_suppression) {
    if (auto it = cs.delivered.find(box.id); it != cs.delivered.end()) {
      const Target& first = item.targets[it->second];
      t.outcome.mailbox = first.outcome.mailbox;
      t.outcome.uniqueid = first.outcome.uniqueid;
      t.outcome.uid = first.outcome.uid;
      t.outcome.duplicate = first.outcome.duplicate;
      t.outcome.folded = true;
      t.folded_into = first.folded_into ? *first.folded_into : it->second;
      return std::nullopt;
    }
  }
  if (check_rights) {
    auto acl = Acl::parse(box.acl);
    const std::string rights = acl.ok() ? acl->rights_of(item.poster) : "";
    if (rights.find('p') == std::string::npos) {
      const std::string who = item.poster.empty() ? "anonymous" : item.poster;
      if (rights.find('l') != std::string::npos) {
        return Error{Errc::kPermission, who + " may not post to " + box.name};
      }
      return Error{Errc::kNotFound, "mailbox " + box.name + " is not visible to " + who};
    }
  }
  QuotaRoot* root = nullptr;
  if (cs.quotas_on) {
    root = cs.root_for(index_.quotas(), box.name, fatal);
    if (*fatal) return std::nullopt;
    const bool strict = config_.strict_quota;
    if (root && !t.request.ignore_quota &&
        exceeds(*root, strict ? static_cast<int64_t>(item.size) : 0, strict ? 1 : 0)) {
      return Error{Errc::kOverQuota, "quota root " + root->name + " is over its limit"};
    }
  }
  std::optional<DuplicateKey> key;
  if (config_.duplicate_suppression && !item.message_id.empty()) {
    key = DuplicateKey::of(item.message_id, box.uniqueid, item.date);
    auto earlier = index_.duplicates().find(*key);
    if (!earlier.ok()) {
      *fatal = earlier.error();
      return std::nullopt;
    }
    if (earlier.value()) {
      t.outcome.mailbox = box.name;
      t.outcome.uniqueid = box.uniqueid;
      t.outcome.uid = *earlier.value();
      t.outcome.duplicate = true;
      cs.delivered.emplace(box.id, index);
      return std::nullopt;
    }
  }
  auto uid = index_.allocate_uid(box.id);
  if (!uid.ok()) {
    *fatal = uid.error();
    return std::nullopt;
  }
  if (!uid.value()) return Error{Errc::kNotFound, "mailbox " + box.name + " was deleted"};
  MessageRecord row{box.id, *uid.value(), item.guid, static_cast<int64_t>(item.size), cs.now,
                    item.stages.at(box.partition).name()};
  if (auto e = index_.insert_message(row)) {
    *fatal = e;
    return std::nullopt;
  }
  if (root) {
    root->storage_used += static_cast<int64_t>(item.size);
    root->message_used += 1;
    t.quota_root = root->name;
  }
  if (key) {
    if (auto e = index_.duplicates().mark(*key, row.uid, cs.now)) {
      *fatal = e;
      return std::nullopt;
    }
    t.mark = key;
  }
  t.delivered_to = &box;
  t.outcome.mailbox = box.name;
  t.outcome.uniqueid = box.uniqueid;
  t.outcome.uid = row.uid;
  cs.delivered.emplace(box.id, index);
  return std::nullopt;
}

void DeliveryGroup::commit() {
  auto txn = Transaction::begin(index_.db());
  if (!txn.ok()) return fail_all(txn.error());
  CommitState cs;
  cs.now = static_cast<int64_t>(time(nullptr));
  auto any = index_.quotas().any();
  if (!any.ok()) return fail_all(any.error());
  cs.quotas_on = any.value();
  for (auto& item : items_) {
    if (item.error) continue;
    cs.delivered.clear();
    for (size_t i = 0; i < item.targets.size(); ++i) {
      Target& t = item.targets[i];
      if (t.request.refused) {
        t.outcome.error = t.request.refused;
        continue;
      }
      std::optional<Error> fatal, error;
      if (!t.mailbox) {
        error = t.unusable ? *t.unusable
                           : Error{Errc::kNotFound,
                                   "mailbox " + t.request.mailbox + " does not exist"};
      } else {
        error = attempt(cs, item, i, *t.mailbox, t.check_rights, &fatal);
      }
      if (fatal) return fail_all(*fatal);
      if (error && t.fallback) {
        error = attempt(cs, item, i, *t.fallback, false, &fatal);
        if (fatal) return fail_all(*fatal);
        if (!error) t.outcome.fell_back = true;
        t.outcome.mailbox = t.fallback->name;
      }
      t.outcome.error = error;
    }
  }
  for (const auto& [name, root] : cs.roots) {
    const QuotaRoot& was = cs.before.at(name);
    const int64_t bytes = root.storage_used - was.storage_used;
    const int64_t messages = root.message_used - was.message_used;
    if (bytes == 0 && messages == 0) continue;
    if (auto e = index_.quotas().charge(name, bytes, messages)) return fail_all(*e);
  }
  if (auto e = txn->commit()) return fail_all(*e);
  // The rows now name the stage files: they must outlive these objects until a checkpoint.
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& [partition, stage] : item.stages) stage.keep();
  }
  const int warn = config_.quota_warn_percent;
  for (const auto& [name, root] : cs.roots) {
    const int was = percent_used(cs.before.at(name)), now = percent_used(root);
    if (warn > 0 && was < warn && now >= warn) {
      auto limit = [](const std::optional<int64_t>& v, const char* unit) {
        return v ? std::to_string(*v) + unit : std::string("no limit");
      };
      CUBBY_LOG_WARNING("quota: root %s is at %d%% of its limit (storage %lld bytes of %s, "
                        "%lld messages of %s)",
                        name.c_str(), now, static_cast<long long>(root.storage_used),
                        limit(root.storage_limit, " KiB").c_str(),
                        static_cast<long long>(root.message_used),
                        limit(root.message_limit, "").c_str());
    }
  }
}

void DeliveryGroup::link() {
  struct Undo {
    int64_t mailbox, uid, size;
    std::optional<DuplicateKey> mark;
    std::string quota_root;
  };
  std::vector<Undo> undo;  // deliveries whose file could not be made
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& t : item.targets) {
      if (!t.delivered_to) continue;
      const MailboxRecord& box = *t.delivered_to;
      const std::string root = config_.partition_root(box.partition);
      const std::string dir = root + "/" + box.dir;
      const std::string& from = item.stages.at(box.partition).path();
      // A symbolic link planted as, or above, the mailbox directory would lead out of the
      // partition: the directory must open without following one. (The file is then made by path,
      // as the fault interposer of tests/fault expects; a link swapped in between is a race
      // only someone who can already write the spool could run.)
      int dir_fd = -1;
      if (auto e = open_dir_beneath(root, box.dir, &dir_fd)) {
        undo.push_back(Undo{box.id, t.outcome.uid, static_cast<int64_t>(item.size), t.mark,
                            t.quota_root});
        t.outcome.error = *e;
        t.outcome.uid = 0;
        t.delivered_to = nullptr;
        continue;
      }
      ::close(dir_fd);  // only the check was needed
      const std::string path = dir + "/" + std::to_string(t.outcome.uid) + ".";
      bool linked = false;
      std::optional<Error> link_error;
      if (config_.single_instance) {
        int rc = ::link(from.c_str(), path.c_str());
        if (rc != 0 && errno == EEXIST) {  // a stale file from before a crash: never ours
          ::unlink(path.c_str());
          rc = ::link(from.c_str(), path.c_str());
        }
        linked = rc == 0;
        // Copy only where hard links cannot be made (another file system, a link-count limit,
        // no hard links at all); an I/O error or a full disk fails the recipient (451).
        if (!linked && errno != EXDEV && errno != EMLINK && errno != EPERM &&
            errno != EOPNOTSUPP) {
          link_error = sys_error("link " + path);
        }
      }
      if (linked) {
        ++item.links;
      } else if (auto e = link_error ? link_error : copy_file(from, path)) {
        undo.push_back(Undo{box.id, t.outcome.uid, static_cast<int64_t>(item.size), t.mark,
                            t.quota_root});
        t.outcome.error = *e;
        t.outcome.uid = 0;
        t.delivered_to = nullptr;
        continue;
      } else {
        ++item.copies;
      }
      dirs_.insert(dir);
    }
  }
  if (undo.empty()) return;
  // The UIDs stay used (invariant 4); the rows, marks and charges go. If this fails, recovery
  // relinks the rows from their stage files.
  auto txn = Transaction::begin(index_.db());
  if (!txn.ok()) return;
  for (const auto& u : undo) {
    index_.delete_message(u.mailbox, u.uid);
    if (u.mark) index_.duplicates().unmark(*u.mark);
    if (!u.quota_root.empty()) index_.quotas().charge(u.quota_root, -u.size, -1);
  }
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
      DeliveryOutcome o = t.outcome;
      if (t.folded_into) {
        const DeliveryOutcome& first = item.targets[*t.folded_into].outcome;
        if (first.error) {  // the delivery it shared was undone
          o.error = first.error;
          o.uid = 0;
        }
      }
      if (item.error) {
        o.error = item.error;
        o.uid = 0;
        o.duplicate = false;
      }
      r.outcomes.push_back(std::move(o));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Error> Checkpoint::run(Index& index, SyncPool* pool) {
  const std::vector<std::string> dirs(dirs_.begin(), dirs_.end());
  std::vector<std::optional<Error>> errors(dirs.size());
  std::vector<std::function<void()>> tasks;
  for (size_t i = 0; i < dirs.size(); ++i) {
    tasks.emplace_back([&, i] { errors[i] = fsync_dir(dirs[i]); });
  }
  run_tasks(pool, tasks);
  for (const auto& e : errors) {
    if (e) return e;
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
