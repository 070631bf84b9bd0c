// The group-commit delivery protocol and the delivery rules; see delivery.h for the steps and why
// they are safe.
#include "store/delivery.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <thread>

#include "conf/log.h"
#include "store/acl.h"
#include "store/fs.h"
#include "store/mailbox_name.h"
#include "store/maildir_delivery.h"
#include "store/maildir_file_name.h"
#include "store/maildir_flags.h"
#include "store/maildir_layout.h"
#include "store/message_link.h"
#include "store/sqlite.h"
#include "store/stage_marks.h"

namespace cubby::store {
namespace {

// link() makes the files of a group of at least kLinksForLanes deliveries in lanes on the sync
// pool (the calling thread is one of them), one per core up to four: a lane more than the cores
// would only queue for them, and the other threads of the worker need some too.
constexpr size_t kLinksForLanes = 64;
size_t link_lanes() {
  static const size_t lanes = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  return lanes;
}

// The unique Maildir names of this process (maildir_file_name.h).
MaildirNamer& maildir_namer() {
  static MaildirNamer namer;
  return namer;
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
  if (it == lookups_.end()) {
    it = lookups_.emplace(name, mailbox_cache_ ? mailbox_cache_->find(name)
                                               : index_.find_mailbox(name)).first;
  }
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
  {
    // Every target's mailbox and INBOX fallback, looked up in one read transaction: each lookup
    // alone would be a transaction of its own, taking and dropping SQLite's file locks (fcntl
    // calls) every time, and a Sieve fileinto target needs two (the folder and its INBOX). Without
    // the transaction (BEGIN failed) each lookup below still reads on its own, as before.
    const bool txn = !index_.db().exec("BEGIN");
    if (mailbox_cache_) mailbox_cache_->begin();  // what changed since the last group is seen
    for (auto& item : items_) {
      for (auto& t : item.targets) {
        if (t.request.refused) continue;
        (void)lookup(t.request.mailbox);
        auto name = MailboxName::from_internal(t.request.mailbox);
        if (name.ok() && name->is_user() && !name->is_inbox())
          (void)lookup(name->inbox()->internal());
      }
    }
    if (txn) {
      if (auto e = index_.db().exec("COMMIT")) {  // only a read: but do not leave it open
        CUBBY_LOG_ERR("delivery: ending the lookups' read transaction: %s", e->detail.c_str());
        if (index_.db().exec("ROLLBACK")) CUBBY_LOG_ERR("delivery: cannot roll the lookups back");
      }
    }
  }
  for (auto& item : items_) {
    StageFile& first = item.stages.begin()->second;
    for (auto& t : item.targets) {
      if (t.request.refused) continue;
      t.mailbox = lookup(t.request.mailbox);
      auto name = MailboxName::from_internal(t.request.mailbox);
      t.check_rights = !t.request.by_owner && !(name.ok() && name->is_inbox());
      if (name.ok() && name->is_user() && !name->is_inbox()) {
        t.fallback = lookup(name->inbox()->internal());
      }
      for (auto* box : {&t.mailbox, &t.fallback}) {
        if (!*box) continue;
        if (blocked_.count((*box)->partition)) {
          item.error = Error{Errc::kUnsettled, "partition " + (*box)->partition +
                                                   " refuses deliveries until a failed write is "
                                                   "settled"};
          break;
        }
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
        prepare_maildir_keywords(config_, **box, t.request.flags);  // may wait: before the txn
      }
      if (item.error) break;
    }
    if (!item.error && blocked_.count(first.partition())) {
      item.error = Error{Errc::kUnsettled, "partition " + first.partition() +
                                               " refuses deliveries until a failed write is "
                                               "settled"};
    }
    if (item.error) continue;
    to_sync.push_back(&item);
    const std::string root = config_.partition_root(first.partition());
    if (!first.name_durable()) stage_dirs.insert(stage_dir(root));
    if (reserve_) {
      if (auto refill = reserve_->plan(first.partition(), root)) refills_.push_back(std::move(*refill));
    }
  }
  // Each file's data and each stage directory's entries must be durable before a reply; the
  // order among them does not matter, so they all go at once, and with a pool they run while
  // commit() runs the index transaction (its COMMIT syncs the WAL meanwhile). finish_stage()
  // waits for them.
  syncing_ = std::move(to_sync);
  sync_dirs_.assign(stage_dirs.begin(), stage_dirs.end());
  file_errors_.assign(syncing_.size(), std::nullopt);
  dir_errors_.assign(sync_dirs_.size(), std::nullopt);
  std::vector<std::function<void()>> syncs;
  for (size_t i = 0; i < syncing_.size(); ++i) {
    syncs.emplace_back([this, i] { file_errors_[i] = syncing_[i]->stages.begin()->second.sync(); });
  }
  for (size_t i = 0; i < sync_dirs_.size(); ++i) {
    syncs.emplace_back([this, i] { dir_errors_[i] = fsync_dir(sync_dirs_[i]); });
  }
  for (auto& refill : refills_) syncs.emplace_back([&refill] { StageReserve::run(refill); });
  syncs_started_ = true;
  if (pool_) {
    pool_->start(std::move(syncs));
  } else {  // one after another, before the commit: nothing to take back when one fails
    for (const auto& sync : syncs) sync();
    finish_stage();
  }
}

DeliveryGroup::~DeliveryGroup() { finish_stage(); }

void DeliveryGroup::finish_stage() {
  if (!syncs_started_) return;
  syncs_started_ = false;
  if (pool_) pool_->wait();
  for (auto& refill : refills_) {
    if (refill.error) {
      CUBBY_LOG_WARNING("store: making stage files ahead on partition %s failed: %s",
                        refill.partition.c_str(), refill.error->detail.c_str());
    }
    reserve_->finish(std::move(refill));
  }
  refills_.clear();
  std::optional<Error> dir_error;
  for (auto& e : dir_errors_) {
    if (e && !dir_error) dir_error = e;
  }
  std::vector<UndoneDelivery> undo;
  std::set<std::string> undo_partitions;
  std::vector<std::string> undo_stages;  // their stage_marks rows go too
  for (size_t i = 0; i < syncing_.size(); ++i) {
    Item& item = *syncing_[i];
    std::optional<Error> failed = file_errors_[i] ? file_errors_[i] : dir_error;
    if (!failed) continue;
    if (item.error) continue;  // never committed (or its COMMIT failed: unknown, settled apart)
    if (committed_) {
      // The COMMIT already made rows naming these stage files, whose data or directory entry is
      // now in an unknown state: take the rows back (one transaction, below) and remove the
      // files, so that a recovery (after a crash, or in another worker) finds rows without a stage
      // file and undoes them too, never trusting what the page cache shows.
      for (auto& t : item.targets) {
        if (!t.delivered_to) continue;
        undo.push_back(UndoneDelivery{t.delivered_to->id, t.outcome.uid,
                                      static_cast<int64_t>(item.size), t.mark, t.quota_root,
                                      item.stages.at(t.delivered_to->partition).name()});
        undo_partitions.insert(t.delivered_to->partition);
        t.delivered_to = nullptr;
      }
      undo_stages.push_back(item.stages.begin()->second.name());
      for (auto& [partition, stage] : item.stages) stage.remove();
      item.stages.clear();
    }
    item.error = *failed;
  }
  if (auto e = undo_deliveries(index_, undo)) {
    CUBBY_LOG_ERR("store: the undo of %zu deliveries whose stage sync failed failed: %s; "
                  "partition(s) refuse deliveries until it is settled",
                  undo.size(), e->detail.c_str());
    failed_undo_.insert(failed_undo_.end(), undo.begin(), undo.end());
    failed_undo_partitions_.insert(undo_partitions.begin(), undo_partitions.end());
  } else if (!undo_stages.empty()) {
    // Tidiness only: a row naming a stage file that no longer exists is never read.
    auto txn = Transaction::begin(index_.db());
    StageMarks marks(index_.db());
    std::optional<Error> e = txn.ok() ? std::nullopt : std::optional<Error>(txn.error());
    for (size_t i = 0; !e && i < undo_stages.size(); ++i) e = marks.forget(undo_stages[i]);
    if (!e) e = txn->commit();
    if (e) CUBBY_LOG_WARNING("store: stage_marks rows left behind: %s", e->detail.c_str());
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
  std::map<int64_t, std::optional<MailboxRecord>> current;  // mailbox rows as this commit reads them
  // The next UID of each mailbox this commit allocates in, from its row in `current`: written
  // back once per mailbox before the COMMIT (one UPDATE per mailbox per group instead of an
  // UPDATE ... RETURNING per delivery), in the same transaction, so a UID is still never reused.
  std::map<int64_t, int64_t> uidnext;
  // Maildir users (their Maildir's path): the quota read from maildirsize, and what this commit
  // has added to it so far.
  std::map<std::string, std::optional<MaildirQuota>> maildir_quotas;
  std::map<std::string, MaildirUsage> maildir_charged;

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
  // cubbyctl convert (convert.h) may be moving the mailbox, or have moved it since stage() looked
  // it up: the row as this transaction reads it decides, and the MTA retries later. Read once
  // per mailbox per commit: the transaction holds the write lock, so convert's marking
  // transaction cannot come between two reads of it anyway.
  auto known = cs.current.find(box.id);
  if (known == cs.current.end()) known = cs.current.emplace(box.id, index_.mailbox_by_id(box.id)).first;
  const std::optional<MailboxRecord>& current = known->second;
  if (!current) return Error{Errc::kNotFound, "mailbox " + box.name + " was deleted"};
  if (current->converting || current->partition != box.partition || current->dir != box.dir ||
      current->format != box.format) {
    return Error{Errc::kIo, "mailbox " + box.name + " is being converted or moved (cubbyctl "
                                                    "convert); try again later"};
  }
  if (check_rights) {
    if (auto e = check_post_right(box.acl, item.poster, box.name)) return e;
  }
  QuotaRoot* root = nullptr;
  if (cs.quotas_on) {
    root = cs.root_for(index_.quotas(), box.name, fatal);
    if (*fatal) return std::nullopt;
    if (root && !t.request.ignore_quota) {
      if (auto e = check_delivery_quota(*root, static_cast<int64_t>(item.size),
                                        config_.strict_quota)) {
        return e;
      }
    }
  }
  const bool maildir = config_.mailbox_format(box.partition, box.format) == PartitionFormat::kMaildir;
  std::string maildir_user;
  if (maildir) {
    // The quota shared with Dovecot (maildir_delivery.h), read once per commit and user.
    auto name = MailboxName::from_internal(box.name);
    if (!name.ok()) return Error{Errc::kIo, name.error().detail};
    auto dir = maildir_user_dir(*name);
    if (!dir.ok()) return Error{Errc::kIo, dir.error().detail};
    maildir_user = box.partition + ":" + *dir;
    auto it = cs.maildir_quotas.find(maildir_user);
    if (it == cs.maildir_quotas.end()) {
      auto quota = maildir_quotas_ ? maildir_quotas_->quota(config_, box)
                                   : user_maildir_quota(config_, box);
      if (!quota.ok()) return quota.error();
      it = cs.maildir_quotas.emplace(maildir_user, *quota).first;
    }
    if (it->second && !t.request.ignore_quota) {
      if (auto e = check_maildir_delivery_quota(*it->second, cs.maildir_charged[maildir_user],
                                                static_cast<int64_t>(item.size),
                                                config_.strict_quota, box.name)) {
        return e;
      }
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
  const int64_t uid = cs.uidnext.try_emplace(box.id, current->uidnext).first->second++;
  const StageFile& stage = item.stages.at(box.partition);
  MessageRecord row{box.id, uid, item.guid, static_cast<int64_t>(item.size), cs.now,
                    stage.name(), true, std::string()};
  // On a Maildir partition the name in new/ is chosen here, so the COMMIT records it: recovery
  // then finds the message by it, in new/ or wherever Dovecot moved it.
  std::vector<std::string> index_flags = t.request.flags;  // Sieve imap4flags (delivery.h)
  if (maildir) {
    row.file = maildir_namer().next(stage.maildir_sizes());
    // Flags go into the name, as Dovecot saves them (maildir_flags.h): the file then goes to
    // cur/. Only keywords without a letter stay in the index, and a failure costs the flags
    // their place in the name, never the message.
    if (!index_flags.empty()) {
      const std::string root = config_.partition_root(box.partition);
      Fd dir;
      std::optional<Error> problem = open_dir_beneath(root, box.dir, &dir);
      if (!problem) {
        auto info = maildir_info(dir.get(), root + "/" + box.dir, index_flags,
                                 std::chrono::milliseconds(0));  // stage() waited already
        if (info.ok()) {
          row.file = maildir_name_with_info(row.file, info->letters);
          index_flags = info->unmapped;
        } else {
          problem = info.error();
        }
      }
      if (problem) {
        CUBBY_LOG_WARNING("store: the flags of a delivery to %s stay in the index: %s",
                          box.name.c_str(), problem->detail.c_str());
      } else if (!index_flags.empty()) {
        CUBBY_LOG_NOTICE("store: %zu keyword(s) of a delivery to %s have no Maildir letter "
                         "(26 in use, or dovecot-uidlist.lock held); kept in the index",
                         index_flags.size(), box.name.c_str());
      }
    }
  }
  if (auto e = index_.insert_message(row)) {
    *fatal = e;
    return std::nullopt;
  }
  if (!index_flags.empty()) {
    if (auto e = index_.set_flags(box.id, row.uid, index_flags)) {
      *fatal = e;
      return std::nullopt;
    }
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
  if (maildir) {
    MaildirUsage& charged = cs.maildir_charged[maildir_user];
    charged.bytes += static_cast<int64_t>(item.size);
    charged.messages += 1;
  }
  t.delivered_to = &box;
  t.file = row.file;
  t.maildir_quota = maildir && cs.maildir_quotas.at(maildir_user).has_value();
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
  // What recovery needs to take back a delivery whose stage file does not survive a crash
  // (stage_marks.h): the syncs of the stage files are still running.
  std::optional<StageMarks> stage_marks;
  for (auto& item : items_) {
    if (item.error) continue;
    bool marked = false;
    for (const auto& t : item.targets) marked = marked || t.mark;
    if (!marked) continue;
    if (!stage_marks) stage_marks.emplace(index_.db());
    if (auto e = stage_marks->record(item.stages.begin()->second.name(), item.message_id,
                                     item.date)) {
      return fail_all(*e);
    }
  }
  for (const auto& [id, next] : cs.uidnext) {
    if (auto e = index_.raise_uidnext(id, next - 1)) return fail_all(*e);
  }
  for (const auto& [name, root] : cs.roots) {
    const QuotaRoot& was = cs.before.at(name);
    const int64_t bytes = root.storage_used - was.storage_used;
    const int64_t messages = root.message_used - was.message_used;
    if (bytes == 0 && messages == 0) continue;
    if (auto e = index_.quotas().charge(name, bytes, messages)) return fail_all(*e);
  }
  if (auto e = txn->commit()) {
    // The WAL frames may have reached the disk and come back after a crash, naming these stage
    // files: they must stay until an Unsettled has settled the question (settle.h).
    for (auto& item : items_) item.unknown = !item.error;
    return fail_all(*e);
  }
  committed_ = true;
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
  finish_stage();  // no link before its stage file is durable: recovery relies on it
  std::vector<UndoneDelivery> undo;  // deliveries whose file could not be made
  std::set<std::string> undo_partitions;
  std::vector<Item*> undone_items;
  MaildirCharges charges;  // Maildir++: one maildirsize line per user for the group
  std::map<std::string, Fd> new_dirs;  // Maildir new/ directories, by path, for the group
  // Every file to make, in order. The links are independent of one another (the COMMIT and the
  // stage syncs are behind us), so a big group makes them in lanes on the pool: with 100
  // recipients a message, linking was most of the committer's time, nearly all of it in the
  // kernel's directory code. A directory belongs to one lane, so no two lanes wait for the same
  // directory's lock. What each made is then taken up in order, as when one thread made them.
  struct Job {
    Item* item;
    Target* target;
    size_t lane = 0;
    int new_dir = -1;  // the group's descriptor of this new/ (opened once per group)
    std::optional<Result<MessageLink, Error>> made;
  };
  std::vector<Job> jobs;
  std::map<std::string, size_t> dir_lanes;  // mailbox directory -> its lane
  for (auto& item : items_) {
    if (item.error) continue;
    for (auto& t : item.targets) {
      if (!t.delivered_to) continue;
      const MailboxRecord& box = *t.delivered_to;
      const std::string dir = config_.partition_root(box.partition) + "/" + box.dir;
      Job job{&item, &t, 0, -1, std::nullopt};
      job.lane = dir_lanes.try_emplace(dir, dir_lanes.size()).first->second;
      if (!t.file.empty()) {
        auto [it, fresh] = new_dirs.try_emplace(dir);
        if (fresh && open_dir_beneath(config_.partition_root(box.partition), box.dir + "/new",
                                      &it->second)) {
          it->second = Fd();  // link_delivery opens it itself, and says why it cannot
        }
        job.new_dir = it->second ? it->second.get() : -1;
      }
      jobs.push_back(std::move(job));
    }
  }
  const size_t lanes = pool_ && jobs.size() >= kLinksForLanes ? link_lanes() : 1;
  auto make = [&](size_t lane) {
    for (auto& job : jobs) {
      if (lanes > 1 && job.lane % lanes != lane) continue;
      const MailboxRecord& box = *job.target->delivered_to;
      job.made = link_delivery(job.item->stages.at(box.partition).path(),
                               config_.partition_root(box.partition), box.dir,
                               job.target->outcome.uid, job.target->file, config_.single_instance,
                               LinkMode::kNew, job.new_dir);
    }
  };
  if (lanes > 1) {
    std::vector<std::function<void()>> tasks;
    for (size_t lane = 0; lane < lanes; ++lane) tasks.emplace_back([&make, lane] { make(lane); });
    pool_->run(std::move(tasks));
  } else {
    make(0);
  }
  for (auto& job : jobs) {
    Item& item = *job.item;
    Target& t = *job.target;
    const MailboxRecord& box = *t.delivered_to;
    auto& made = *job.made;
    if (!made.ok()) {
      undo.push_back(UndoneDelivery{box.id, t.outcome.uid, static_cast<int64_t>(item.size),
                                    t.mark, t.quota_root, item.stages.at(box.partition).name()});
      undo_partitions.insert(box.partition);
      if (undone_items.empty() || undone_items.back() != &item) undone_items.push_back(&item);
      t.outcome.error = made.error();
      t.outcome.uid = 0;
      t.delivered_to = nullptr;
      continue;
    }
    made->linked ? ++item.links : ++item.copies;
    dirs_.insert(made->dir);
    // Maildir++: the delivery's line in maildirsize, once the message is there to count; a
    // user the commit found without one has no quota (a quota set meanwhile recalculates).
    if (!t.file.empty() && t.maildir_quota) charges.add(box, static_cast<int64_t>(item.size));
  }
  charges.write(config_);
  // The UIDs stay used (invariant 4); the rows, marks and charges go, so that the MTA's retry of
  // these recipients is delivered, not suppressed as a duplicate of a message that is not there.
  if (auto e = undo_deliveries(index_, undo)) {
    CUBBY_LOG_ERR("store: the undo of %zu failed deliveries failed: %s; partition(s) refuse "
                  "deliveries until it is settled",
                  undo.size(), e->detail.c_str());
    failed_undo_.insert(failed_undo_.end(), undo.begin(), undo.end());
    failed_undo_partitions_.insert(undo_partitions.begin(), undo_partitions.end());
    for (Item* item : undone_items) item->unknown = true;
  }
}

void DeliveryGroup::retire(Checkpoint& checkpoint, Unsettled& unsettled) {
  finish_stage();
  for (const auto& dir : dirs_) checkpoint.add_dir(dir);
  dirs_.clear();
  for (const auto& partition : failed_undo_partitions_) {
    unsettled.add_undo(failed_undo_, partition);
    failed_undo_.clear();  // held once; every partition involved is blocked
  }
  failed_undo_partitions_.clear();
  for (auto& item : items_) {
    if (item.unknown) {
      for (auto& [partition, stage] : item.stages) unsettled.add_stage(std::move(stage));
    } else if (!item.error) {  // never committed: the stage files are removed with the item
      for (auto& [partition, stage] : item.stages) checkpoint.add_stage(std::move(stage));
    }
    item.stages.clear();
  }
}

std::vector<DeliveryResult> DeliveryGroup::results() {
  finish_stage();
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
  if (auto e = fsync_dirs(dirs_, pool)) return e;
  dirs_.clear();
  if (stages_.empty()) return std::nullopt;
  auto txn = Transaction::begin(index.db());
  if (!txn.ok()) return txn.error();
  StageMarks marks(index.db());
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& stage : stages_) {
    names.emplace_back(stage.partition(), stage.name());
    if (auto e = marks.forget(stage.name())) return e;
  }
  if (auto e = index.clear_stages(names)) return e;
  if (auto e = txn->commit()) return e;
  for (auto& stage : stages_) stage.remove();
  stages_.clear();
  return std::nullopt;
}

void Checkpoint::surrender(Unsettled& unsettled) {
  for (auto& stage : stages_) unsettled.add_stage(std::move(stage));
  stages_.clear();
  dirs_.clear();  // settling makes their entries anew before it syncs them
}

}  // namespace cubby::store
