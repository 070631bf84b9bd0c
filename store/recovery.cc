// Crash recovery of stage files and pending rows; see recovery.h.
#include "store/recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include <map>
#include <set>

#include "store/duplicates.h"
#include "store/fs.h"
#include "store/mailbox_name.h"
#include "store/maildir_link.h"
#include "store/settle.h"
#include "store/sqlite.h"
#include "store/stage_file.h"
#include "store/stage_marks.h"

namespace cubby::store {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      std::string n = ent->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
  }
  return names;
}

// Whether the file open at `fd` holds exactly the message its rows record: `size` bytes whose
// XXH3-128 is `guid` (stage_file.h). The size alone proves nothing: after a power cut a file whose
// fdatasync never finished can have its size with zeros or stale blocks in it.
Result<bool, Error> holds_message(int fd, const std::string& path, const std::string& guid,
                                  int64_t size) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(sys_error("fstat " + path));
  if (st.st_size != size) return false;
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  char buf[1 << 16];
  off_t at = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      XXH3_freeState(state);
      return fail(sys_error("read " + path));
    }
    if (n == 0) break;
    XXH3_128bits_update(state, buf, static_cast<size_t>(n));
    at += n;
  }
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  return at == size && guid_hex(h.high64, h.low64) == guid;
}

}  // namespace

Result<RecoveryReport, Error> recover(const StoreConfig& config, Index& index) {
  const std::string lock_path = config.config_directory + "/recovery.lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return fail(sys_error("open " + lock_path));
  if (::flock(lock.get(), LOCK_EX) != 0) return fail(sys_error("flock " + lock_path));

  RecoveryReport report;
  // (partition, stage name) -> pending rows made from it.
  std::map<std::pair<std::string, std::string>, std::vector<MessageRecord>> pending;
  for (auto& row : index.staged_rows()) {
    pending[{row.partition, row.message.stage}].push_back(std::move(row.message));
  }
  std::map<int64_t, MailboxRecord> mailboxes;
  auto mailbox = [&](int64_t id) -> const MailboxRecord* {
    auto it = mailboxes.find(id);
    if (it == mailboxes.end()) {
      auto m = index.mailbox_by_id(id);
      if (!m) return nullptr;
      it = mailboxes.emplace(id, *m).first;
    }
    return &it->second;
  };
  auto file_of = [&](const std::string& partition, const MessageRecord& m) -> std::string {
    const MailboxRecord* box = mailbox(m.mailbox);
    if (!box) return {};
    if (!m.file.empty()) {  // Maildir: in new/, or moved by Dovecot to cur/ (with flags)
      const std::string root = config.partition_root(partition);
      auto name = MailboxName::from_internal(box->name);
      if (!name.ok()) return {};
      auto where = find_maildir_message(root, *name, m.file);
      if (where.ok() && *where) return root + "/" + **where;
      return root + "/" + box->dir + "/new/" + m.file;  // gone (or expunged): reported below
    }
    return config.partition_root(partition) + "/" + box->dir + "/" + std::to_string(m.uid) + ".";
  };

  // Takes back, in one transaction, the pending rows of `stage` (on `partition`) whose file is
  // not there: their stage file never became durable, so the delivery was never acknowledged.
  // Row, duplicate mark and quota charge go (the UID stays used, invariant 4), so that the MTA's
  // retry is delivered. A row whose file stands is kept (the protocol links only from a durable
  // stage file, so this does not happen) and marked durable like the others' stage name cleared.
  auto take_back = [&](const std::string& partition, const std::string& stage,
                       const std::vector<MessageRecord>& rows) -> std::optional<Error> {
    auto txn = Transaction::begin(index.db());
    if (!txn.ok()) return txn.error();
    StageMarks marks(index.db());
    auto mark = marks.find(stage);
    if (!mark.ok()) return mark.error();
    for (const auto& m : rows) {
      const std::string target = file_of(partition, m);
      if (target.empty() || exists(target)) continue;  // mailbox gone, or the file stands
      // Read again inside this transaction: a worker may have settled it meanwhile.
      auto now = index.message(m.mailbox, m.uid);
      if (!now || !now->pending || now->stage != stage) continue;
      const MailboxRecord* box = mailbox(m.mailbox);
      if (mark.value()) {
        const DuplicateKey key =
            DuplicateKey::of(mark.value()->first, box->uniqueid, mark.value()->second);
        auto uid = index.duplicates().find(key);
        if (!uid.ok()) return uid.error();
        if (uid.value() && *uid.value() == m.uid) {  // this delivery's mark, not a later one's
          if (auto e = index.duplicates().unmark(key)) return e;
        }
      }
      // commit() charges the covering root whenever there is one (IGNOREQUOTA or not).
      auto root = index.quotas().root_of(box->name);
      if (!root.ok()) return root.error();
      if (root.value()) {
        if (auto e = index.quotas().charge(root.value()->name, -m.size, -1)) return e;
      }
      if (auto e = index.delete_message(m.mailbox, m.uid)) return e;
      report.undone.push_back(box->name + " uid " + std::to_string(m.uid) + " (stage " + stage +
                              ")");
    }
    if (auto e = index.clear_stage(partition, stage)) return e;
    if (auto e = marks.forget(stage)) return e;
    return txn->commit();
  };

  const std::vector<std::string> dead_marks = dead_unsettled_marks(config);
  const LinkMode mode = dead_marks.empty() ? LinkMode::kMissing : LinkMode::kRemake;
  report.remade_after_failed_sync = !dead_marks.empty();
  std::set<std::pair<std::string, std::string>> seen;  // stage files found on disk
  for (const auto& [partition, root] : config.partitions) {
    const std::string dir = stage_dir(root);
    // Everything in a stage directory may be removed: never one reached through a link.
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0) {
      if (auto e = require_real_dir(dir)) return fail(*e);
    }
    for (const auto& name : list_dir(dir)) {
      const std::string path = dir + "/" + name;
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!fd) continue;  // removed meanwhile by its owner
      seen.insert({partition, name});
      if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        ++report.stage_files_live;
        continue;
      }
      auto rows = pending.find({partition, name});
      if (rows == pending.end()) {
        // No pending row: either never committed, or committed and already durable (its rows were
        // marked before a crash stopped the removal). Both ways the file is no longer needed. An
        // empty one held no message: a dead worker's reserve (stage_reserve.h), counted apart.
        struct stat file;
        const bool empty = ::fstat(fd.get(), &file) == 0 && file.st_size == 0;
        ::unlink(path.c_str());
        ++(empty ? report.empty_stage_files_removed : report.stage_files_removed);
        continue;
      }
      // The COMMIT does not wait for the stage file's sync (docs/store-protocol.md): a crash can
      // leave a committed row naming a stage file whose content never reached the disk. Such a
      // delivery was never acknowledged, and is taken back.
      const MessageRecord& first = rows->second.front();
      auto whole = holds_message(fd.get(), path, first.guid, first.size);
      if (!whole.ok()) return fail(whole.error());  // keep it; retry later
      if (!whole.value()) {
        if (auto e = take_back(partition, name, rows->second)) return fail(*e);
        ::unlink(path.c_str());
        ++report.stage_files_removed;
        continue;
      }
      // The process that wrote it may have died before its fdatasync finished: what the page
      // cache shows becomes durable before anything is made from it.
      if (::fdatasync(fd.get()) != 0) return fail(sys_error("fdatasync " + path));
      // A file that stands there is this message and stays (readers may have it open; an IMAP
      // server must never see it vanish), unless a process died holding a failed sync unsettled:
      // then the page cache may show an entry the disk does not hold, and it is made anew.
      std::set<std::string> dirs;
      if (auto e = relink_rows(config, index, partition, path, rows->second, mode, &dirs,
                               &report.links_restored)) {
        return fail(*e);  // keep the stage file; retry later
      }
      if (auto e = fsync_dirs(dirs, nullptr)) return fail(*e);
      auto txn = Transaction::begin(index.db());
      if (!txn.ok()) return fail(txn.error());
      if (auto e = index.clear_stage(partition, name)) return fail(*e);
      if (auto e = txn->commit()) return fail(*e);
      ::unlink(path.c_str());
      ++report.stage_files_retired;
    }
  }

  // Pending rows whose stage file is gone: fine if their file is there; otherwise the stage file
  // never reached the disk (the crash came before its sync finished, so no `250` was sent): the
  // delivery is taken back.
  for (const auto& [key, rows] : pending) {
    if (seen.count(key)) continue;
    if (auto e = take_back(key.first, key.second, rows)) return fail(*e);
  }
  for (const auto& m : dead_marks) ::unlink(m.c_str());  // settled now: every entry remade
  return report;
}

}  // namespace cubby::store
