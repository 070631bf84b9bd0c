// Address-list parsing and address parts; see address.h.
#include "sieve/address.h"

namespace cubby::sieve {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// "local@domain" with a quoted local part unquoted; `valid` when both parts are there.
ParsedAddress finish(std::string spec) {
  ParsedAddress out;
  const size_t at = spec.rfind('@');
  out.valid = at != std::string::npos && at > 0 && at + 1 < spec.size() &&
              spec.find_first_of(" \t<>,;:", at) == std::string::npos;
  if (!spec.empty() && spec[0] == '"') {
    // "a b"@example.com -> a b@example.com
    std::string local;
    size_t i = 1;
    for (; i < spec.size() && spec[i] != '"'; ++i) {
      if (spec[i] == '\\' && i + 1 < spec.size()) ++i;
      local += spec[i];
    }
    if (i < spec.size()) spec = local + spec.substr(i + 1);
  }
  out.address = std::move(spec);
  return out;
}

// One mailbox of the list: the addr-spec inside <...> (without a source route), or the whole
// text without comments and unquoted spaces.
std::string addr_spec(std::string_view text) {
  std::string plain;
  bool quoted = false;
  int depth = 0;
  size_t open = std::string_view::npos, close = std::string_view::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        plain += c;
        plain += text[++i];
        continue;
      }
      if (c == '"') quoted = false;
      plain += c;
    } else if (depth > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++depth;
      else if (c == ')')
        --depth;
    } else if (c == '"') {
      quoted = true;
      plain += c;
    } else if (c == '(') {
      ++depth;
    } else if (c == '<' && open == std::string_view::npos) {
      open = i;
    } else if (c == '>' && open != std::string_view::npos && close == std::string_view::npos) {
      close = i;
    } else if (c != ' ' && c != '\t' && open == std::string_view::npos) {
      plain += c;
    }
  }
  if (open != std::string_view::npos) {
    std::string inner = trim(
        text.substr(open + 1, (close == std::string_view::npos ? text.size() : close) - open - 1));
    if (!inner.empty() && inner[0] == '@') {  // obsolete source route "@a,@b:user@c"
      const size_t colon = inner.find(':');
      inner = colon == std::string::npos ? "" : inner.substr(colon + 1);
    }
    return inner;
  }
  return plain;
}

}  // namespace

std::vector<ParsedAddress> parse_addresses(std::string_view value) {
  std::vector<ParsedAddress> out;
  bool quoted = false;
  int depth = 0;
  bool angle = false;
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string a = addr_spec(value.substr(start, end - start));
    if (!a.empty()) out.push_back(finish(std::move(a)));
    start = end + 1;
  };
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        quoted = false;
    } else if (depth > 0) {
      if (c == '\\')
        ++i;
      else if (c == '(')
        ++depth;
      else if (c == ')')
        --depth;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '(') {
      ++depth;
    } else if (c == '<') {
      angle = true;
    } else if (c == '>') {
      angle = false;
    } else if (!angle && c == ':') {
      start = i + 1;  // a group's display name
    } else if (!angle && (c == ',' || c == ';')) {
      flush(i);
    }
  }
  if (start < value.size()) flush(value.size());
  return out;
}

std::vector<std::string> parse_address_list(std::string_view value) {
  std::vector<std::string> out;
  for (auto& a : parse_addresses(value))
    if (a.valid) out.push_back(std::move(a.address));
  return out;
}

std::vector<std::string> address_test_values(std::string_view value, AddressPart part) {
  std::vector<std::string> out;
  bool any_valid = false;
  for (const auto& a : parse_addresses(value)) {
    if (!a.valid) continue;
    any_valid = true;
    if (auto p = address_part(a.address, part)) out.push_back(*p);
  }
  if (!any_valid && part == AddressPart::kAll && !trim(value).empty()) out.push_back(trim(value));
  return out;
}

std::optional<std::string> address_part(std::string_view address, AddressPart part) {
  const size_t at = address.rfind('@');
  const std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  const std::string_view domain =
      at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
  switch (part) {
    case AddressPart::kAll:
      return std::string(address);
    case AddressPart::kLocalPart:
      return std::string(local);
    case AddressPart::kDomain:
      return std::string(domain);
    case AddressPart::kUser:
      return std::string(local.substr(0, local.find('+')));
    case AddressPart::kDetail: {
      const size_t plus = local.find('+');
      if (plus == std::string_view::npos) return std::nullopt;
      return std::string(local.substr(plus + 1));
    }
  }
  return std::nullopt;
}

}  // namespace cubby::sieve
