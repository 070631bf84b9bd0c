// Reading the imapd.conf-style settings file and answering typed queries; see settings.h.
#include "conf/settings.h"

#include <unistd.h>

#include <set>
#include <stdexcept>

#include "conf/file_text.h"
#include "conf/values.h"

namespace cubby::conf {
namespace {

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

bool valid_key(std::string_view key) {
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool alphanumeric(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// For `<service>_<option>` (option a table option or a family key), the <option> part.
std::optional<std::string> override_base(std::string_view key) {
  size_t underscore = key.find('_');
  if (underscore == std::string_view::npos || !alphanumeric(key.substr(0, underscore))) {
    return std::nullopt;
  }
  std::string_view base = key.substr(underscore + 1);
  if (find_option(base) || family_of(base) != Family::None) return std::string(base);
  return std::nullopt;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

std::string ConfigError::str() const {
  if (file.empty()) return message;
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ": " + message;
}

Settings::Settings() = default;

void Settings::set_service(std::string_view service) { service_ = lower(service); }

Result<Settings, ConfigError> Settings::load(const std::string& path,
                                             std::vector<std::string>* warnings) {
  auto text = read_text_file(path);
  if (!text) return fail(ConfigError{path, 0, text.error()});
  return parse(*text, path, warnings);
}

Result<Settings, ConfigError> Settings::parse(std::string_view text, const std::string& name,
                                              std::vector<std::string>* warnings) {
  Settings settings;
  settings.path_ = name;
  int line_number = 0;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;

    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail(ConfigError{name, line_number, "expected \"key: value\""});
    }
    std::string key = lower(trim(line.substr(0, colon)));
    if (key.empty())
      return fail(ConfigError{name, line_number, "missing option name before \":\""});
    if (key == "@include") {
      return fail(ConfigError{name, line_number, "@include is not supported; merge the files"});
    }
    if (!valid_key(key)) {
      return fail(ConfigError{name, line_number, "invalid option name " + quote(key)});
    }
    auto error =
        settings.store(key, trim(line.substr(colon + 1)), name, line_number, false, warnings);
    if (error) return fail(std::move(*error));
  }
  return settings;
}

std::optional<ConfigError> Settings::set(std::string_view key, std::string_view value) {
  std::string name = lower(trim(key));
  if (name.empty() || !valid_key(name))
    return ConfigError{"", 0, "invalid option name " + quote(name)};
  return store(name, trim(value), "", 0, true, nullptr);
}

std::optional<ConfigError> Settings::store(const std::string& key, std::string_view value,
                                           const std::string& file, int line, bool strict,
                                           std::vector<std::string>* warnings) {
  std::string where = file.empty() ? "" : file + ":" + std::to_string(line) + ": ";
  std::optional<std::string> problem;
  if (const OptionSpec* spec = find_option(key)) {
    problem = check_value(*spec, value);
  } else if (family_of(key) != Family::None) {
    problem = check_family_value(key, value);
  } else if (auto base = override_base(key)) {
    const OptionSpec* spec = find_option(*base);
    problem = spec ? check_value(*spec, value) : check_family_value(*base, value);
  } else if (strict) {
    return ConfigError{file, line, "unknown option " + quote(key)};
  } else {
    if (warnings) warnings->push_back(where + "unknown option " + quote(key));
    return std::nullopt;
  }
  if (problem) return ConfigError{file, line, "option " + quote(key) + ": " + *problem};

  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted && warnings && !file.empty()) {
    warnings->push_back(where + "option " + quote(key) + " given again (first at line " +
                        std::to_string(it->second.line) + "); the last value wins");
  }
  it->second =
      Entry{std::string(value), file.empty() ? "set" : file + ":" + std::to_string(line), line};
  return std::nullopt;
}

const Settings::Entry* Settings::lookup(std::string_view name, bool* overridden) const {
  if (overridden) *overridden = false;
  if (!service_.empty()) {
    auto it = entries_.find(service_ + "_" + std::string(name));
    if (it != entries_.end()) {
      if (overridden) *overridden = true;
      return &it->second;
    }
  }
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string Settings::text(std::string_view name, std::initializer_list<OptionType> types) const {
  const OptionSpec* spec = find_option(name);
  if (!spec) throw std::logic_error("Settings: no option named \"" + std::string(name) + "\"");
  bool type_ok = false;
  for (OptionType type : types) type_ok = type_ok || type == spec->type;
  if (!type_ok) {
    throw std::logic_error("Settings: option \"" + std::string(name) + "\" is a " +
                           std::string(type_name(spec->type)) + ", read with the wrong getter");
  }
  const Entry* entry = lookup(name);
  return entry ? entry->value : std::string(spec->default_value);
}

std::string Settings::get_string(std::string_view name) const {
  std::string value = text(name, {OptionType::String, OptionType::Enum});
  const OptionSpec* spec = find_option(name);
  if (spec->type == OptionType::Enum) {
    auto canonical = enum_value(*spec, value);
    if (!canonical) throw std::logic_error("Settings: bad enum value for " + std::string(name));
    return std::string(*canonical);
  }
  if (value.empty() && name == "servername") return host_name();
  if (value.empty() && name == "lmtpsocket") {
    std::string directory = get_string("configdirectory");
    while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
    return directory + "/socket/lmtp";
  }
  return value;
}

bool Settings::get_bool(std::string_view name) const {
  auto value = parse_bool(text(name, {OptionType::Bool}));
  if (!value) throw std::logic_error("Settings: bad bool value for " + std::string(name));
  return *value;
}

int64_t Settings::get_int(std::string_view name) const {
  auto value = parse_int(text(name, {OptionType::Int}));
  if (!value) throw std::logic_error("Settings: bad int value for " + std::string(name));
  return *value;
}

uint64_t Settings::get_bytes(std::string_view name) const {
  auto value = parse_bytesize(text(name, {OptionType::ByteSize}));
  if (!value) throw std::logic_error("Settings: bad byte size for " + std::string(name));
  return *value;
}

std::chrono::milliseconds Settings::get_duration(std::string_view name) const {
  auto value = parse_duration(text(name, {OptionType::Duration}));
  if (!value) throw std::logic_error("Settings: bad duration for " + std::string(name));
  return *value;
}

std::vector<std::string> Settings::get_list(std::string_view name) const {
  return split_list(text(name, {OptionType::List}));
}

std::vector<std::string> Settings::family_keys() const {
  std::set<std::string> keys;
  std::string own_prefix = service_.empty() ? "" : service_ + "_";
  for (const auto& [key, entry] : entries_) {
    if (find_option(key)) continue;
    if (family_of(key) != Family::None) keys.insert(key);
    if (!own_prefix.empty() && key.starts_with(own_prefix)) {
      std::string base = key.substr(own_prefix.size());
      if (!find_option(base) && family_of(base) != Family::None) keys.insert(base);
    }
  }
  return {keys.begin(), keys.end()};
}

std::map<std::string, std::string> Settings::partitions() const {
  std::map<std::string, std::string> result;
  for (const std::string& key : family_keys()) {
    if (family_of(key) == Family::Partition) result[key.substr(10)] = lookup(key)->value;
  }
  return result;
}

std::map<std::string, std::string> Settings::partition_formats(
    std::map<std::string, std::string>* origins) const {
  constexpr size_t kPrefix = 10, kSuffix = 7;  // "partition-", "-format"
  const OptionSpec& spec = *find_option("partitionformat");
  std::map<std::string, std::string> result;
  for (const std::string& key : family_keys()) {
    if (family_of(key) != Family::PartitionFormat) continue;
    const Entry* entry = lookup(key);
    std::string name = key.substr(kPrefix, key.size() - kPrefix - kSuffix);
    result[name] = std::string(enum_value(spec, entry->value).value_or(entry->value));
    if (origins) (*origins)[name] = entry->origin;
  }
  return result;
}

std::optional<std::string> Settings::sasl_option(std::string_view key) const {
  std::string full = "sasl_" + std::string(key);
  if (const OptionSpec* spec = find_option(full)) {
    std::string value = text(full, {spec->type});
    if (value.empty()) return std::nullopt;
    return value;
  }
  const Entry* entry = lookup(full);
  if (!entry) return std::nullopt;
  return entry->value;
}

std::vector<Settings::Effective> Settings::effective() const {
  std::vector<Effective> result;
  auto origin_of = [this](const std::string& name) -> std::string {
    bool overridden = false;
    const Entry* entry = lookup(name, &overridden);
    if (!entry) return "default";
    return overridden ? entry->origin + " (" + service_ + "_" + name + ")" : entry->origin;
  };
  for (const OptionSpec& spec : option_table()) {
    std::string name(spec.name);
    std::string value = spec.type == OptionType::String || spec.type == OptionType::Enum
                            ? get_string(name)
                            : text(name, {spec.type});
    result.push_back({name, value, origin_of(name), std::string(spec.help)});
  }
  for (const std::string& key : family_keys()) {
    std::string help;
    std::string value = lookup(key)->value;
    switch (family_of(key)) {
      case Family::Partition:
        help = "Root directory of partition " + key.substr(10) + ".";
        break;
      case Family::PartitionFormat:
        help = "Format of partition " + key.substr(10, key.size() - 17) + ".";
        value = std::string(enum_value(*find_option("partitionformat"), value).value_or(value));
        break;
      default:
        help = "Passed to libsasl2 as " + key.substr(5) + ".";
    }
    result.push_back({key, value, origin_of(key), help});
  }
  return result;
}

}  // namespace cubby::conf
