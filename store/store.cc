// The Store facade: mailbox creation and removal, paths, stage files; see store.h.
#include "store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>

#include "store/acl.h"
#include "store/fs.h"
#include "store/maildir_layout.h"
#include "store/maildir_link.h"
#include "store/maildir_quota.h"
#include "store/recipient.h"
#include "store/sqlite.h"

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

namespace {

// Removes the "<uid>." files of the open directory `dir` (path `shown`).
std::optional<Error> remove_message_files(int dir, const std::string& shown) {
  DIR* d = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  if (!d) return sys_error("read " + shown);
  std::vector<std::string> strays;
  while (dirent* ent = ::readdir(d)) {
    if (parse_message_file_name(ent->d_name)) strays.emplace_back(ent->d_name);
  }
  ::closedir(d);
  for (const auto& n : strays) ::unlinkat(dir, n.c_str(), 0);  // a link itself, never its target
  return std::nullopt;
}

// A header write refuses anything but a regular file at cubby.header.tmp (fs.h
// write_file_atomically_at); operations that write the header after changing the index ask first,
// so that such a link fails them before anything changes.
std::optional<Error> check_header_tmp(int dir, const std::string& shown) {
  const std::string tmp = std::string(kMailboxHeaderFile) + ".tmp";
  struct stat st;
  if (::fstatat(dir, tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  if (S_ISLNK(st.st_mode)) return refused_link(shown + "/" + tmp);
  return Error{Errc::kIo, shown + "/" + tmp + ": exists and is not a regular file"};
}

std::string base_name(const std::string& rel) { return rel.substr(rel.find_last_of('/') + 1); }
std::string parent_rel(const std::string& rel) {
  const size_t slash = rel.find_last_of('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

// Moves directory `from` to `to` (both relative to `root`), the parents opened beneath `root`
// (`to`'s created where missing), so that no link on either way is followed.
std::optional<Error> move_dir(const std::string& root, const std::string& from,
                              const std::string& to) {
  Fd source_parent, target_parent;
  if (auto e = open_dir_beneath(root, parent_rel(from), &source_parent)) return e;
  if (auto e = make_dirs_beneath(root, parent_rel(to), &target_parent)) return e;
  const std::string target = root + "/" + to;
  struct stat st;
  if (::fstatat(target_parent.get(), base_name(to).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return Error{Errc::kExists, "directory " + target + " already exists"};
  }
  if (::fstatat(source_parent.get(), base_name(from).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(st.st_mode)) {
    return refused_link(root + "/" + from);
  }
  if (::renameat(source_parent.get(), base_name(from).c_str(), target_parent.get(),
                 base_name(to).c_str()) != 0) {
    return sys_error("rename " + root + "/" + from);
  }
  if (::fsync(target_parent.get()) != 0) return sys_error("fsync " + parent_dir(target));
  if (::fsync(source_parent.get()) != 0) return sys_error("fsync " + root + "/" + parent_rel(from));
  return std::nullopt;
}

// Removes a Maildir++ folder's directory once no message is left in its cur/ and new/: the
// files in tmp/ and in the folder itself (maildirfolder, Dovecot's index files) go, then the
// directories. A folder still holding messages (Dovecot stored some) is left, whole.
void remove_maildir_folder(const std::string& root, const std::string& rel) {
  Fd folder;
  if (open_dir_beneath(root, rel, &folder)) return;
  auto names = [](int dir, bool* subdirs) {
    std::vector<std::string> out;
    DIR* d = ::fdopendir(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
    if (!d) return out;
    while (dirent* ent = ::readdir(d)) {
      std::string n = ent->d_name;
      if (n == "." || n == "..") continue;
      if (ent->d_type == DT_DIR && subdirs) *subdirs = true;
      out.push_back(std::move(n));
    }
    ::closedir(d);
    return out;
  };
  for (const char* sub : {"cur", "new"}) {
    Fd d(::openat(folder.get(), sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d && !names(d.get(), nullptr).empty()) return;
  }
  if (Fd tmp{::openat(folder.get(), "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)}) {
    for (const auto& n : names(tmp.get(), nullptr)) ::unlinkat(tmp.get(), n.c_str(), 0);
  }
  for (const char* sub : {"cur", "new", "tmp"}) ::unlinkat(folder.get(), sub, AT_REMOVEDIR);
  bool subdirs = false;
  for (const auto& n : names(folder.get(), &subdirs)) ::unlinkat(folder.get(), n.c_str(), 0);
  folder = Fd();
  Fd parent;
  if (!open_dir_beneath(root, parent_rel(rel), &parent)) {
    ::unlinkat(parent.get(), base_name(rel).c_str(), AT_REMOVEDIR);
    if (::fsync(parent.get()) != 0) return;  // the folder comes back at worst: harmless
  }
}

}  // namespace

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

bool Store::is_maildir(const MailboxRecord& m) const {
  return config_.mailbox_format(m.partition, m.format) == PartitionFormat::kMaildir;
}

std::string Store::message_path(const MailboxRecord& m, int64_t uid) const {
  if (is_maildir(m)) {
    // The row's file, wherever Dovecot moved it. (Looking a row up changes only the index's
    // statement cache.)
    auto row = const_cast<Index&>(index_).message(m.id, uid);
    if (row) return message_path(m, *row);
  }
  return mailbox_dir(m) + "/" + std::to_string(uid) + ".";
}

std::string Store::message_path(const MailboxRecord& m, const MessageRecord& row) const {
  if (row.file.empty()) return mailbox_dir(m) + "/" + std::to_string(row.uid) + ".";
  const std::string root = partition_root(m.partition);
  if (auto name = MailboxName::from_internal(m.name); name.ok()) {
    auto where = find_maildir_message(root, *name, row.file);
    if (where.ok() && *where) return root + "/" + **where;
  }
  return mailbox_dir(m) + "/new/" + row.file;  // gone: the name it was delivered under
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
  const std::string root = partition_root(partition);
  // A folder takes the format its INBOX was converted to (cubbyctl convert), so that a user's
  // mailboxes stay one Maildir++ (or one Cyrus tree) on a partition being moved.
  PartitionFormat format = config_.partition_format(partition);
  std::string recorded;
  if (name.is_user() && !name.is_inbox()) {
    if (auto inbox = index_.find_mailbox(name.inbox()->internal());
        inbox && inbox->partition == partition && !inbox->format.empty()) {
      format = config_.mailbox_format(inbox->partition, inbox->format);
      recorded = inbox->format;
    }
  }
  if (format == PartitionFormat::kMaildir) {
    // Maildir++ (maildir_layout.h): the directories first, then the row; no header file (the
    // index alone keeps the mailbox's uniqueid, UIDs and ACL). What has no Maildir++ name (a
    // shared mailbox, a folder name holding '.') is refused here.
    auto rel = maildir_mailbox_dir(name);
    if (!rel.ok()) return fail(rel.error());
    if (auto e = create_maildir_mailbox(root, name)) return fail(*e);
    const Acl acl = Acl::for_new_mailbox(owner_of(name), config_.default_acl);
    auto record = index_.insert_mailbox(internal, partition, *rel, acl.str());
    if (!record.ok() || recorded.empty()) return record;
    if (auto e = index_.set_location(record->id, partition, *rel, recorded)) return fail(*e);
    record->format = recorded;
    return record;
  }
  const std::string rel = name.relative_dir(config_.hash_spool);
  const std::string dir = root + "/" + rel;
  // The directory first: a crash before the row leaves an empty directory, never a row without one.
  // No link is followed on the way (fs.h): `autocreate_post` brings remote RCPTs here.
  Fd dir_fd;
  if (auto e = make_dirs_beneath(partition_root(partition), rel, &dir_fd)) return fail(*e);
  if (auto e = check_header_tmp(dir_fd.get(), dir)) return fail(*e);
  // Message files left by an earlier mailbox of the same name must not be mistaken for ours.
  if (auto e = remove_message_files(dir_fd.get(), dir)) return fail(*e);
  const Acl acl = Acl::for_new_mailbox(owner_of(name), config_.default_acl);
  auto record = index_.insert_mailbox(internal, partition, rel, acl.str());
  if (!record.ok()) return fail(record.error());
  if (!recorded.empty()) {
    if (auto e = index_.set_location(record->id, partition, rel, recorded)) return fail(*e);
    record->format = recorded;
  }
  if (auto e = write_header(record.value())) return fail(*e);
  return record;
}

std::optional<Error> Store::open_mailbox_dir(const MailboxRecord& m, Fd* fd) const {
  return open_dir_beneath(partition_root(m.partition), m.dir, fd);
}

std::optional<Error> Store::open_message_file(const MailboxRecord& m, int64_t uid, Fd* fd) const {
  if (is_maildir(m)) {
    auto row = const_cast<Index&>(index_).message(m.id, uid);
    if (!row) return Error{Errc::kNotFound, "no message " + std::to_string(uid) + " in " + m.name};
    auto name = MailboxName::from_internal(m.name);
    if (!name.ok()) return name.error();
    auto where = find_maildir_message(partition_root(m.partition), *name, row->file);
    if (!where.ok()) return where.error();
    if (!*where) {
      return Error{Errc::kNotFound, mailbox_dir(m) + "/new/" + row->file +
                                        ": gone (expunged by Dovecot?)"};
    }
    const size_t slash = (*where)->rfind('/');
    Fd dir;
    if (auto e = open_dir_beneath(partition_root(m.partition), (*where)->substr(0, slash), &dir)) {
      return e;
    }
    return open_file_at(dir.get(), partition_root(m.partition) + "/" + **where,
                        (*where)->substr(slash + 1), fd);
  }
  Fd dir;
  if (auto e = open_mailbox_dir(m, &dir)) return e;
  return open_file_at(dir.get(), message_path(m, uid), std::to_string(uid) + ".", fd);
}

std::optional<Error> Store::write_header(const MailboxRecord& m) {
  if (is_maildir(m)) return std::nullopt;  // no header on Maildir: the index is the record
  MailboxHeader h;
  h.name = m.name;
  h.uniqueid = m.uniqueid;
  h.uidvalidity = m.uidvalidity;
  h.uidnext = m.uidnext;
  h.acl = m.acl;
  auto root = index_.quotas().get(m.name);
  if (!root.ok()) return root.error();
  if (root.value()) {
    h.quota_root = true;
    h.storage_limit = root.value()->storage_limit;
    h.message_limit = root.value()->message_limit;
  }
  Fd dir;
  if (auto e = open_mailbox_dir(m, &dir)) return e;
  return h.write_at(dir.get(), mailbox_dir(m));
}

std::optional<Error> Store::delete_one(const MailboxRecord& m) {
  // The directory is opened before anything changes: a link there fails the deletion untouched.
  Fd dir;
  if (auto e = open_mailbox_dir(m, &dir); e && e->code != Errc::kNotFound) return e;
  auto messages = index_.messages(m.id);
  {
    // Rows, usage and the root go together. No row may point at a file that is gone, so the files
    // go afterwards: a crash in between leaves strays that the next create_mailbox of this name
    // (or cubbyctl check) finds.
    auto txn = Transaction::begin(index_.db());
    if (!txn.ok()) return txn.error();
    auto& quotas = index_.quotas();
    auto usage = quotas.mailbox_usage(m.id);
    if (!usage.ok()) return usage.error();
    auto root = quotas.root_of(m.name);
    if (!root.ok()) return root.error();
    if (auto e = index_.delete_mailbox(m.id)) return e;
    if (root.value()) {
      if (root.value()->name == m.name) {
        if (auto e = quotas.remove(m.name)) return e;
      } else if (auto e = quotas.charge(root.value()->name, -usage->second, -usage->first)) {
        return e;
      }
    }
    if (auto e = txn->commit()) return e;
  }
  if (!dir) return std::nullopt;  // no directory: nothing more to remove
  if (is_maildir(m)) {
    dir = Fd();
    if (auto e = remove_maildir_files(m, messages)) return e;
    auto name = MailboxName::from_internal(m.name);
    // A folder's directory goes; a user's Maildir stays (Dovecot's state, mail it stored).
    if (name.ok() && !name->is_inbox()) remove_maildir_folder(partition_root(m.partition), m.dir);
    return std::nullopt;
  }
  for (const auto& msg : messages) ::unlinkat(dir.get(), (std::to_string(msg.uid) + ".").c_str(), 0);
  ::unlinkat(dir.get(), kMailboxHeaderFile, 0);
  dir = Fd();
  const std::string root = partition_root(m.partition);
  Fd parent;
  if (!open_dir_beneath(root, parent_rel(m.dir), &parent)) {
    // Fails harmlessly while sub-mailboxes live inside.
    ::unlinkat(parent.get(), base_name(m.dir).c_str(), AT_REMOVEDIR);
  }
  return std::nullopt;
}

std::optional<Error> Store::delete_mailbox(const MailboxName& name) {
  auto record = index_.find_mailbox(name.internal());
  if (!record) {
    return Error{Errc::kNotFound,
                 "no mailbox " + name.external(config_.unix_hierarchy_sep)};
  }
  std::vector<MailboxRecord> doomed;
  if (name.is_inbox()) {
    doomed = index_.mailboxes_below(record->name);
  } else {
    doomed.push_back(*record);
  }
  // Deepest first, so each directory is empty when its turn comes.
  std::sort(doomed.begin(), doomed.end(),
            [](const MailboxRecord& a, const MailboxRecord& b) { return a.name > b.name; });
  // Every directory is checked before any is touched: a planted link fails the whole deletion.
  for (const auto& m : doomed) {
    Fd dir;
    if (auto e = open_mailbox_dir(m, &dir); e && e->code != Errc::kNotFound) return e;
  }
  for (const auto& m : doomed) {
    if (auto e = delete_one(m)) return e;
  }
  return std::nullopt;
}

std::optional<Error> Store::rename_mailbox(const MailboxName& from, const MailboxName& to) {
  const bool unix_sep = config_.unix_hierarchy_sep;
  auto source = index_.find_mailbox(from.internal());
  if (!source) return Error{Errc::kNotFound, "no mailbox " + from.external(unix_sep)};
  if (from.is_inbox() != to.is_inbox()) {
    return Error{Errc::kBadName, "an INBOX can only be renamed to another user's INBOX"};
  }
  if (from.contains(to) || to.contains(from)) {
    return Error{Errc::kBadName,
                 "cannot rename " + from.external(unix_sep) + " to " + to.external(unix_sep)};
  }
  struct Move {
    MailboxRecord box;
    MailboxName to;
    std::string new_dir;  // relative
  };
  std::vector<Move> moves;
  for (auto& box : index_.mailboxes_below(source->name)) {
    auto old_name = MailboxName::from_internal(box.name);
    if (!old_name.ok()) return old_name.error();
    MailboxName new_name = old_name->with_prefix_replaced(from, to);
    if (index_.find_mailbox(new_name.internal())) {
      return Error{Errc::kExists, "mailbox " + new_name.external(unix_sep) + " already exists"};
    }
    std::string dir = new_name.relative_dir(config_.hash_spool);
    if (is_maildir(box)) {  // Maildir++: folders are siblings ".A.B" inside the user's Maildir
      auto rel = maildir_mailbox_dir(new_name);
      if (!rel.ok()) return rel.error();
      dir = *rel;
    }
    moves.push_back(Move{std::move(box), std::move(new_name), std::move(dir)});
  }
  // Every source directory must open without a link before anything moves (fs.h).
  for (const auto& mv : moves) {
    Fd dir;
    if (auto e = open_mailbox_dir(mv.box, &dir)) return e;
    if (is_maildir(mv.box)) continue;
    if (auto e = check_header_tmp(dir.get(), mailbox_dir(mv.box))) return e;
  }
  // Directories first, parents before children; a child inside a moved parent moved with it.
  std::vector<std::pair<std::string, std::string>> done;  // relative from -> to
  for (const auto& mv : moves) {
    const std::string root = partition_root(mv.box.partition);
    std::string current = mv.box.dir;
    for (const auto& [a, b] : done) {
      if (current.compare(0, a.size() + 1, a + "/") == 0) current = b + current.substr(a.size());
    }
    if (current == mv.new_dir) continue;
    if (auto e = move_dir(root, current, mv.new_dir)) return e;
    done.emplace_back(current, mv.new_dir);
  }
  {
    auto txn = Transaction::begin(index_.db());
    if (!txn.ok()) return txn.error();
    auto& quotas = index_.quotas();
    std::vector<std::string> recalc;
    auto old_cover = quotas.root_of(from.internal());
    if (!old_cover.ok()) return old_cover.error();
    if (old_cover.value()) recalc.push_back(old_cover.value()->name);
    for (const auto& mv : moves) {
      if (auto e = index_.rename_mailbox(mv.box.id, mv.to.internal(), mv.new_dir)) return e;
    }
    // The roots move once every row has its new name, so their usage is computed on the moved tree.
    for (const auto& mv : moves) {
      auto root = quotas.get(mv.box.name);
      if (!root.ok()) return root.error();
      if (root.value()) {
        if (auto e = quotas.remove(mv.box.name)) return e;
        if (auto e = quotas.set(mv.to.internal(), root.value()->storage_limit,
                                root.value()->message_limit)) {
          return e;
        }
      }
    }
    auto new_cover = quotas.root_of(to.internal());
    if (!new_cover.ok()) return new_cover.error();
    if (new_cover.value()) recalc.push_back(new_cover.value()->name);
    for (const auto& r : recalc) {
      auto still = quotas.get(r);
      if (!still.ok()) return still.error();
      if (!still.value()) continue;
      if (auto e = quotas.recalc(r)) return e;
    }
    if (auto e = txn->commit()) return e;
  }
  for (const auto& mv : moves) {
    if (auto box = index_.mailbox_by_id(mv.box.id)) {
      if (auto e = write_header(*box)) return e;
    }
  }
  return std::nullopt;
}

std::optional<Error> Store::set_acl(const MailboxRecord& m, const std::string& acl) {
  // The header first: when it cannot be written (a planted link, say) nothing changed.
  auto fresh = index_.mailbox_by_id(m.id);
  if (!fresh) return Error{Errc::kNotFound, "mailbox " + m.name + " was deleted"};
  fresh->acl = acl;
  if (auto e = write_header(*fresh)) return e;
  return index_.set_acl(m.id, acl);
}

std::optional<Error> Store::delete_message(const MailboxRecord& m, int64_t uid) {
  auto row = index_.message(m.id, uid);
  if (!row) {
    return Error{Errc::kNotFound, "no message " + std::to_string(uid) + " in " +
                                      external_name(m.name)};
  }
  // The floor first: once the row is gone, only the header remembers that the UID was used.
  auto fresh = index_.mailbox_by_id(m.id);
  if (!fresh) return Error{Errc::kNotFound, "mailbox " + m.name + " was deleted"};
  if (auto e = write_header(*fresh)) return e;
  {
    auto txn = Transaction::begin(index_.db());
    if (!txn.ok()) return txn.error();
    if (auto e = index_.delete_message(m.id, uid)) return e;
    auto root = index_.quotas().root_of(m.name);
    if (!root.ok()) return root.error();
    if (root.value()) {
      if (auto e = index_.quotas().charge(root.value()->name, -row->size, -1)) return e;
    }
    if (auto e = txn->commit()) return e;
  }
  if (is_maildir(m)) return remove_maildir_files(m, {*row});
  Fd dir;
  if (auto e = open_mailbox_dir(m, &dir)) return e;
  if (::unlinkat(dir.get(), (std::to_string(uid) + ".").c_str(), 0) != 0 && errno != ENOENT) {
    return sys_error("unlink " + message_path(m, uid));
  }
  return std::nullopt;
}

std::optional<Error> Store::set_quota(const MailboxName& name, std::optional<int64_t> storage_kib,
                                      std::optional<int64_t> messages) {
  auto box = index_.find_mailbox(name.internal());
  if (!box) {
    return Error{Errc::kNotFound, "no mailbox " + name.external(config_.unix_hierarchy_sep)};
  }
  if (is_maildir(*box)) {
    // Maildir++: the limit line of the user's maildirsize, which Dovecot reads too; the file is
    // recalculated with it (maildir_quota.h). No quota root in the index.
    if (!name.is_inbox()) {
      return Error{Errc::kBadName, "on a Maildir partition a quota is the user's: set it on " +
                                       (name.inbox() ? name.inbox()->external(
                                                           config_.unix_hierarchy_sep)
                                                     : std::string("the INBOX"))};
    }
    auto user = UserMaildir::open(partition_root(box->partition), name);
    if (!user.ok()) return user.error();
    MaildirQuotaLimits limits;
    limits.bytes = storage_kib ? static_cast<uint64_t>(*storage_kib) * 1024 : 0;
    limits.messages = messages ? static_cast<uint64_t>(*messages) : 0;
    auto written = recalculate_maildir_quota(*user, limits);
    if (!written.ok()) return written.error();
    return std::nullopt;
  }
  {
    Fd dir;  // a planted link fails the command before the index changes
    if (auto e = open_mailbox_dir(*box, &dir)) return e;
    if (!is_maildir(*box)) {
      if (auto e = check_header_tmp(dir.get(), mailbox_dir(*box))) return e;
    }
  }
  {
    auto txn = Transaction::begin(index_.db());
    if (!txn.ok()) return txn.error();
    if (!storage_kib && !messages) {
      auto root = index_.quotas().get(box->name);
      if (!root.ok()) return root.error();
      if (!root.value()) {
        return Error{Errc::kNotFound,
                     "no quota root " + name.external(config_.unix_hierarchy_sep)};
      }
      if (auto e = index_.quotas().remove(box->name)) return e;
    } else if (auto e = index_.quotas().set(box->name, storage_kib, messages)) {
      return e;
    }
    if (auto e = txn->commit()) return e;
  }
  return write_header(*box);
}

Result<std::optional<MaildirQuota>, Error> Store::maildir_quota(const MailboxRecord& m) {
  auto name = MailboxName::from_internal(m.name);
  if (!name.ok()) return fail(name.error());
  auto user = UserMaildir::open(partition_root(m.partition), *name);
  if (!user.ok()) return fail(user.error());
  auto quota = read_maildir_quota(*user);
  if (!quota.ok()) return fail(quota.error());
  if (!quota->exists) return std::optional<MaildirQuota>();
  return std::optional<MaildirQuota>(std::move(*quota));
}

std::optional<Error> Store::remove_maildir_files(const MailboxRecord& m,
                                                const std::vector<MessageRecord>& rows) {
  // Only the files the rows name: whatever Dovecot stored there (IMAP APPEND, its index files)
  // is Dovecot's. The quota file learns of each removal as Maildir++ says.
  auto name = MailboxName::from_internal(m.name);
  if (!name.ok()) return name.error();
  const std::string root = partition_root(m.partition);
  int64_t bytes = 0, count = 0;
  for (const auto& row : rows) {
    if (row.file.empty()) continue;
    auto gone = unlink_maildir_message(root, *name, row.file);
    if (!gone.ok()) return gone.error();
    if (*gone) {
      bytes += row.size;
      ++count;
    }
  }
  if (count == 0) return std::nullopt;
  auto user = UserMaildir::open(root, *name);
  if (!user.ok()) return std::nullopt;  // no user Maildir: no quota file to tell
  auto appended = append_maildir_quota(*user, -bytes, -count);
  if (!appended.ok()) return appended.error();
  return std::nullopt;
}

Result<StageFile, Error> Store::create_stage(const std::string& partition) const {
  const std::string root = partition_root(partition);
  if (root.empty()) return fail(Error{Errc::kNotFound, "no partition \"" + partition + "\""});
  if (auto made = reserve_->take(partition)) return std::move(*made);
  return StageFile::create(root, partition);
}

}  // namespace cubby::store
