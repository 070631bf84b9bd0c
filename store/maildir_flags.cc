// Flags in Maildir file names, as Dovecot writes them; see maildir_flags.h.
#include "store/maildir_flags.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <strings.h>
#include <string_view>
#include <thread>

#include "store/fs.h"

namespace cubby::store {
namespace {

constexpr size_t kMaxKeywords = 26;  // 'a'..'z' (Dovecot's MAILDIR_MAX_KEYWORDS)
constexpr const char* kKeywordsFile = "dovecot-keywords";
constexpr const char* kKeywordsLock = "dovecot-keywords.lock";
constexpr const char* kUidlistLock = "dovecot-uidlist.lock";

bool same(const std::string& a, const char* b) { return ::strcasecmp(a.c_str(), b) == 0; }

// An IMAP atom (RFC 3501 flag-keyword): what may go on a line of dovecot-keywords.
bool valid_keyword(const std::string& k) {
  if (k.empty() || k.size() > 255) return false;
  for (unsigned char c : k) {
    if (c <= ' ' || c >= 0x7f || std::string_view("(){%*\"\\]").find(static_cast<char>(c)) !=
                                     std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> parse_keywords(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size()) continue;
    char* stop = nullptr;
    const long idx = std::strtol(line.c_str(), &stop, 10);
    if (stop != line.c_str() + space || idx < 0 || idx >= static_cast<long>(kMaxKeywords)) continue;
    if (out.size() <= static_cast<size_t>(idx)) out.resize(static_cast<size_t>(idx) + 1);
    out[static_cast<size_t>(idx)] = line.substr(space + 1);
  }
  return out;
}

// Dovecot's dot-lock on the mailbox's uidlist, held while the keywords file changes.
class UidlistLock {
 public:
  UidlistLock(int dir, std::chrono::milliseconds wait) : dir_(dir) {
    const auto end = std::chrono::steady_clock::now() + wait;
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    const std::string content = std::to_string(::getpid()) + ":" + host;
    for (;;) {
      const int fd = ::openat(dir, kUidlistLock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                              0600);
      if (fd >= 0) {
        const bool written = ::write(fd, content.data(), content.size()) ==
                             static_cast<ssize_t>(content.size());
        ::close(fd);
        held_ = true;
        if (!written) error_ = errno;
        return;
      }
      if (errno != EEXIST || std::chrono::steady_clock::now() >= end) {
        error_ = errno;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~UidlistLock() {
    if (held_) ::unlinkat(dir_, kUidlistLock, 0);
  }
  bool held() const { return held_; }
  int error() const { return error_; }

 private:
  int dir_;
  bool held_ = false;
  int error_ = 0;
};

// Writes `keywords` as Dovecot does (see the header), the uidlist lock being held.
std::optional<Error> write_keywords(int dir, const std::string& shown,
                                    const std::vector<std::string>& keywords) {
  std::string text;
  for (size_t i = 0; i < keywords.size(); ++i) {
    if (!keywords[i].empty()) text += std::to_string(i) + " " + keywords[i] + "\n";
  }
  struct stat old {};
  const bool had = ::fstatat(dir, kKeywordsFile, &old, AT_SYMLINK_NOFOLLOW) == 0;
  ::unlinkat(dir, kKeywordsLock, 0);  // stale: the uidlist lock is ours
  const int fd = ::openat(dir, kKeywordsLock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0600);
  if (fd < 0) return sys_error("create " + shown + "/" + kKeywordsLock);
  Fd owner(fd);
  auto fail = [&](const std::string& what) {
    Error e = sys_error(what + " " + shown + "/" + kKeywordsLock);
    ::unlinkat(dir, kKeywordsLock, 0);
    return e;
  };
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return fail("write");
  }
  struct stat now {};
  if (::fstat(fd, &now) != 0) return fail("stat");
  if (had && now.st_mtim.tv_sec <= old.st_mtim.tv_sec) {
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_NOW;
    times[1].tv_sec = old.st_mtim.tv_sec + 1;
    times[1].tv_nsec = 0;
    if (::futimens(fd, times) != 0) return fail("set the mtime of");
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::renameat(dir, kKeywordsLock, dir, kKeywordsFile) != 0) return fail("rename");
  return std::nullopt;
}

}  // namespace

MaildirInfo maildir_letters(const std::vector<std::string>& flags,
                            const std::vector<std::string>& keywords) {
  MaildirInfo out;
  for (const auto& f : flags) {
    if (f.empty()) continue;
    if (f[0] == '\\') {
      if (same(f, "\\Draft")) out.letters += 'D';
      else if (same(f, "\\Flagged")) out.letters += 'F';
      else if (same(f, "\\Answered")) out.letters += 'R';
      else if (same(f, "\\Seen")) out.letters += 'S';
      else if (same(f, "\\Deleted")) out.letters += 'T';
      continue;  // \Recent and unknown system flags
    }
    bool found = false;
    for (size_t i = 0; i < keywords.size() && i < kMaxKeywords; ++i) {
      if (!keywords[i].empty() && same(keywords[i], f.c_str())) {
        out.letters += static_cast<char>('a' + i);
        found = true;
        break;
      }
    }
    if (!found &&
        std::none_of(out.unmapped.begin(), out.unmapped.end(),
                     [&](const std::string& u) { return same(u, f.c_str()); })) {
      out.unmapped.push_back(f);
    }
  }
  std::sort(out.letters.begin(), out.letters.end());
  out.letters.erase(std::unique(out.letters.begin(), out.letters.end()), out.letters.end());
  return out;
}

Result<std::vector<std::string>, Error> read_maildir_keywords(int dir, const std::string& shown) {
  auto text = read_small_file_at(dir, shown, kKeywordsFile);
  if (!text.ok()) {
    if (text.error().code == Errc::kNotFound) return std::vector<std::string>();
    return fail(text.error());
  }
  return parse_keywords(text.value());
}

Result<MaildirInfo, Error> maildir_info(int dir, const std::string& shown,
                                        const std::vector<std::string>& flags,
                                        std::chrono::milliseconds lock_wait) {
  auto keywords = read_maildir_keywords(dir, shown);
  if (!keywords.ok()) return fail(keywords.error());
  MaildirInfo info = maildir_letters(flags, keywords.value());
  if (info.unmapped.empty()) return info;
  UidlistLock lock(dir, lock_wait);
  if (!lock.held()) return info;  // Dovecot holds it: the keywords stay unmapped
  keywords = read_maildir_keywords(dir, shown);  // again, under the lock
  if (!keywords.ok()) return fail(keywords.error());
  std::vector<std::string> list = keywords.value();
  bool added = false;
  for (const auto& k : info.unmapped) {
    const bool listed = std::any_of(list.begin(), list.end(),
                                    [&](const std::string& l) { return same(l, k.c_str()); });
    if (listed || !valid_keyword(k)) continue;
    auto free = std::find(list.begin(), list.end(), std::string());
    if (free != list.end()) {
      *free = k;
    } else if (list.size() < kMaxKeywords) {
      list.push_back(k);
    } else {
      continue;  // all 26 letters in use
    }
    added = true;
  }
  if (added) {
    if (auto e = write_keywords(dir, shown, list)) return fail(*e);
  }
  return maildir_letters(flags, list);
}

std::string maildir_name_with_info(const std::string& base, const std::string& letters) {
  return letters.empty() ? base : base + ":2," + letters;
}

}  // namespace cubby::store
