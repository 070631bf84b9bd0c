// The Store facade: mailbox creation and removal, paths, stage files; see store.h.
#include "store/store.h"

#include <dirent.h>
#include <unistd.h>

#include "store/fs.h"

namespace cubby::store {

std::optional<int64_t> parse_message_file_name(const std::string& name) {
  if (name.size() < 2 || name.size() > 12 || name.back() != '.') return std::nullopt;
  int64_t uid = 0;
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    uid = uid * 10 + (name[i] - '0');
  }
  if (uid == 0 || name[0] == '0') return std::nullopt;
  return uid;
}

Result<std::unique_ptr<Store>, Error> Store::open(StoreConfig config) {
  if (auto e = make_dirs(config.config_directory)) return fail(*e);
  for (const auto& [name, root] : config.partitions) {
    if (auto e = make_dirs(stage_dir(root))) return fail(*e);
    if (auto e = require_real_dir(stage_dir(root))) return fail(*e);
  }
  auto index = Index::open(config.index_path());
  if (!index.ok()) return fail(index.error());
  return std::unique_ptr<Store>(new Store(std::move(config), std::move(index.value())));
}

std::string Store::external_name(const std::string& internal) const {
  auto n = MailboxName::from_internal(internal);
  return n.ok() ? n->external(config_.unix_hierarchy_sep) : internal;
}

std::string Store::partition_root(const std::string& partition) const {
  return config_.partition_root(partition);
}

std::string Store::mailbox_dir(const MailboxRecord& m) const {
  return partition_root(m.partition) + "/" + m.dir;
}

std::string Store::message_path(const MailboxRecord& m, int64_t uid) const {
  return mailbox_dir(m) + "/" + std::to_string(uid) + ".";
}

Result<MailboxRecord, Error> Store::create_mailbox(const MailboxName& name,
                                                   const std::string& partition_in) {
  const std::string partition = partition_in.empty() ? config_.default_partition : partition_in;
  if (!config_.partitions.count(partition)) {
    return fail(Error{Errc::kNotFound, "no partition \"" + partition + "\""});
  }
  const std::string internal = name.internal();
  if (index_.find_mailbox(internal)) {
    return fail(Error{Errc::kExists, "mailbox " + name.external(config_.unix_hierarchy_sep) +
                                         " already exists"});
  }
  const std::string rel = name.relative_dir(config_.hash_spool);
  const std::string dir = partition_root(partition) + "/" + rel;
  // The directory first: a crash before the row leaves an empty directory, never a row without one.
  if (auto e = make_dirs(dir)) return fail(*e);
  // Message files left by an earlier mailbox of the same name must not be mistaken for ours.
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      if (parse_message_file_name(ent->d_name)) ::unlink((dir + "/" + ent->d_name).c_str());
    }
    ::closedir(d);
  }
  auto record = index_.insert_mailbox(internal, partition, rel);
  if (!record.ok()) return fail(record.error());
  return record;
}

std::optional<Error> Store::delete_mailbox(const MailboxName& name) {
  auto record = index_.find_mailbox(name.internal());
  if (!record) {
    return Error{Errc::kNotFound,
                 "no mailbox " + name.external(config_.unix_hierarchy_sep)};
  }
  auto messages = index_.messages(record->id);
  // Rows first: no row may point at a file that is gone. Files left by a crash here are strays
  // that the next create_mailbox of this name (or cubbyctl check) removes.
  if (auto e = index_.delete_mailbox(record->id)) return e;
  for (const auto& m : messages) ::unlink(message_path(*record, m.uid).c_str());
  ::rmdir(mailbox_dir(*record).c_str());  // fails harmlessly while sub-mailboxes live inside
  return std::nullopt;
}

Result<StageFile, Error> Store::create_stage(const std::string& partition) const {
  const std::string root = partition_root(partition);
  if (root.empty()) return fail(Error{Errc::kNotFound, "no partition \"" + partition + "\""});
  return StageFile::create(root, partition);
}

}  // namespace cubby::store
