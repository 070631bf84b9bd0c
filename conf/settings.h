// Settings: the imapd.conf-style settings file, read once and queried through typed getters.
//
// Grammar (as Cyrus's lib/libconfig.c): one `key: value` per line; blank lines and lines whose
// first non-blank character is `#` are ignored; the key is everything before the first `:`, the
// value everything after it with surrounding blanks removed. A key given twice: the last one wins
// (with a warning). Keys are checked against the option table (options.h): `partition-<name>` and
// `sasl_<anything>` are option families; `<service>_<option>` overrides <option> for the cubby
// service named <service> (the cyrus.conf entry name, CYRUS_SERVICE) once set_service() is called.
// Any other unknown key is a warning, not an error. A value that does not parse as its option's
// type is a ConfigError carrying file:line. Keys are lower-cased and may hold only letters, digits,
// `-` and `_`; since service names are alphanumeric, an override's <service> is the part before the
// first `_`.
//
// Getters take an option name that must be in the table and read as its type (anything else is a
// bug: std::logic_error) and return the override for the current service if there is one, else the
// file's value, else the table default. This is the only way code reads settings. Two defaults are
// computed: servername (gethostname()) and lmtpsocket ({configdirectory}/socket/lmtp).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/options.h"
#include "conf/result.h"

namespace cubby::conf {

// An error in a configuration file, reported as `file:line: message` (line 0: `file: message`,
// about the file itself; no file, as from Settings::set(): just the message).
struct ConfigError {
  std::string file;
  int line = 0;
  std::string message;
  std::string str() const;
};

class Settings {
 public:
  // The table defaults only, as if an empty file had been read.
  Settings();

  // Reads `path`. Warnings (unknown keys, duplicates) are appended to *warnings as
  // `file:line: text` when warnings is not null.
  static Result<Settings, ConfigError> load(const std::string& path,
                                            std::vector<std::string>* warnings = nullptr);
  // As load(), from text already in memory; `name` is used in messages. For tests and fuzzing.
  static Result<Settings, ConfigError> parse(std::string_view text, const std::string& name,
                                             std::vector<std::string>* warnings = nullptr);

  // Sets the service name whose `<service>_<option>` keys override plain options (compared
  // case-insensitively, as keys are).
  void set_service(std::string_view service);
  const std::string& service() const { return service_; }
  // The file this came from ("" for defaults only).
  const std::string& path() const { return path_; }

  std::string get_string(std::string_view name) const;  // string and enum (canonical spelling)
  bool get_bool(std::string_view name) const;
  int64_t get_int(std::string_view name) const;
  uint64_t get_bytes(std::string_view name) const;  // bytesize: plain bytes or K/M/G suffix
  // Durations: a number with an optional unit (ms, s, m, h, d); a bare number is in seconds.
  std::chrono::milliseconds get_duration(std::string_view name) const;
  std::vector<std::string> get_list(std::string_view name) const;  // whitespace or comma separated

  // partition-<name> entries: name -> root directory.
  std::map<std::string, std::string> partitions() const;
  // partition-<name>-format entries: name -> format (partitionformat's canonical spelling). A
  // partition without one has the format of `partitionformat`. Each value's origin (file:line)
  // goes into *origins when it is not null, for messages about a line naming no partition.
  std::map<std::string, std::string> partition_formats(
      std::map<std::string, std::string>* origins = nullptr) const;
  // sasl_<x> (and <service>_sasl_<x>) entries, keyed by <x>, for libsasl2's getopt callback.
  std::optional<std::string> sasl_option(std::string_view key) const;

  // Sets a value as if read from a file (origin "set"); returns an error if it does not parse or
  // the key is unknown. For tests and for command-line overrides.
  std::optional<ConfigError> set(std::string_view key, std::string_view value);

  // Every option in the table with its effective value and origin ("default", "file:line", or
  // "file:line (<service>_<name>)"), followed by family entries (partition-*, sasl_*).
  struct Effective {
    std::string name;
    std::string value;
    std::string origin;
    std::string help;
  };
  std::vector<Effective> effective() const;

 private:
  struct Entry {
    std::string value;
    std::string origin;  // file:line or "set"
    int line = 0;
  };
  // The entry for `name`: the current service's override, then the plain key, then null.
  const Entry* lookup(std::string_view name, bool* overridden = nullptr) const;
  // The text of table option `name` (entry or default); throws logic_error unless its type is one
  // of `types`.
  std::string text(std::string_view name, std::initializer_list<OptionType> types) const;
  // Checks and stores one key; unknown keys are a warning, or an error when `strict`.
  std::optional<ConfigError> store(const std::string& key, std::string_view value,
                                   const std::string& file, int line, bool strict,
                                   std::vector<std::string>* warnings);
  // Family keys (partition-*, sasl_*) given plainly or as overrides for the current service.
  std::vector<std::string> family_keys() const;
  std::string service_;
  std::string path_;
  std::map<std::string, Entry, std::less<>> entries_;  // every key read, as written (lower-cased)
};

// Renders settings.effective() for `cubbyctl config`: an aligned table with columns NAME, VALUE and
// ORIGIN (an empty value shows as ""), or with `json` an array of objects
// {"name", "value", "origin", "help"}, one per line.
std::string format_effective(const Settings& settings, bool json);

}  // namespace cubby::conf
