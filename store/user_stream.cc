// Writing and reading the user stream; see user_stream.h.
#include "store/user_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "store/fs.h"
#include "store/import.h"
#include "store/verify.h"

namespace cubby::store {
namespace {

constexpr const char* kMagic = "cubby-user-stream";
constexpr size_t kMaxLine = 1 << 20;  // an ACL or a flag list; far beyond any real one

std::string encode(const std::string& word) {
  if (word.empty()) return "-";
  if (word == "-") return "%2D";
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : word) {
    if (ch <= 0x20 || ch >= 0x7F || ch == '%') {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::optional<std::string> decode(const std::string& word) {
  if (word == "-") return std::string();
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (word[i] != '%') {
      out += word[i];
      continue;
    }
    if (i + 2 >= word.size()) return std::nullopt;
    const std::string hex = word.substr(i + 1, 2);
    char* end = nullptr;
    const long v = std::strtol(hex.c_str(), &end, 16);
    if (hex.size() != 2 || end != hex.c_str() + 2) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

std::string joined(const std::vector<std::string>& words, char sep) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t at = s.find(sep, start);
    if (at == std::string::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, at - start));
    start = at + 1;
  }
  return out;
}

std::optional<int64_t> number(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v;
}

std::optional<Error> write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write to the user stream");
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return std::nullopt;
}

std::optional<Error> write_line(int fd, const std::vector<std::string>& words) {
  std::vector<std::string> encoded;
  for (size_t i = 0; i < words.size(); ++i) encoded.push_back(i == 0 ? words[i] : encode(words[i]));
  const std::string line = joined(encoded, ' ') + "\n";
  return write_all(fd, line.data(), line.size());
}

// Copies one message file into the stream, exactly `size` bytes (the file must not have changed).
std::optional<Error> write_file(int fd, const std::string& path, int64_t size) {
  Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in) return sys_error("open " + path);
  std::vector<char> buf(1 << 16);
  int64_t left = size;
  while (left > 0) {
    const ssize_t n = ::read(in.get(), buf.data(), std::min<int64_t>(left, buf.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read " + path);
    if (n == 0) return Error{Errc::kCorrupt, path + ": shorter than its size"};
    if (auto e = write_all(fd, buf.data(), static_cast<size_t>(n))) return e;
    left -= n;
  }
  return write_all(fd, "\n", 1);
}

// Buffered reading of the stream: lines and counted bytes.
class StreamReader {
 public:
  explicit StreamReader(int fd) : fd_(fd) {}

  // The next line without its "\n"; kCorrupt at the end of the stream or for an overlong line.
  Result<std::string, Error> line() {
    std::string out;
    for (;;) {
      const auto nl = std::find(buf_.begin() + pos_, buf_.end(), '\n');
      out.append(buf_.begin() + pos_, nl);
      if (nl != buf_.end()) {
        pos_ = static_cast<size_t>(nl - buf_.begin()) + 1;
        return out;
      }
      pos_ = buf_.size();
      if (out.size() > kMaxLine) return fail(Error{Errc::kCorrupt, "user stream: line too long"});
      auto got = fill();
      if (!got.ok()) return fail(got.error());
      if (!got.value()) return fail(Error{Errc::kCorrupt, "user stream: cut short"});
    }
  }

  // Copies `size` bytes to `out` (or drops them when out < 0), then expects "\n".
  std::optional<Error> bytes(int64_t size, int out) {
    while (size > 0) {
      if (pos_ == buf_.size()) {
        auto got = fill();
        if (!got.ok()) return got.error();
        if (!got.value()) return Error{Errc::kCorrupt, "user stream: cut short in a message"};
      }
      const size_t n = std::min<size_t>(static_cast<size_t>(size), buf_.size() - pos_);
      if (out >= 0) {
        if (auto e = write_all(out, buf_.data() + pos_, n)) return e;
      }
      pos_ += n;
      size -= static_cast<int64_t>(n);
    }
    auto rest = line();
    if (!rest.ok()) return rest.error();
    if (!rest->empty())
      return Error{Errc::kCorrupt, "user stream: a message is longer than its size"};
    return std::nullopt;
  }

 private:
  Result<bool, Error> fill() {
    buf_.resize(1 << 16);
    pos_ = 0;
    for (;;) {
      const ssize_t n = ::read(fd_, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        buf_.clear();
        return fail(sys_error("read the user stream"));
      }
      buf_.resize(static_cast<size_t>(n));
      return n > 0;
    }
  }

  int fd_;
  std::vector<char> buf_;
  size_t pos_ = 0;
};

// The staging directory of one reader, <partition>/transfer./<random>, removed with its files.
class StagingDir {
 public:
  ~StagingDir() {
    for (const auto& f : files_) ::unlink(f.c_str());
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  std::optional<Error> make(const std::string& partition_root) {
    const std::string parent = partition_root + "/transfer.";
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("mkdir " + parent);
    std::string tmpl = parent + "/XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return sys_error("mkdtemp " + tmpl);
    path_ = tmpl;
    return std::nullopt;
  }
  // A new file for the next message; its path.
  Result<std::pair<std::string, Fd>, Error> create() {
    const std::string path = path_ + "/" + std::to_string(files_.size());
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return fail(sys_error("create " + path));
    files_.push_back(path);
    return std::make_pair(path, std::move(fd));
  }
  void forget_last() {
    ::unlink(files_.back().c_str());
    files_.pop_back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

struct ParsedMailbox {
  ImportedMailbox box;
  std::optional<std::pair<std::optional<int64_t>, std::optional<int64_t>>> quota;
};

Error malformed(const std::string& line) {
  return Error{Errc::kCorrupt, "user stream: malformed line: " + line.substr(0, 200)};
}

// The line's words, decoded (the first, the keyword, is plain).
std::optional<std::vector<std::string>> words_of(const std::string& line) {
  auto words = split(line, ' ');
  for (size_t i = 1; i < words.size(); ++i) {
    auto d = decode(words[i]);
    if (!d) return std::nullopt;
    words[i] = *d;
  }
  return words;
}

}  // namespace

Result<UserStreamSummary, Error> write_user_stream(Store& store, const MailboxName& inbox,
                                                   const UidFloors& since, int fd) {
  UserStreamSummary summary;
  Index& index = store.index();
  auto boxes = index.mailboxes_below(inbox.internal());
  if (boxes.empty() || boxes.front().name != inbox.internal()) {
    return fail(
        Error{Errc::kNotFound, store.external_name(inbox.internal()) + ": no such user here"});
  }
  if (auto e = write_line(fd, {kMagic, "1"})) return fail(*e);
  for (const auto& listed : boxes) {
    // uidnext first, then the rows: a message committed in between has a UID at or above it.
    auto box = index.mailbox_by_id(listed.id);
    if (!box) continue;  // deleted meanwhile
    if (store.is_maildir(*box)) {
      return fail(Error{Errc::kBadName, store.external_name(box->name) +
                                            " is a Maildir++ mailbox: only Cyrus-format mailboxes "
                                            "are exported (cubbyctl convert --to cyrus)"});
    }
    int64_t upto = box->uidnext;
    auto rows = index.messages(box->id);
    std::sort(rows.begin(), rows.end(),
              [](const MessageRecord& a, const MessageRecord& b) { return a.uid < b.uid; });
    const auto floor_it = since.find(box->name);
    const int64_t floor = floor_it == since.end() ? 0 : floor_it->second;
    struct Entry {
      MessageRecord row;
      std::string path;
      int64_t size;
    };
    std::vector<Entry> entries;
    for (const auto& row : rows) {
      if (row.uid >= upto) break;
      if (row.uid < floor) continue;
      const std::string path = store.message_path(*box, row);
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) {
        if (row.pending) {
          upto = row.uid;  // still being delivered: the next stream sends it
          break;
        }
        return fail(Error{Errc::kCorrupt, store.external_name(box->name) + " uid " +
                                              std::to_string(row.uid) +
                                              ": its file is missing (see cubbyctl check)"});
      }
      entries.push_back({row, path, static_cast<int64_t>(st.st_size)});
    }
    upto = std::max(upto, floor);
    if (auto e =
            write_line(fd, {"mailbox", box->name, box->uniqueid, std::to_string(box->uidvalidity),
                            std::to_string(upto), box->acl})) {
      return fail(*e);
    }
    auto root = index.quotas().get(box->name);
    if (!root.ok()) return fail(root.error());
    if (root.value()) {
      auto limit = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; };
      if (auto e = write_line(fd, {"quota", limit(root.value()->storage_limit),
                                   limit(root.value()->message_limit)})) {
        return fail(*e);
      }
    }
    for (const auto& entry : entries) {
      const auto flags = index.flags_of(box->id, entry.row.uid);
      if (auto e = write_line(
              fd, {"message", std::to_string(entry.row.uid), std::to_string(entry.row.internaldate),
                   std::to_string(entry.size), joined(flags, ' ')})) {
        return fail(*e);
      }
      if (auto e = write_file(fd, entry.path, entry.size)) return fail(*e);
      ++summary.messages;
      summary.bytes += entry.size;
    }
    if (auto e = write_line(fd, {"end-mailbox", std::to_string(entries.size())})) return fail(*e);
    summary.sent_up_to[box->name] = upto;
    ++summary.mailboxes;
  }
  if (auto e = write_line(fd, {"end", std::to_string(summary.mailboxes)})) return fail(*e);
  return summary;
}

Result<UserStreamSummary, Error> read_user_stream(Store& store, int fd,
                                                  const std::string& partition_in) {
  UserStreamSummary summary;
  const std::string partition =
      partition_in.empty() ? store.config().default_partition : partition_in;
  const std::string root = store.config().partition_root(partition);
  if (root.empty()) return fail(Error{Errc::kBadName, "no partition \"" + partition + "\""});
  StreamReader in(fd);
  auto first = in.line();
  if (!first.ok()) return fail(first.error());
  if (*first != std::string(kMagic) + " 1") {
    return fail(Error{Errc::kCorrupt, "not a user stream of version 1: " + first->substr(0, 80)});
  }
  StagingDir staging;
  if (auto e = staging.make(root)) return fail(*e);
  // One staged file per distinct message (digest and size), so links share one inode.
  std::map<std::pair<std::string, uint64_t>, std::string> staged;
  std::vector<std::pair<MailboxName, std::pair<std::optional<int64_t>, std::optional<int64_t>>>>
      quotas;
  std::optional<ParsedMailbox> current;
  int64_t skip_below = 0;  // the uidnext here of the current mailbox: older UIDs are present
  for (;;) {
    auto line = in.line();
    if (!line.ok()) return fail(line.error());
    auto words = words_of(*line);
    if (!words || words->empty()) return fail(malformed(*line));
    const std::string& key = (*words)[0];
    const auto& w = *words;
    if (key == "mailbox" && w.size() == 6 && !current) {
      auto name = MailboxName::from_internal(w[1]);
      auto uidvalidity = number(w[3]);
      auto uidnext = number(w[4]);
      if (!name.ok() || !uidvalidity || !uidnext) return fail(malformed(*line));
      current.emplace();
      current->box.name = *name;
      current->box.partition = partition;
      current->box.uniqueid = w[2];
      current->box.uidvalidity = *uidvalidity;
      current->box.uidnext = *uidnext;
      current->box.acl = w[5];
      skip_below = 0;
      if (auto here = store.index().find_mailbox(w[1])) {
        if (here->uidvalidity == *uidvalidity) skip_below = here->uidnext;
      }
    } else if (key == "quota" && w.size() == 3 && current) {
      std::optional<int64_t> storage, messages;
      if (!w[1].empty() && !(storage = number(w[1]))) return fail(malformed(*line));
      if (!w[2].empty() && !(messages = number(w[2]))) return fail(malformed(*line));
      current->quota = std::make_pair(storage, messages);
    } else if (key == "message" && w.size() == 5 && current) {
      auto uid = number(w[1]);
      auto internaldate = number(w[2]);
      auto size = number(w[3]);
      if (!uid || !internaldate || !size || *uid < 1) return fail(malformed(*line));
      if (*uid < skip_below) {
        if (auto e = in.bytes(*size, -1)) return fail(*e);
        ++summary.present;
        continue;
      }
      auto file = staging.create();
      if (!file.ok()) return fail(file.error());
      if (auto e = in.bytes(*size, file->second.get())) return fail(*e);
      if (::fsync(file->second.get()) != 0) return fail(sys_error("fsync " + file->first));
      auto digest = digest_file(file->first);
      if (!digest.ok()) return fail(digest.error());
      std::string path = file->first;
      auto [it, fresh] = staged.emplace(std::make_pair(digest->guid, digest->size), path);
      if (!fresh) {
        staging.forget_last();
        path = it->second;
      }
      ImportedMessage m;
      m.uid = *uid;
      m.path = path;
      m.internaldate = *internaldate;
      if (!w[4].empty()) m.flags = split(w[4], ' ');
      current->box.messages.push_back(std::move(m));
    } else if (key == "end-mailbox" && w.size() == 2 && current) {
      auto imported = import_mailbox(store, current->box, /*dry_run=*/false);
      if (!imported.ok()) return fail(imported.error());
      summary.mailboxes += 1;
      summary.created += imported->created ? 1 : 0;
      summary.messages += imported->added;
      summary.bytes += imported->bytes;
      summary.present += imported->present;
      if (current->quota) quotas.emplace_back(current->box.name, *current->quota);
      current.reset();
    } else if (key == "end" && w.size() == 2 && !current) {
      break;
    } else {
      return fail(malformed(*line));
    }
  }
  for (const auto& [name, limits] : quotas) {
    if (!limits.first && !limits.second) continue;  // a root without limits: nothing to keep
    if (auto e = store.set_quota(name, limits.first, limits.second)) return fail(*e);
  }
  return summary;
}

}  // namespace cubby::store
