// Checking services-file entries into typed ServiceSpec and CommandSpec values; see services.h.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <climits>
#include <optional>

#include "conf/services.h"
#include "conf/values.h"

namespace cubby::conf {
namespace {

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// cmd= is split on blanks with no quoting, as Cyrus does.
std::vector<std::string> split_blanks(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

// Reads the arguments of one entry, producing errors prefixed with the entry's name.
class EntryReader {
 public:
  EntryReader(const ServiceEntry& entry, std::string kind)
      : entry_(entry), kind_(std::move(kind)) {}

  ConfigError error(const std::string& message) const {
    return {entry_.file, entry_.line, kind_ + " " + quote(entry_.name) + ": " + message};
  }

  const std::string* get(const std::string& key) const {
    auto it = entry_.args.find(key);
    return it == entry_.args.end() ? nullptr : &it->second;
  }

  std::optional<ConfigError> command(std::vector<std::string>* argv) const {
    const std::string* cmd = get("cmd");
    if (!cmd) return error("cmd= is required");
    *argv = split_blanks(*cmd);
    if (argv->empty()) return error("cmd= is empty");
    return std::nullopt;
  }

  // An integer argument in [min, INT_MAX]; *out keeps its default when the key is absent.
  std::optional<ConfigError> number(const std::string& key, int min, int* out) const {
    const std::string* text = get(key);
    if (!text) return std::nullopt;
    auto value = parse_int(*text);
    if (!value) return error(key + " " + quote(*text) + " is not a number");
    if (*value < min || *value > INT_MAX) {
      return error(key + " " + quote(*text) + " is out of range (" + std::to_string(min) + " to " +
                   std::to_string(INT_MAX) + ")");
    }
    *out = static_cast<int>(*value);
    return std::nullopt;
  }

  std::optional<ConfigError> flag(const std::string& key, bool* out) const {
    const std::string* text = get(key);
    if (!text) return std::nullopt;
    auto value = parse_bool(*text);
    if (!value) return error(key + " " + quote(*text) + " is not a yes/no value");
    *out = *value;
    return std::nullopt;
  }

 private:
  const ServiceEntry& entry_;
  std::string kind_;
};

std::optional<int> parse_mode(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + (c - '0');
  }
  if (mode > 07777) return std::nullopt;
  return mode;
}

std::optional<int> parse_hhmm(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value / 100 > 23 || value % 100 > 59) return std::nullopt;
  return value;
}

}  // namespace

Result<ServiceSpec, ConfigError> service_spec(const ServiceEntry& entry) {
  EntryReader in(entry, "service");
  ServiceSpec spec;
  spec.name = entry.name;
  spec.origin = entry.origin();
  if (auto e = in.command(&spec.argv)) return fail(std::move(*e));

  const std::string* listen = in.get("listen");
  if (!listen || listen->empty()) return fail(in.error("listen= is required"));
  spec.listen = *listen;

  if (const std::string* proto = in.get("proto")) {
    spec.proto = lower(*proto);
    if (spec.proto != "tcp" && spec.proto != "tcp4" && spec.proto != "tcp6") {
      return fail(in.error("proto " + quote(*proto) + " is not supported (tcp, tcp4 or tcp6)"));
    }
  }

  std::optional<ConfigError> e;
  if ((e = in.number("prefork", 0, &spec.prefork)) ||
      (e = in.number("maxchild", -1, &spec.maxchild)) ||
      (e = in.number("maxforkrate", 0, &spec.maxforkrate)) ||
      (e = in.number("maxfds", 0, &spec.maxfds)) || (e = in.flag("babysit", &spec.babysit))) {
    return fail(std::move(*e));
  }
  if (spec.maxchild == 0)
    return fail(in.error("maxchild \"0\" allows no workers; use -1 for unlimited"));
  if (spec.babysit) {  // as Cyrus: a babysat service always has a worker ready, forking at a
                       // bounded rate
    spec.prefork = std::max(spec.prefork, 1);
    if (spec.maxforkrate == 0) spec.maxforkrate = 10;
  }
  if (spec.maxchild != -1 && spec.prefork > spec.maxchild) {
    return fail(in.error("prefork=" + std::to_string(spec.prefork) +
                         " is more than maxchild=" + std::to_string(spec.maxchild)));
  }

  if (const std::string* mode = in.get("mode")) {
    auto bits = parse_mode(*mode);
    if (!bits) return fail(in.error("mode " + quote(*mode) + " is not an octal mode like 0660"));
    spec.mode = *bits;
  }
  if (const std::string* owner = in.get("owner")) spec.owner = *owner;
  if (const std::string* group = in.get("group")) spec.group = *group;
  return spec;
}

Result<CommandSpec, ConfigError> command_spec(const ServiceEntry& entry) {
  EntryReader in(entry, "entry");
  CommandSpec spec;
  spec.name = entry.name;
  spec.origin = entry.origin();
  if (auto e = in.command(&spec.argv)) return fail(std::move(*e));
  int unused = 0;
  std::optional<ConfigError> e;
  const std::string* period = in.get("period");
  // A bare number is minutes (Cyrus); with a unit it is a duration (a Cubby extension).
  std::optional<std::chrono::milliseconds> duration;
  if (period && !period->empty() && !std::isdigit(static_cast<unsigned char>(period->back())))
    duration = parse_duration(*period);
  if (duration) {
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*duration).count();
    if (seconds < 1 || seconds > INT_MAX)
      return fail(in.error("period " + quote(*period) + " is out of range (1s to 68 years)"));
    spec.period_seconds = static_cast<int>(seconds);
    spec.period_minutes = spec.period_seconds / 60;
  } else if ((e = in.number("period", 0, &spec.period_minutes))) {
    return fail(std::move(*e));
  } else if (spec.period_minutes > INT_MAX / 60) {
    return fail(in.error("period " + quote(*period) + " is out of range"));
  } else {
    spec.period_seconds = spec.period_minutes * 60;
  }
  if ((e = in.flag("wait", &spec.wait)) || (e = in.number("maxfds", 0, &spec.maxfds)) ||
      (e = in.number("maxforkrate", 0, &unused))) {
    return fail(std::move(*e));
  }
  if (const std::string* at = in.get("at")) {
    auto hhmm = parse_hhmm(*at);
    if (!hhmm) return fail(in.error("at " + quote(*at) + " is not a time of day like 0400 (hhmm)"));
    spec.at_hhmm = *hhmm;
  }
  return spec;
}

}  // namespace cubby::conf
