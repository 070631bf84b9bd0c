// Reading a Cyrus store through Cyrus's tools; see cyrus_store.h.
#include "server/ctl/cyrus_store.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

extern char** environ;

namespace cubby::ctl {

namespace {

// Just enough JSON for what Cyrus's tools print: objects, arrays, strings, numbers, literals.
struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  std::string text;  // a string's value, a number's digits
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* get(std::string_view key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  // A number, or a string holding one (ctl_mboxlist prints uidvalidity as a string).
  std::optional<int64_t> integer() const {
    if (kind != Kind::kNumber && kind != Kind::kString) return std::nullopt;
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (errno != 0 || *end != '\0') return std::nullopt;
    return v;
  }
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  Result<Json, std::string> document() {
    Json v;
    if (auto e = value(&v, 0)) return fail(*e);
    skip();
    if (pos_ != s_.size()) return fail(where("text after the end"));
    return v;
  }

 private:
  std::string where(const std::string& what) const {
    return "JSON at byte " + std::to_string(pos_) + ": " + what;
  }
  void skip() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) {
      ++pos_;
    }
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<std::string> string(std::string* out) {
    if (!eat('"')) return where("expected a string");
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      if (e == 'u') {
        if (pos_ + 4 > s_.size()) return where("short \\u escape");
        unsigned cp = std::strtoul(std::string(s_.substr(pos_, 4)).c_str(), nullptr, 16);
        pos_ += 4;
        // UTF-8 of a BMP code point (surrogate pairs are not expected in Cyrus's output).
        if (cp < 0x80) {
          out->push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
          out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
          out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
          out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
          out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        continue;
      }
      // \n \t \r \b \f; any other escaped character stands for itself (\" \\ \/).
      static constexpr std::string_view kFrom = "ntrbf", kTo = "\n\t\r\b\f";
      const size_t which = kFrom.find(e);
      out->push_back(which == std::string_view::npos ? e : kTo[which]);
    }
    if (pos_ >= s_.size()) return where("unterminated string");
    ++pos_;
    return std::nullopt;
  }
  std::optional<std::string> value(Json* v, int depth) {
    if (depth > 32) return where("nested too deeply");
    skip();
    if (pos_ >= s_.size()) return where("unexpected end");
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      v->kind = Json::Kind::kObject;
      if (eat('}')) return std::nullopt;
      do {
        std::string key;
        if (auto e = string(&key)) return e;
        if (!eat(':')) return where("expected ':'");
        Json member;
        if (auto e = value(&member, depth + 1)) return e;
        v->members.emplace_back(std::move(key), std::move(member));
      } while (eat(','));
      if (!eat('}')) return where("expected '}'");
      return std::nullopt;
    }
    if (c == '[') {
      ++pos_;
      v->kind = Json::Kind::kArray;
      if (eat(']')) return std::nullopt;
      do {
        Json item;
        if (auto e = value(&item, depth + 1)) return e;
        v->items.push_back(std::move(item));
      } while (eat(','));
      if (!eat(']')) return where("expected ']'");
      return std::nullopt;
    }
    if (c == '"') {
      v->kind = Json::Kind::kString;
      return string(&v->text);
    }
    for (std::string_view lit : {"true", "false", "null"}) {
      if (s_.substr(pos_, lit.size()) == lit) {
        pos_ += lit.size();
        v->kind = lit == "null" ? Json::Kind::kNull : Json::Kind::kBool;
        v->text = std::string(lit);
        return std::nullopt;
      }
    }
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != '\0' && std::strchr("+-0123456789.eE", s_[pos_])) ++pos_;
    if (pos_ == start) return where("unexpected character");
    v->kind = Json::Kind::kNumber;
    v->text = std::string(s_.substr(start, pos_ - start));
    return std::nullopt;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// The number after `key` in `line` ("UID:00000001" → 1), or nullopt.
std::optional<int64_t> number_after(std::string_view line, std::string_view key) {
  size_t at = line.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  at += key.size();
  while (at < line.size() && line[at] == ' ') ++at;
  size_t end = at;
  while (end < line.size() && line[end] >= '0' && line[end] <= '9') ++end;
  if (end == at) return std::nullopt;
  return std::strtoll(std::string(line.substr(at, end - at)).c_str(), nullptr, 10);
}

}  // namespace

Result<std::string, std::string> find_cyrus_tools(const std::string& given) {
  if (!given.empty()) {
    if (is_executable(given + "/ctl_mboxlist")) return given;
    return fail(given +
                "/ctl_mboxlist is not an executable: --cyrus-tools must name the "
                "directory of Cyrus's ctl_mboxlist, quota and mbexamine");
  }
  for (const char* dir : {"/usr/lib/cyrus/bin", "/usr/lib/cyrus-imapd", "/usr/libexec/cyrus-imapd",
                          "/usr/cyrus/bin"}) {
    if (is_executable(std::string(dir) + "/ctl_mboxlist")) return std::string(dir);
  }
  return fail(std::string(
      "Cyrus's tools (ctl_mboxlist, quota, mbexamine, cyr_info) were not found in "
      "/usr/lib/cyrus/bin or the other usual places: install the cyrus-common package of the "
      "Cyrus version that wrote the store (Debian: apt-get install cyrus-common) or pass "
      "--cyrus-tools DIR"));
}

Result<std::string, std::string> run_cyrus_tool(const std::string& bin_dir,
                                                const std::string& config, const std::string& tool,
                                                const std::vector<std::string>& args) {
  const std::string path = bin_dir + "/" + tool;
  std::vector<std::string> words = {path, "-C", config};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail("pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return fail("cannot run " + path + ": " + std::strerror(rc));
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string shown = tool;
  for (const auto& a : args) shown += " " + a;
  if (WIFSIGNALED(status)) {
    return fail(shown + " was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (WEXITSTATUS(status) != 0) {
    return fail(shown + " exited " + std::to_string(WEXITSTATUS(status)));
  }
  return out;
}

bool CyrusMailbox::importable() const {
  if (type.find('e') == std::string::npos && !type.empty()) return false;
  for (char c : std::string_view("dirxmz")) {
    if (type.find(c) != std::string::npos) return false;
  }
  const size_t bang = name.find('!');
  const std::string_view local =
      bang == std::string::npos ? std::string_view(name) : std::string_view(name).substr(bang + 1);
  return local.substr(0, 8) != "DELETED.";
}

Result<std::vector<CyrusMailbox>, std::string> parse_mboxlist_dump(std::string_view text) {
  auto doc = JsonReader(text).document();
  if (!doc.ok()) return fail("ctl_mboxlist -d: " + doc.error());
  if (doc->kind != Json::Kind::kObject) return fail(std::string("ctl_mboxlist -d: not an object"));
  std::vector<CyrusMailbox> out;
  for (const auto& [key, entry] : doc->members) {
    CyrusMailbox m;
    const Json* name = entry.get("name");
    m.name = name && name->kind == Json::Kind::kString ? name->text : key;
    if (const Json* p = entry.get("partition")) m.partition = p->text;
    if (const Json* u = entry.get("uniqueid")) m.uniqueid = u->text;
    if (const Json* t = entry.get("mbtype")) m.type = t->text;
    if (const Json* v = entry.get("uidvalidity")) m.uidvalidity = v->integer().value_or(0);
    if (const Json* acl = entry.get("acl"); acl && acl->kind == Json::Kind::kObject) {
      for (const auto& [who, rights] : acl->members) m.acl.emplace_back(who, rights.text);
    }
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<CyrusQuotaRoot>, std::string> parse_quota_json(std::string_view text) {
  auto doc = JsonReader(text).document();
  if (!doc.ok()) return fail("quota -J: " + doc.error());
  if (doc->kind != Json::Kind::kObject) return fail(std::string("quota -J: not an object"));
  std::vector<CyrusQuotaRoot> out;
  for (const auto& [root, resources] : doc->members) {
    CyrusQuotaRoot q;
    q.root = root;
    if (const Json* s = resources.get("STORAGE")) {
      if (const Json* used = s->get("used")) q.storage_used = used->integer().value_or(0);
      if (const Json* limit = s->get("limit")) q.storage_limit = limit->integer();
    }
    if (const Json* m = resources.get("MESSAGE")) {
      if (const Json* used = m->get("used")) q.message_used = used->integer().value_or(0);
      if (const Json* limit = m->get("limit")) q.message_limit = limit->integer();
    }
    out.push_back(std::move(q));
  }
  return out;
}

Result<CyrusIndex, std::string> parse_mbexamine(std::string_view text) {
  CyrusIndex index;
  bool have_header = false;
  CyrusRecord* record = nullptr;
  static const std::map<std::string_view, const char*> kSystemFlags = {
      {"FLAG_SEEN", "\\Seen"},
      {"FLAG_DRAFT", "\\Draft"},
      {"FLAG_DELETED", "\\Deleted"},
      {"FLAG_FLAGGED", "\\Flagged"},
      {"FLAG_ANSWERED", "\\Answered"}};
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (auto at = line.find("Path to mailbox: "); at != std::string_view::npos) {
      index.path = std::string(line.substr(at + 17));
      while (!index.path.empty() && (index.path.back() == ' ' || index.path.back() == '\r')) {
        index.path.pop_back();
      }
    } else if (line.find("UIDValidity:") != std::string_view::npos &&
               line.find("Last UID:") != std::string_view::npos) {
      index.uidvalidity = number_after(line, "UIDValidity:").value_or(0);
      index.last_uid = number_after(line, "Last UID:").value_or(0);
      have_header = true;
    } else if (line.size() > 7 && line[6] == '>' && line.substr(7, 5) == " UID:") {
      // "000001> UID:00000001   INT_DATE:... SIZE:587": a record begins.
      CyrusRecord r;
      auto uid = number_after(line, " UID:");
      auto date = number_after(line, "INT_DATE:");
      auto size = number_after(line, "SIZE:");
      if (!uid || !date || !size)
        return fail("mbexamine: cannot read record line: " + std::string(line));
      r.uid = *uid;
      r.internaldate = *date;
      r.size = *size;
      index.records.push_back(std::move(r));
      record = &index.records.back();
    } else if (record && line.substr(0, 7) == "      >") {
      // The record's flag lines: "> INTERNALFLAGS: ...> SYSTEMFLAGS: FLAG_SEEN ..."
      size_t p = 0;
      while (p < line.size()) {
        while (p < line.size() && line[p] == ' ') ++p;
        size_t q = p;
        while (q < line.size() && line[q] != ' ') ++q;
        std::string_view word = line.substr(p, q - p);
        if (word == "FLAG_INTERNAL_EXPUNGED" || word == "FLAG_INTERNAL_UNLINKED") {
          record->expunged = true;
        } else if (word == "FLAG_INTERNAL_ARCHIVED") {
          record->archived = true;
        } else if (auto f = kSystemFlags.find(word); f != kSystemFlags.end()) {
          record->flags.push_back(f->second);
        }
        p = q;
      }
    } else if (!line.empty() && line[0] != ' ') {
      record = nullptr;  // anything else at the margin ends a record's flag lines
    }
  }
  if (!have_header || index.path.empty()) {
    return fail(
        std::string("mbexamine: no index header (Path to mailbox, UIDValidity) in its output"));
  }
  return index;
}

std::vector<std::pair<std::string, std::string_view>> split_mbexamine(std::string_view text) {
  std::vector<std::pair<std::string, std::string_view>> out;
  constexpr std::string_view kHead = "Examining ";
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(at, eol - at);
    if (line.substr(0, kHead.size()) == kHead) {
      const size_t dots = line.find("...", kHead.size());
      if (dots != std::string_view::npos) {
        if (!out.empty()) {
          auto& last = out.back().second;
          last = text.substr(last.data() - text.data(), at - (last.data() - text.data()));
        }
        out.emplace_back(std::string(line.substr(kHead.size(), dots - kHead.size())),
                         text.substr(at));
      }
    }
    at = eol + 1;
  }
  return out;
}

std::optional<std::string> cyrus_setting(std::string_view conf_all, std::string_view key) {
  size_t start = 0;
  while (start < conf_all.size()) {
    size_t end = conf_all.find('\n', start);
    if (end == std::string_view::npos) end = conf_all.size();
    std::string_view line = conf_all.substr(start, end - start);
    start = end + 1;
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      std::string_view v = line.substr(key.size() + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.remove_suffix(1);
      return std::string(v);
    }
  }
  return std::nullopt;
}

std::string cyrus_external_name(std::string_view internal, bool unix_sep) {
  std::string domain;
  if (size_t bang = internal.find('!'); bang != std::string_view::npos) {
    domain = std::string(internal.substr(0, bang));
    internal.remove_prefix(bang + 1);
  }
  std::string out;
  for (char c : internal) {
    if (unix_sep && c == '.') {
      out.push_back('/');
    } else if (unix_sep && c == '^') {
      out.push_back('.');
    } else {
      out.push_back(c);
    }
  }
  if (!domain.empty()) out += "@" + domain;
  return out;
}

}  // namespace cubby::ctl
