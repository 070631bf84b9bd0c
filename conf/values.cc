// Parsers for the text forms of setting values; see values.h.
#include "conf/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

namespace cubby::conf {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads leading digits into *out; returns how many were read (0 on none or overflow).
size_t read_digits(std::string_view text, uint64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || (!text.empty() && !is_digit(text[0]))) return 0;
  return static_cast<size_t>(end - text.data());
}

bool multiply(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return text;
}

std::optional<bool> parse_bool(std::string_view text) {
  static constexpr std::array<std::string_view, 6> kTrue = {"yes", "on", "true", "y", "t", "1"};
  static constexpr std::array<std::string_view, 6> kFalse = {"no", "off", "false", "n", "f", "0"};
  std::string word = lower(trim(text));
  if (std::find(kTrue.begin(), kTrue.end(), word) != kTrue.end()) return true;
  if (std::find(kFalse.begin(), kFalse.end(), word) != kFalse.end()) return false;
  return std::nullopt;
}

std::optional<int64_t> parse_int(std::string_view text) {
  text = trim(text);
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  uint64_t magnitude = 0;
  if (text.empty() || read_digits(text, &magnitude) != text.size()) return std::nullopt;
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (magnitude > kMax + (negative ? 1 : 0)) return std::nullopt;
  if (negative)
    return magnitude == kMax + 1 ? std::numeric_limits<int64_t>::min()
                                 : -static_cast<int64_t>(magnitude);
  return static_cast<int64_t>(magnitude);
}

std::optional<uint64_t> parse_bytesize(std::string_view text) {
  text = trim(text);
  uint64_t number = 0;
  size_t used = read_digits(text, &number);
  if (used == 0) return std::nullopt;
  std::string unit = lower(trim(text.substr(used)));
  uint64_t scale = 1;
  if (!unit.empty() && unit != "b") {
    switch (unit[0]) {
      case 'k':
        scale = uint64_t{1} << 10;
        break;
      case 'm':
        scale = uint64_t{1} << 20;
        break;
      case 'g':
        scale = uint64_t{1} << 30;
        break;
      default:
        return std::nullopt;
    }
    std::string_view rest = std::string_view(unit).substr(1);
    if (!rest.empty() && rest != "b" && rest != "ib") return std::nullopt;
  }
  uint64_t bytes = 0;
  if (!multiply(number, scale, &bytes)) return std::nullopt;
  return bytes;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  uint64_t total_ms = 0;
  bool first = true;
  while (!text.empty()) {
    uint64_t number = 0;
    size_t used = read_digits(text, &number);
    if (used == 0) return std::nullopt;
    text.remove_prefix(used);
    size_t unit_len = 0;
    while (unit_len < text.size() && !is_digit(text[unit_len])) ++unit_len;
    std::string unit = lower(text.substr(0, unit_len));
    text.remove_prefix(unit_len);
    uint64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s" || (unit.empty() && first && text.empty()))
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else
      return std::nullopt;  // an unknown unit, or a bare number inside a compound duration
    uint64_t ms = 0;
    if (!multiply(number, scale, &ms) || ms > std::numeric_limits<int64_t>::max() - total_ms) {
      return std::nullopt;
    }
    total_ms += ms;
    first = false;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total_ms));
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (is_blank(text[i]) || text[i] == ',')) ++i;
    size_t start = i;
    while (i < text.size() && !is_blank(text[i]) && text[i] != ',') ++i;
    if (i > start) items.emplace_back(text.substr(start, i - start));
  }
  return items;
}

std::optional<std::string> check_cidr(std::string_view text) {
  std::string quoted = "\"" + std::string(text) + "\"";
  size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  unsigned char buffer[sizeof(in6_addr)];
  int max_prefix = 0;
  if (inet_pton(AF_INET, address.c_str(), buffer) == 1)
    max_prefix = 32;
  else if (inet_pton(AF_INET6, address.c_str(), buffer) == 1)
    max_prefix = 128;
  else
    return quoted + " is not an IP address or network (like 192.0.2.0/24 or 2001:db8::/32)";
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view prefix = text.substr(slash + 1);
  uint64_t bits = 0;
  if (prefix.empty() || read_digits(prefix, &bits) != prefix.size() ||
      bits > static_cast<uint64_t>(max_prefix)) {
    return quoted + " has a bad prefix length (0 to " + std::to_string(max_prefix) + ")";
  }
  return std::nullopt;
}

}  // namespace cubby::conf
