// Variable substitution and `set` modifiers; see variables.h.
#include "sieve/variables.h"

#include <cctype>

#include "sieve/match.h"

namespace cubby::sieve {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  if (std::isdigit(static_cast<unsigned char>(name[0]))) {
    for (char c : name)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return true;
  }
  // identifier *("." identifier)
  bool start = true;
  for (char c : name) {
    if (c == '.') {
      if (start) return false;
      start = true;
      continue;
    }
    if (start && !(std::isalpha(static_cast<unsigned char>(c)) || c == '_')) return false;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    start = false;
  }
  return !start;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::string expand_variables(std::string_view s, const VariableLookup& lookup) {
  if (s.find("${") == std::string_view::npos) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      const size_t close = s.find('}', i + 2);
      if (close != std::string_view::npos) {
        const std::string_view name = s.substr(i + 2, close - i - 2);
        if (valid_name(name)) {
          std::string lowered(name);
          for (char& c : lowered)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          // Leading zeros of a match variable name are not significant ("${01}" is "${1}").
          if (std::isdigit(static_cast<unsigned char>(lowered[0]))) {
            while (lowered.size() > 1 && lowered[0] == '0') lowered.erase(0, 1);
          }
          if (auto v = lookup(lowered)) out += *v;
          i = close + 1;
          continue;
        }
      }
    }
    out += s[i++];
  }
  return out;
}

std::string apply_modifiers(const Node& set, std::string value) {
  if (set.has(":lower"))
    for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (set.has(":upper"))
    for (char& c : value) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!value.empty() && set.has(":lowerfirst"))
    value[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(value[0])));
  if (!value.empty() && set.has(":upperfirst"))
    value[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(value[0])));
  if (set.has(":quotewildcard")) value = quote_wildcard(value);
  if (set.has(":quoteregex")) value = quote_regex(value);
  if (set.has(":length")) value = std::to_string(utf8_length(value));
  return value;
}

void truncate_utf8(std::string& s, size_t max) {
  if (s.size() <= max) return;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
}

}  // namespace cubby::sieve
