// Maildir++ quota (maildirsize): reading, appending, counting and rewriting; see maildir_quota.h.
#include "store/maildir_quota.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <vector>

#include "store/maildir_file_name.h"

namespace cubby::store {
namespace {

constexpr const char* kFileName = "maildirsize";
constexpr size_t kMaxFileSize = 5120;      // Maildir++: recalculate at this size
constexpr time_t kStaleSeconds = 15 * 60;  // Maildir++: an over-quota file older than this
constexpr int kCountAttempts = 3;

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// A signed integer at the front of `s` (after blanks); advances `s` past it.
std::optional<int64_t> take_integer(std::string_view& s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<size_t>(end - s.data()));
  return value;
}

struct Timestamp {
  int64_t sec = 0, nsec = 0;
  bool operator==(const Timestamp&) const = default;
};

// One Maildir directory counted: new/ or cur/ of the INBOX or a folder, with its mtime.
struct CountedDir {
  std::string rel;  // relative to the user's Maildir
  Timestamp mtime;
};

std::optional<Timestamp> mtime_of(int user_fd, const std::string& rel) {
  Fd fd(open_beneath(user_fd, rel, O_RDONLY | O_DIRECTORY));
  if (!fd) return std::nullopt;
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return std::nullopt;
  return Timestamp{st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

// The new/ and cur/ directories to count: the INBOX's and each ".<name>" folder's.
Result<std::vector<std::string>, Error> maildir_dirs(const UserMaildir& user) {
  std::vector<std::string> dirs = {"new", "cur"};
  Fd fd(::openat(user.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(sys_error("open " + user.path()));
  DIR* dir = ::fdopendir(fd.get());
  if (!dir) return fail(sys_error("opendir " + user.path()));
  fd.release();
  std::vector<std::string> folders;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() < 2 || name[0] != '.' || name == "..") continue;
    if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN) continue;  // links, files
    folders.push_back(name);
  }
  ::closedir(dir);
  for (const std::string& folder : folders) {
    dirs.push_back(folder + "/new");
    dirs.push_back(folder + "/cur");
  }
  return dirs;
}

// Adds the messages of one directory to *usage; a directory that is missing, a file or a link is
// skipped (Dovecot does the same).
std::optional<Error> count_dir(const UserMaildir& user, const std::string& rel,
                               MaildirUsage* usage) {
  Fd fd(open_beneath(user.fd(), rel, O_RDONLY | O_DIRECTORY));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
      return std::nullopt;
    return sys_error("open " + user.path() + "/" + rel);
  }
  const int dir_fd = fd.get();
  DIR* dir = ::fdopendir(dir_fd);
  if (!dir) return sys_error("opendir " + user.path() + "/" + rel);
  fd.release();
  std::optional<Error> error;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (auto size = maildir_name_size(name)) {
      usage->bytes += static_cast<int64_t>(*size);
      usage->messages += 1;
      continue;
    }
    struct stat st;
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT)
        error = sys_error("stat " + user.path() + "/" + rel + "/" + entry->d_name);
      continue;  // expunged while we counted
    }
    if (!S_ISREG(st.st_mode)) continue;
    usage->bytes += st.st_size;
    usage->messages += 1;
  }
  ::closedir(dir);
  return error;
}

// Writes the file's new content to a fresh file in tmp/ (or the Maildir itself when tmp/ is
// missing), then renames it over maildirsize.
std::optional<Error> replace_file(const UserMaildir& user, const std::string& content) {
  Fd tmp_dir(open_beneath(user.fd(), "tmp", O_RDONLY | O_DIRECTORY));
  const int dir_fd = tmp_dir ? tmp_dir.get() : user.fd();
  const std::string dir_path = tmp_dir ? user.path() + "/tmp" : user.path();
  uint64_t random = 0;
  (void)::getrandom(&random, sizeof random, GRND_NONBLOCK);
  char name[96];
  std::snprintf(name, sizeof name, "maildirsize.%lld.P%ldR%016llx",
                static_cast<long long>(::time(nullptr)), static_cast<long>(::getpid()),
                static_cast<unsigned long long>(random));
  const std::string path = dir_path + "/" + name;
  Fd out(open_beneath(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  if (!out) return sys_error("create " + path);
  auto failed = [&](const std::string& what) {
    Error e = sys_error(what);
    ::unlinkat(dir_fd, name, 0);
    return e;
  };
  if (::write(out.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return failed("write " + path);
  }
  if (::fsync(out.get()) != 0) return failed("fsync " + path);
  if (::renameat(dir_fd, name, user.fd(), kFileName) != 0) {
    return failed("rename " + path + " to " + user.path() + "/" + kFileName);
  }
  return std::nullopt;
}

}  // namespace

std::string format_maildir_limits(const MaildirQuotaLimits& limits) {
  std::string line;
  if (limits.bytes != 0 || limits.messages == 0) line = std::to_string(limits.bytes) + "S";
  if (limits.messages != 0) {
    if (!line.empty()) line += ",";
    line += std::to_string(limits.messages) + "C";
  }
  return line;
}

MaildirQuotaLimits parse_maildir_limits(std::string_view line, bool* clean) {
  MaildirQuotaLimits limits;
  bool ok = true;
  while (true) {
    size_t comma = line.find(',');
    std::string_view part = trim(line.substr(0, comma));
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    const size_t used = static_cast<size_t>(end - part.data());
    if (ec != std::errc() || used == 0 || used + 1 != part.size()) {
      ok = false;
    } else if (part.back() == 'S') {
      limits.bytes = value;
    } else if (part.back() == 'C') {
      limits.messages = value;
    } else {
      ok = false;
    }
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
  if (clean) *clean = ok;
  return limits;
}

Result<MaildirSizeFile, std::string> parse_maildirsize(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return fail(std::string("a NUL byte"));
  size_t complete = text.rfind('\n');
  if (complete == std::string_view::npos) return fail(std::string("no complete limit line"));
  text = text.substr(0, complete + 1);  // a last line without LF is an append in progress
  MaildirSizeFile file;
  size_t eol = text.find('\n');
  file.limits = parse_maildir_limits(text.substr(0, eol));
  text.remove_prefix(eol + 1);
  int line_number = 1;
  while (!text.empty()) {
    ++line_number;
    eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    auto bytes = take_integer(line);
    auto messages = take_integer(line);
    if (!bytes || !messages || !trim(line).empty()) {
      return fail("line " + std::to_string(line_number) + " is not \"<bytes> <messages>\"");
    }
    file.usage.bytes += *bytes;
    file.usage.messages += *messages;
    ++file.usage_lines;
  }
  if (file.usage_lines == 0) return fail(std::string("no usage line"));
  if (file.usage.bytes < 0 || file.usage.messages < 0) return fail(std::string("a negative total"));
  return file;
}

bool maildir_quota_exceeded(const MaildirQuotaLimits& limits, const MaildirUsage& usage,
                            int64_t bytes, int64_t messages) {
  if (limits.bytes != 0 && usage.bytes + bytes > static_cast<int64_t>(limits.bytes)) return true;
  if (limits.messages != 0 && usage.messages + messages > static_cast<int64_t>(limits.messages)) {
    return true;
  }
  return false;
}

std::optional<std::string> maildirsize_stale(const MaildirSizeFile& file, time_t mtime,
                                             time_t now) {
  if (!maildir_quota_exceeded(file.limits, file.usage, 0, 0)) return std::nullopt;
  if (file.usage_lines > 1)
    return "over quota with " + std::to_string(file.usage_lines) + " usage lines";
  if (mtime < now - kStaleSeconds) return std::string("over quota and older than 15 minutes");
  return std::nullopt;
}

Result<MaildirUsage, Error> count_maildir_usage(const UserMaildir& user) {
  MaildirUsage usage;
  for (int attempt = 1;; ++attempt) {
    auto dirs = maildir_dirs(user);
    if (!dirs) return fail(dirs.error());
    std::vector<std::optional<Timestamp>> before;
    for (const std::string& rel : *dirs) before.push_back(mtime_of(user.fd(), rel));
    usage = {};
    for (const std::string& rel : *dirs) {
      if (auto err = count_dir(user, rel, &usage)) return fail(*err);
    }
    bool changed = false;
    for (size_t i = 0; i < dirs->size() && !changed; ++i) {
      changed = mtime_of(user.fd(), (*dirs)[i]) != before[i];
    }
    if (!changed || attempt == kCountAttempts) break;
  }
  return usage;
}

Result<MaildirQuota, Error> recalculate_maildir_quota(const UserMaildir& user,
                                                      const MaildirQuotaLimits& limits) {
  auto usage = count_maildir_usage(user);
  if (!usage) return fail(usage.error());
  const std::string content = format_maildir_limits(limits) + "\n" + std::to_string(usage->bytes) +
                              " " + std::to_string(usage->messages) + "\n";
  if (auto err = replace_file(user, content)) return fail(*err);
  MaildirQuota quota;
  quota.exists = true;
  quota.limits = limits;
  quota.usage = *usage;
  quota.recalculated = "recalculated";
  return quota;
}

Result<MaildirQuota, Error> read_maildir_quota(const UserMaildir& user,
                                               std::optional<MaildirQuotaLimits> limits_if_missing,
                                               time_t now) {
  const std::string path = user.path() + "/" + kFileName;
  Fd fd(open_beneath(user.fd(), kFileName, O_RDONLY));
  if (!fd) {
    if (errno != ENOENT) {
      if (errno == ELOOP || errno == EXDEV) {
        return fail(Error{Errc::kIo, path + ": is a symbolic link; refusing to follow it"});
      }
      return fail(sys_error("open " + path));
    }
    if (!limits_if_missing) return MaildirQuota{};
    auto quota = recalculate_maildir_quota(user, *limits_if_missing);
    if (quota) quota->recalculated = "missing";
    return quota;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail(sys_error("stat " + path));
  std::string text(kMaxFileSize, '\0');
  size_t size = 0;
  while (size < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + size, text.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(sys_error("read " + path));
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  text.resize(size);

  std::string why;
  MaildirQuotaLimits limits = parse_maildir_limits(text.substr(0, text.find('\n')));
  if (size >= kMaxFileSize) {
    why = "5120 bytes or longer";
  } else if (auto parsed = parse_maildirsize(text); !parsed) {
    why = "garbled: " + parsed.error();
  } else if (auto stale = maildirsize_stale(*parsed, st.st_mtime, now)) {
    why = *stale;
  } else {
    MaildirQuota quota;
    quota.exists = true;
    quota.limits = parsed->limits;
    quota.usage = parsed->usage;
    return quota;
  }
  auto quota = recalculate_maildir_quota(user, limits);
  if (quota) quota->recalculated = why;
  return quota;
}

Result<bool, Error> append_maildir_quota(const UserMaildir& user, int64_t bytes, int64_t messages) {
  const std::string path = user.path() + "/" + kFileName;
  Fd fd(open_beneath(user.fd(), kFileName, O_WRONLY | O_APPEND));
  if (!fd) {
    if (errno == ENOENT) return false;
    if (errno == ELOOP || errno == EXDEV) {
      return fail(Error{Errc::kIo, path + ": is a symbolic link; refusing to follow it"});
    }
    return fail(sys_error("open " + path));
  }
  const std::string line = std::to_string(bytes) + " " + std::to_string(messages) + "\n";
  ssize_t n = ::write(fd.get(), line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    if (n >= 0) return fail(Error{Errc::kIo, "write " + path + ": short write"});
    return fail(sys_error("write " + path));
  }
  return true;
}

}  // namespace cubby::store
