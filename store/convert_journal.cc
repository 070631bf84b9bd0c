// The journal of a conversion and the clean-up it drives; see convert_journal.h.
#include "store/convert_journal.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "store/mailbox_header.h"
#include "store/maildir_link.h"

namespace cubby::store {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t tab = line.find('\t', pos);
    out.push_back(line.substr(pos, tab == std::string::npos ? std::string::npos : tab - pos));
    if (tab == std::string::npos) break;
    pos = tab + 1;
  }
  return out;
}

}  // namespace

Result<ConvertJournal, Error> ConvertJournal::parse(const std::string& text,
                                                   const std::string& path) {
  ConvertJournal j;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  std::map<int64_t, size_t> by_id;
  while (std::getline(in, line)) {
    if (first) {
      if (line != "cubby-convert 1") break;
      first = false;
      continue;
    }
    auto f = split_tabs(line);
    if (f[0] == "to" && f.size() == 2) {
      j.to = f[1];
    } else if (f[0] == "partition" && f.size() == 2) {
      j.partition = f[1];
    } else if (f[0] == "box" && f.size() == 6) {
      ConvertJournal::Box b;
      b.id = std::stoll(f[1]);
      b.name = f[2];
      b.partition = f[3];
      b.format = f[4];
      b.dir = f[5];
      by_id[b.id] = j.boxes.size();
      j.boxes.push_back(std::move(b));
    } else if (f[0] == "file" && f.size() == 3) {
      auto it = by_id.find(std::stoll(f[1]));
      if (it != by_id.end()) j.boxes[it->second].files.push_back(f[2]);
    }
  }
  if (first || j.to.empty() || j.partition.empty()) {
    return fail(Error{Errc::kCorrupt, path + ": not a conversion journal"});
  }
  return j;
}

// Removes what a switched unit left at its old places (convert.h step 5).
std::optional<Error> clean_old_places(Store& store, const ConvertJournal& j,
                                      std::vector<std::string>* notes) {
  // Deeper directories first: a Cyrus INBOX directory holds its folders' directories, a Maildir
  // INBOX its ".Folder" ones.
  std::vector<const ConvertJournal::Box*> boxes;
  for (const auto& b : j.boxes) boxes.push_back(&b);
  std::sort(boxes.begin(), boxes.end(),
            [](const auto* a, const auto* b) { return a->dir.size() > b->dir.size(); });
  std::set<std::string> to_sync;
  for (const auto* b : boxes) {
    const std::string root = store.config().partition_root(b->partition);
    if (root.empty()) {
      notes->push_back("old partition " + b->partition + " of " + b->name +
                       " is no longer configured: its old files were left");
      continue;
    }
    const std::string dir = root + "/" + b->dir;
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) continue;  // removed by an earlier run
    if (!S_ISDIR(st.st_mode)) return Error{Errc::kIo, dir + ": not a directory"};
    if (b->format == "maildir") {
      auto name = MailboxName::from_internal(b->name);
      if (!name.ok()) return name.error();
      struct stat sub;
      const bool whole = ::lstat((dir + "/new").c_str(), &sub) == 0 &&
                         ::lstat((dir + "/cur").c_str(), &sub) == 0;
      for (size_t i = 0; whole && i < b->files.size(); ++i) {  // (else removed by an earlier run)
        auto gone = unlink_maildir_message(root, *name, b->files[i]);
        if (!gone.ok()) return gone.error();
      }
      bool empty = true;
      for (const char* sub : {"new", "cur", "tmp"}) {
        const std::string path = dir + "/" + sub;
        if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
          empty = false;
          to_sync.insert(path);
        }
      }
      if (!empty) {
        notes->push_back(dir + ": left in place, it holds files Cubby did not deliver");
        continue;
      }
      // Dovecot's index and list files and the Maildir++ marker files go with the messages.
      if (DIR* d = ::opendir(dir.c_str())) {
        std::vector<std::string> names;
        while (dirent* ent = ::readdir(d)) {
          const std::string n = ent->d_name;
          if (n == "maildirfolder" || n == "maildirsize" || n.rfind("dovecot", 0) == 0 ||
              n == "subscriptions") {
            names.push_back(n);
          }
        }
        ::closedir(d);
        bool folders = false;
        if (DIR* d2 = ::opendir(dir.c_str())) {
          while (dirent* ent = ::readdir(d2)) {
            if (ent->d_name[0] == '.' && std::string(ent->d_name) != "." &&
                std::string(ent->d_name) != "..") {
              folders = true;
            }
          }
          ::closedir(d2);
        }
        if (!folders) {
          for (const auto& n : names) (void)::unlink((dir + "/" + n).c_str());
        }
      }
    } else {
      for (const auto& file : b->files) {
        const std::string path = dir + "/" + file;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("unlink " + path);
      }
      (void)::unlink((dir + "/" + kMailboxHeaderFile).c_str());
    }
    if (::rmdir(dir.c_str()) == 0) {
      to_sync.insert(parent_dir(dir));
    } else if (errno == ENOTEMPTY || errno == EEXIST) {
      to_sync.insert(dir);
      notes->push_back(dir + ": left in place, it holds files that are not the converted messages");
    } else if (errno != ENOENT) {
      return sys_error("rmdir " + dir);
    }
  }
  for (const auto& dir : to_sync) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) continue;  // removed as a deeper directory's parent
    if (auto e = fsync_dir(dir)) return e;
  }
  // A Cyrus mailbox keeps its header file for reconstruct.
  if (j.to == "cyrus") {
    for (const auto& b : j.boxes) {
      if (auto box = store.index().mailbox_by_id(b.id)) {
        if (auto e = store.write_header(*box)) return e;
      }
    }
  }
  return std::nullopt;
}

// Whether the index shows the journal's unit switched (or its mailboxes gone).
bool journal_switched(Store& store, const ConvertJournal& j) {
  for (const auto& b : j.boxes) {
    auto box = store.index().mailbox_by_id(b.id);
    if (!box) continue;
    if (box->converting || box->partition != j.partition || box->format != j.to) return false;
  }
  return true;
}

std::string ConvertJournal::str() const {
  std::ostringstream out;
  out << "cubby-convert 1\n";
  out << "to\t" << to << "\n";
  out << "partition\t" << partition << "\n";
  for (const auto& b : boxes) {
    out << "box\t" << b.id << "\t" << b.name << "\t" << b.partition << "\t" << b.format << "\t"
        << b.dir << "\n";
    for (const auto& f : b.files) out << "file\t" << b.id << "\t" << f << "\n";
  }
  return out.str();
}

}  // namespace cubby::store
