// Reading the cyrus.conf-style services file into entries; see services.h. Checking entries into
// typed specs is in service_spec.cc.
#include "conf/services.h"

#include <array>
#include <optional>

#include "conf/file_text.h"
#include "conf/values.h"

namespace cubby::conf {
namespace {

struct SectionInfo {
  std::string_view name;
  std::vector<std::string_view> keys;  // keys this section knows; others are warned about
  std::vector<ServiceEntry> ServicesFile::*entries;
};

const std::array<SectionInfo, 4>& sections() {
  static const std::array<SectionInfo, 4> kSections = {{
      {"START", {"cmd"}, &ServicesFile::start},
      {"SERVICES",
       {"cmd", "listen", "proto", "prefork", "maxchild", "babysit", "maxforkrate", "maxfds", "mode",
        "owner", "group"},
       &ServicesFile::services},
      {"EVENTS", {"cmd", "period", "at"}, &ServicesFile::events},
      {"DAEMON", {"cmd", "wait", "maxfds", "maxforkrate"}, &ServicesFile::daemons},
  }};
  return kSections;
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }
std::string shown(char c) { return std::string("'") + c + "'"; }

class Parser {
 public:
  Parser(const std::string& file, std::vector<std::string>* warnings)
      : file_(file), warnings_(warnings) {}

  Result<ServicesFile, ConfigError> run(std::string_view text) {
    while (!text.empty()) {
      size_t newline = text.find('\n');
      std::string_view line = text.substr(0, newline);
      text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
      ++line_;
      // `#` starts a comment anywhere, even inside quotes, as in Cyrus.
      line = trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      if (auto error = step(line)) return fail(std::move(*error));
    }
    if (state_ != State::Outside) {
      return fail(ConfigError{file_, open_line_,
                              "section " + std::string(section_->name) + " has no closing \"}\""});
    }
    return std::move(result_);
  }

 private:
  enum class State { Outside, AwaitingBrace, Inside };

  ConfigError error(std::string message) const { return {file_, line_, std::move(message)}; }

  std::optional<ConfigError> step(std::string_view line) {
    switch (state_) {
      case State::Outside:
        return section_header(line);
      case State::AwaitingBrace:
        return opening_brace(line);
      case State::Inside:
        if (line.front() == '}') {
          if (!trim(line.substr(1)).empty()) return error("unexpected text after \"}\"");
          state_ = State::Outside;
          return std::nullopt;
        }
        return entry(line);
    }
    return std::nullopt;
  }

  std::optional<ConfigError> section_header(std::string_view line) {
    size_t end = 0;
    while (end < line.size() && is_alnum(line[end])) ++end;
    std::string word = lower(line.substr(0, end));
    section_ = nullptr;
    for (const SectionInfo& info : sections()) {
      if (lower(info.name) == word) section_ = &info;
    }
    if (!section_) {
      return error("expected a section (START, SERVICES, EVENTS or DAEMON), found " +
                   quote(line.substr(0, end ? end : 1)));
    }
    open_line_ = line_;
    state_ = State::AwaitingBrace;
    std::string_view rest = trim(line.substr(end));
    return rest.empty() ? std::nullopt : opening_brace(rest);
  }

  std::optional<ConfigError> opening_brace(std::string_view line) {
    if (line.front() != '{') return error("expected \"{\" after " + std::string(section_->name));
    std::string_view rest = trim(line.substr(1));
    if (rest.empty()) {
      state_ = State::Inside;
    } else if (rest == "}") {
      state_ = State::Outside;  // an empty section: `START { }`
    } else {
      return error("entries start on the line after \"{\"");
    }
    return std::nullopt;
  }

  std::optional<ConfigError> entry(std::string_view line) {
    ServiceEntry entry;
    entry.file = file_;
    entry.line = line_;
    size_t i = 0;
    while (i < line.size() && is_alnum(line[i])) ++i;
    if (i < line.size() && !is_blank(line[i])) {
      return error("bad character " + shown(line[i]) + " in name (names are letters and digits)");
    }
    entry.name = std::string(line.substr(0, i));
    std::string where = std::string(section_->name) + " entry " + quote(entry.name);

    while (true) {
      while (i < line.size() && is_blank(line[i])) ++i;
      if (i == line.size()) break;
      size_t key_start = i;
      while (i < line.size() && is_alnum(line[i])) ++i;
      std::string key = lower(line.substr(key_start, i - key_start));
      if (i == line.size() || is_blank(line[i]))
        return error(where + ": expected \"=\" after " + quote(key));
      if (line[i] != '=' || key.empty())
        return error(where + ": bad character " + shown(line[i]) + " in argument");
      ++i;
      std::string value;
      if (i < line.size() && line[i] == '"') {
        size_t close = line.find('"', i + 1);
        if (close == std::string_view::npos) {
          return error(where + ": unterminated quoted value of " + quote(key) +
                       " (a '#' inside quotes starts a comment)");
        }
        value = std::string(line.substr(i + 1, close - i - 1));
        i = close + 1;
        if (i < line.size() && !is_blank(line[i])) {
          return error(where + ": expected a blank after the quoted value of " + quote(key));
        }
      } else {
        size_t start = i;
        while (i < line.size() && !is_blank(line[i])) ++i;
        value = std::string(line.substr(start, i - start));
      }
      if (entry.args.count(key)) return error(where + ": key " + quote(key) + " given twice");
      bool known = false;
      for (std::string_view k : section_->keys) known = known || k == key;
      if (!known && warnings_) {
        warnings_->push_back(file_ + ":" + std::to_string(line_) + ": " + where + ": unknown key " +
                             quote(key) + " ignored");
      }
      entry.args[key] = std::move(value);
    }

    std::vector<ServiceEntry>& list = result_.*(section_->entries);
    if (section_->entries == &ServicesFile::services) {
      for (const ServiceEntry& other : list) {
        if (lower(other.name) == lower(entry.name)) {
          return error("duplicate service " + quote(entry.name) + " (first at line " +
                       std::to_string(other.line) + ")");
        }
      }
    }
    list.push_back(std::move(entry));
    return std::nullopt;
  }

  const std::string& file_;
  std::vector<std::string>* warnings_;
  int line_ = 0;
  int open_line_ = 0;
  State state_ = State::Outside;
  const SectionInfo* section_ = nullptr;
  ServicesFile result_;
};

}  // namespace

Result<ServicesFile, ConfigError> load_services(const std::string& path,
                                                std::vector<std::string>* warnings) {
  auto text = read_text_file(path);
  if (!text) return fail(ConfigError{path, 0, text.error()});
  return parse_services(*text, path, warnings);
}

Result<ServicesFile, ConfigError> parse_services(std::string_view text, const std::string& name,
                                                 std::vector<std::string>* warnings) {
  return Parser(name, warnings).run(text);
}

}  // namespace cubby::conf
