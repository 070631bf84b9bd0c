// Reading an INBOX from the disk and checking it against the index; see inbox_files.h.
#include "tests/e2e/inbox_files.h"

#include <sys/stat.h>

#include <map>

#include "store/maildir_file_name.h"
#include "tests/e2e/instance.h"
#include "tests/e2e/stored_message.h"

namespace cubby::e2e {
namespace {

void read_cyrus(const std::string& spool, const std::string& user,
                const std::vector<MessageRow>& rows, InboxFiles* out) {
  for (const auto& r : rows) {
    const std::string path = CubbyInstance::message_file(spool, user, r.uid);
    auto bytes = read_file(path);
    if (!bytes) {
      out->problems.push_back(user + " uid " + std::to_string(r.uid) + ": row without a file");
      continue;
    }
    if (guid_of(*bytes) != r.guid) {
      out->problems.push_back(path + ": its bytes do not hash to the row's GUID " + r.guid);
    }
    out->copies.push_back({path, std::move(*bytes), r.uid, r.guid});
  }
}

void read_maildir(const std::string& dir, const std::string& user,
                  const std::vector<MessageRow>& rows, InboxFiles* out) {
  for (const auto& sub : {"new", "cur", "tmp"}) {
    struct stat st;
    if (::lstat((dir + "/" + sub).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      out->problems.push_back(dir + "/" + sub + " is not a directory");
    }
  }
  for (const auto& name : list_dir(dir + "/tmp")) {
    if (!name.starts_with("maildirsize.")) {
      out->problems.push_back(dir + "/tmp/" + name + ": left in tmp/");
    }
  }
  std::multimap<std::string, const MessageRow*> by_guid;
  for (const auto& r : rows) by_guid.emplace(r.guid, &r);
  for (const auto& sub : {"new", "cur"}) {
    for (const auto& name : list_dir(dir + "/" + sub)) {
      const std::string path = dir + "/" + sub + "/" + name;
      if (name.starts_with(".")) {
        out->problems.push_back(path + ": a dot name in " + sub + "/");
        continue;
      }
      auto bytes = read_file(path);
      if (!bytes) {
        out->problems.push_back(path + ": unreadable");
        continue;
      }
      auto size = store::maildir_name_size(name);
      if (!size || *size != bytes->size()) {
        out->problems.push_back(path + ": " + std::to_string(bytes->size()) +
                                " bytes, not what its ,S= says");
      }
      StoredCopy copy{path, std::move(*bytes), 0, ""};
      copy.guid = guid_of(copy.bytes);
      auto row = by_guid.find(copy.guid);
      if (row == by_guid.end()) {
        out->problems.push_back(path + ": no row of " + user + " has its GUID " + copy.guid);
      } else {
        copy.uid = row->second->uid;
        by_guid.erase(row);
      }
      out->copies.push_back(std::move(copy));
    }
  }
  for (const auto& [guid, row] : by_guid) {
    out->problems.push_back(user + " uid " + std::to_string(row->uid) + ": row without a file");
  }
}

}  // namespace

std::string format_name(PartitionFormat format) {
  return format == PartitionFormat::kMaildir ? "Maildir" : "Cyrus";
}

std::vector<std::string> format_settings(PartitionFormat format) {
  if (format == PartitionFormat::kMaildir) return {"partitionformat: maildir"};
  return {};
}

std::string inbox_dir(PartitionFormat format, const std::string& spool, const std::string& user) {
  if (format == PartitionFormat::kMaildir) return spool + "/" + user;
  return CubbyInstance::mailbox_dir(spool, user);
}

InboxFiles read_inbox(const CubbyInstance& cubby, PartitionFormat format, const std::string& user) {
  InboxFiles out;
  std::string error;
  auto rows = cubby.messages(user, &error);
  if (!rows) {
    out.problems.push_back("cubbyctl message list user/" + user + ": " + error);
    return out;
  }
  if (format == PartitionFormat::kMaildir) {
    read_maildir(inbox_dir(format, cubby.spool(), user), user, *rows, &out);
  } else {
    read_cyrus(cubby.spool(), user, *rows, &out);
  }
  return out;
}

std::string message_id_of(const std::string& bytes) {
  size_t p = bytes.find("Message-ID: <");
  if (p == std::string::npos) return "";
  size_t q = bytes.find('>', p);
  if (q == std::string::npos) return "";
  return bytes.substr(p + 13, q - p - 13);
}

}  // namespace cubby::e2e
