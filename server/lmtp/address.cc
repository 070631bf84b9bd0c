// MAIL FROM / RCPT TO argument parsing (paths, parameters, xtext); see address.h.
#include "server/lmtp/address.h"

#include <cstring>
#include <limits>

#include "server/lmtp/ascii.h"

namespace cubby::lmtp {
namespace {

Reply syntax_error() { return make_reply(501, "5.5.4", "Syntax error in parameters"); }
Reply unrecognized_parameters() { return make_reply(501, "5.5.4", "Unrecognized parameters"); }
Reply non_ascii_needs_smtputf8() {
  return make_reply(553, "5.6.7", "Non-ASCII addresses require SMTPUTF8");
}

bool high(char c) { return static_cast<unsigned char>(c) >= 0x80; }
bool hex_digit(char c) {
  return ascii_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
int hex_value(char c) {
  if (ascii_digit(c)) return c - '0';
  return ascii_lower(c) - 'a' + 10;
}

// Parses a domain or address literal at s[*i]; advances *i past it. False when there is none.
bool parse_domain(std::string_view s, size_t* i, bool* has_8bit) {
  size_t p = *i;
  if (p < s.size() && s[p] == '[') {
    ++p;
    const size_t start = p;
    if (istarts_with(s.substr(p), "IPv6:")) {
      p += 5;
      const size_t tag_end = p;
      while (p < s.size() && (hex_digit(s[p]) || s[p] == ':' || s[p] == '.')) ++p;
      if (p == tag_end) return false;
    } else {
      while (p < s.size() && (ascii_digit(s[p]) || s[p] == '.')) ++p;
      if (p == start) return false;
    }
    if (p >= s.size() || s[p] != ']') return false;
    *i = p + 1;
    return true;
  }
  const size_t start = p;
  while (p < s.size() && (ascii_alnum(s[p]) || s[p] == '.' || s[p] == '-' || high(s[p]))) {
    if (high(s[p])) *has_8bit = true;
    ++p;
  }
  if (p == start) return false;
  *i = p;
  return true;
}

// A byte allowed after a backslash or inside quotes: printable ASCII, space, or 8-bit.
bool quotable(char c, bool* has_8bit) {
  if (high(c)) {
    *has_8bit = true;
    return true;
  }
  return c >= ' ' && c != 0x7f;
}

// Splits the parameters after a path: " p1 p2". Calls `each(token)` until it returns a Reply.
// Parameters are separated by exactly one space, so a doubled or trailing space yields an empty
// token (which the callers refuse as unrecognized, as Cyrus does).
template <typename F>
std::optional<Reply> for_each_parameter(std::string_view rest, F&& each) {
  while (!rest.empty()) {
    if (rest[0] != ' ') return syntax_error();
    rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(token.size());
    if (auto reply = each(token)) return reply;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Path> parse_path(std::string_view s, size_t* consumed) {
  Path path;
  if (s.empty() || s[0] != '<') return std::nullopt;
  size_t i = 1;
  if (i < s.size() && s[i] == '>') {
    *consumed = 2;
    return path;
  }
  // Source route "@a,@b:" (RFC 5321 says to accept and ignore it).
  if (i < s.size() && s[i] == '@') {
    for (;;) {
      ++i;  // the '@'
      if (!parse_domain(s, &i, &path.has_8bit)) return std::nullopt;
      if (i + 1 < s.size() && s[i] == ',' && s[i + 1] == '@') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == ':') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  const size_t address_start = i;
  if (i < s.size() && s[i] == '"') {
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && ++i >= s.size()) return std::nullopt;
      if (!quotable(s[i], &path.has_8bit)) return std::nullopt;
      ++i;
    }
    if (i >= s.size()) return std::nullopt;
    ++i;  // closing quote
  } else {
    static constexpr char kSpecials[] = "<>()[]\\,;:\"";
    while (i < s.size() && s[i] != '@' && s[i] != '>') {
      const char c = s[i];
      if (c == '\\') {
        if (++i >= s.size() || !quotable(s[i], &path.has_8bit)) return std::nullopt;
      } else if (high(c)) {
        path.has_8bit = true;
      } else if (c <= ' ' || c == 0x7f || std::strchr(kSpecials, c) != nullptr) {
        return std::nullopt;
      }
      ++i;
    }
    if (i == address_start) return std::nullopt;  // "<@route:>" or "<@dom>"
  }
  if (i < s.size() && s[i] == '@') {
    ++i;
    if (!parse_domain(s, &i, &path.has_8bit)) return std::nullopt;
  }
  if (i >= s.size() || s[i] != '>') return std::nullopt;
  path.address.assign(s.substr(address_start, i - address_start));
  // 8-bit bytes anywhere in the path, source route included, must be UTF-8.
  if (path.has_8bit && !valid_utf8(s.substr(1, i - 1))) return std::nullopt;
  *consumed = i + 1;
  return path;
}

Result<MailCommand, Reply> parse_mail(std::string_view args) {
  if (!istarts_with(args, "FROM:")) return fail(syntax_error());
  args.remove_prefix(5);
  size_t used = 0;
  auto path = parse_path(args, &used);
  if (!path) return fail(syntax_error());
  MailCommand mail;
  mail.from = std::move(*path);
  auto fault =
      for_each_parameter(args.substr(used), [&](std::string_view token) -> std::optional<Reply> {
        if (istarts_with(token, "SIZE=")) {
          const std::string_view v = token.substr(5);
          if (v.empty() || !ascii_digit(v[0])) {
            return make_reply(501, "5.5.2", "SIZE requires a value");
          }
          uint64_t n = 0;
          for (char c : v) {
            if (!ascii_digit(c)) return syntax_error();
            const uint64_t d = uint64_t(c - '0');
            n = n > (std::numeric_limits<uint64_t>::max() - d) / 10
                    ? std::numeric_limits<uint64_t>::max()
                    : n * 10 + d;
          }
          mail.has_size = true;
          mail.size = n;
        } else if (istarts_with(token, "BODY=")) {
          const std::string_view v = token.substr(5);
          if (iequals(v, "7BIT") || iequals(v, "8BITMIME")) return std::nullopt;
          // Cyrus matches the value as a prefix, then refuses what trails it as a syntax error.
          if (istarts_with(v, "7BIT") || istarts_with(v, "8BITMIME")) return syntax_error();
          return make_reply(501, "5.5.4", "Unrecognized BODY type");
        } else if (istarts_with(token, "AUTH=")) {
          std::string_view v = token.substr(5);
          mail.auth_id.clear();
          if (v == "<>") return std::nullopt;
          // As Cyrus, a malformed value means "no authorised submitter", not a refusal.
          if (auto decoded = decode_xtext(v)) {
            std::string_view id = *decoded;
            if (id.size() >= 2 && id.front() == '<' && id.back() == '>')
              id = id.substr(1, id.size() - 2);
            mail.auth_id.assign(id);
          }
        } else if (iequals(token, "SMTPUTF8")) {
          mail.smtputf8 = true;
        } else {
          return unrecognized_parameters();
        }
        return std::nullopt;
      });
  if (fault) return fail(std::move(*fault));
  if (mail.from.has_8bit && !mail.smtputf8) return fail(non_ascii_needs_smtputf8());
  return mail;
}

Result<RcptCommand, Reply> parse_rcpt(std::string_view args, bool smtputf8) {
  if (!istarts_with(args, "TO:")) return fail(syntax_error());
  args.remove_prefix(3);
  size_t used = 0;
  auto path = parse_path(args, &used);
  if (!path || path->address.empty()) return fail(syntax_error());
  RcptCommand rcpt;
  rcpt.to = std::move(*path);
  auto fault =
      for_each_parameter(args.substr(used), [&](std::string_view token) -> std::optional<Reply> {
        if (!iequals(token, "IGNOREQUOTA")) return unrecognized_parameters();
        rcpt.ignore_quota = true;
        return std::nullopt;
      });
  if (fault) return fail(std::move(*fault));
  if (rcpt.to.has_8bit && !smtputf8) return fail(non_ascii_needs_smtputf8());
  return rcpt;
}

std::optional<std::string> decode_xtext(std::string_view xtext) {
  std::string out;
  out.reserve(xtext.size());
  for (size_t i = 0; i < xtext.size(); ++i) {
    const char c = xtext[i];
    if (c == '+') {
      if (i + 2 >= xtext.size()) return std::nullopt;
      if (!hex_digit(xtext[i + 1]) || !hex_digit(xtext[i + 2])) return std::nullopt;
      out.push_back(char(hex_value(xtext[i + 1]) << 4 | hex_value(xtext[i + 2])));
      i += 2;
    } else if (c >= '!' && c <= '~' && c != '=') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  for (char c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0, C1) or beyond U+10FFFF
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace cubby::lmtp
