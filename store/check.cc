// cubbyctl check and stats over the index and the files; see check.h.
#include "store/check.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "store/sqlite.h"

namespace cubby::store {

CheckReport check(Store& store) {
  CheckReport r;
  Index& index = store.index();
  // (partition, stage) -> inodes its rows point at
  std::map<std::pair<std::string, std::string>, std::set<std::pair<dev_t, ino_t>>> transactions;
  for (const auto& box : index.list_mailboxes()) {
    ++r.mailboxes;
    const std::string ext = store.external_name(box.name);
    const std::string dir = store.mailbox_dir(box);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      r.problems.push_back(ext + ": directory " + dir + " is missing");
      continue;
    }
    if (box.converting) {
      r.problems.push_back(ext + ": is being converted (run the cubbyctl convert again to finish)");
    }
    const bool maildir = store.is_maildir(box);
    if (maildir) {
      for (const char* sub : {"/new", "/cur", "/tmp"}) {
        if (::lstat((dir + sub).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
          r.problems.push_back(ext + ": directory " + dir + sub + " is missing or not a directory");
        }
      }
    }
    std::set<int64_t> uids;
    for (const auto& m : index.messages(box.id)) {
      ++r.messages;
      uids.insert(m.uid);
      const std::string path = store.message_path(box, m);
      if (m.uid >= box.uidnext) {
        r.problems.push_back(ext + ": uid " + std::to_string(m.uid) + " is not below uidnext " +
                             std::to_string(box.uidnext));
      }
      if (m.pending) {
        r.problems.push_back(ext + ": uid " + std::to_string(m.uid) +
                             " is still pending (run cubbyctl recover)");
      }
      if (maildir && !m.pending && ::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
        ++r.expunged;  // Dovecot owns the file once it is durable in new/: it expunged it
        continue;
      }
      if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        r.problems.push_back(ext + ": uid " + std::to_string(m.uid) + ": file " + path +
                             " is missing");
        continue;
      }
      if (static_cast<int64_t>(st.st_size) != m.size) {
        r.problems.push_back(ext + ": uid " + std::to_string(m.uid) + ": file has " +
                             std::to_string(st.st_size) + " bytes, index says " +
                             std::to_string(m.size));
      }
      transactions[{box.partition, m.stage}].insert({st.st_dev, st.st_ino});
    }
    if (DIR* d = maildir ? nullptr : ::opendir(dir.c_str())) {  // Maildir: Dovecot's files
      while (dirent* ent = ::readdir(d)) {
        auto uid = parse_message_file_name(ent->d_name);
        if (uid && !uids.count(*uid)) {
          r.problems.push_back(ext + ": stray file " + dir + "/" + ent->d_name +
                               " has no index row");
        }
      }
      ::closedir(d);
    }
  }
  {
    // A snapshot, so that deliveries meanwhile cannot make the figures disagree.
    Db& db = index.db();
    if (auto e = db.exec("BEGIN")) r.problems.push_back("index snapshot: " + e->detail);
    auto& quotas = index.quotas();
    auto roots = quotas.list();
    if (!roots.ok()) r.problems.push_back("quota roots: " + roots.error().detail);
    for (const auto& root : roots.ok() ? roots.value() : std::vector<QuotaRoot>{}) {
      const std::string ext = store.external_name(root.name);
      if (!index.find_mailbox(root.name)) {
        r.problems.push_back("quota root " + ext + " is set on no existing mailbox");
      }
      auto usage = quotas.computed_usage(root.name);
      if (!usage.ok()) {
        r.problems.push_back("quota root " + ext + ": " + usage.error().detail);
      } else if (usage->bytes != root.storage_used || usage->messages != root.message_used) {
        r.problems.push_back("quota root " + ext + " says " + std::to_string(root.storage_used) +
                             " bytes in " + std::to_string(root.message_used) +
                             " messages; its mailboxes hold " + std::to_string(usage->bytes) +
                             " bytes in " + std::to_string(usage->messages) +
                             " (run cubbyctl quota recalc)");
      }
    }
    if (auto e = db.exec("COMMIT")) r.problems.push_back("index snapshot: " + e->detail);
  }
  if (store.config().single_instance) {
    for (const auto& [key, inodes] : transactions) {
      if (inodes.size() > 1) {
        r.problems.push_back("delivery " + key.second + " on partition " + key.first +
                             " is stored as " + std::to_string(inodes.size()) +
                             " inodes instead of one");
      }
    }
  }
  return r;
}

std::vector<PartitionStats> stats(Store& store) {
  std::map<std::string, PartitionStats> parts;
  std::map<std::string, std::set<std::pair<dev_t, ino_t>>> seen;
  for (const auto& [name, root] : store.config().partitions) parts[name].partition = name;
  Index& index = store.index();
  for (const auto& box : index.list_mailboxes()) {
    PartitionStats& p = parts[box.partition];
    p.partition = box.partition;
    for (const auto& m : index.messages(box.id)) {
      ++p.messages;
      p.logical_bytes += static_cast<uint64_t>(m.size);
      struct stat st;
      if (::stat(store.message_path(box, m).c_str(), &st) != 0) continue;
      if (seen[box.partition].insert({st.st_dev, st.st_ino}).second) {
        ++p.inodes;
        p.physical_bytes += static_cast<uint64_t>(st.st_size);
      }
    }
  }
  std::vector<PartitionStats> out;
  PartitionStats total;
  total.partition = "total";
  for (auto& [name, p] : parts) {
    total.messages += p.messages;
    total.logical_bytes += p.logical_bytes;
    total.physical_bytes += p.physical_bytes;
    total.inodes += p.inodes;
    out.push_back(p);
  }
  out.push_back(total);
  return out;
}

}  // namespace cubby::store
