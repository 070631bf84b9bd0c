// Options: THE table of settings (name, type, default, one-line help). It drives parsing, defaults,
// validation and `cubbyctl config`; an option not in it does not exist.
//
// Names are Cyrus's wherever Cyrus has the option. Every default must parse under its own type
// (a test checks). Besides the table there are three families of keys: `partition-<name>` (the root
// directory of a partition, an absolute path), `partition-<name>-format` (that partition's format,
// one of partitionformat's values; so no partition's name ends in "-format") and
// `sasl_<anything>` (free-form, passed to libsasl2); table options win over families
// (`sasl_pwcheck_method` is a table option).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cubby::conf {

enum class OptionType { String, Bool, Int, ByteSize, Duration, Enum, List };

// "string", "bool", "int", "bytesize", "duration", "enum", "list".
std::string_view type_name(OptionType type);

struct OptionSpec {
  std::string_view name;
  OptionType type = OptionType::String;
  std::string_view default_value;
  std::string_view help;
  std::string_view choices;                           // Enum: the allowed values, separated by '|'
  int64_t min = std::numeric_limits<int64_t>::min();  // Int: allowed range
  int64_t max = std::numeric_limits<int64_t>::max();
  // An extra check of the text beyond its type (e.g. each list item is a network); may be null.
  std::optional<std::string> (*check)(std::string_view value) = nullptr;
};

std::span<const OptionSpec> option_table();
// The table entry named `name` (lower-case), or null.
const OptionSpec* find_option(std::string_view name);

// What is wrong with `value` for `spec` (e.g. `"12Q" is not a byte size (...)`), or nullopt if it
// is valid. The text names the value but not the option; callers add the option name.
std::optional<std::string> check_value(const OptionSpec& spec, std::string_view value);

// An Enum's allowed values in table order.
std::vector<std::string_view> enum_values(const OptionSpec& spec);
// The canonical spelling of an Enum value (matched case-insensitively), or nullopt.
std::optional<std::string_view> enum_value(const OptionSpec& spec, std::string_view value);

enum class Family { None, Partition, PartitionFormat, Sasl };
// The family of a lower-case key that is not a table option: `partition-<name>-format`,
// `partition-<name>` or `sasl_<x>`, with a non-empty <name>/<x>.
Family family_of(std::string_view key);
// What is wrong with the value of a family key, or nullopt.
std::optional<std::string> check_family_value(std::string_view key, std::string_view value);

}  // namespace cubby::conf
