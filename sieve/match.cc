// Comparators and match types; see match.h.
#include "sieve/match.h"

#include <regex.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "sieve/regex_cache.h"

namespace cubby::sieve {
namespace {

constexpr long kMaxMatchSteps = 1'000'000;   // backtracking budget for :matches captures
constexpr size_t kMaxCaptureWildcards = 64;  // more wildcards: ${0} only (bounds the recursion)

char fold(Comparator c, char ch) {
  if (c == Comparator::kAsciiCasemap && ch >= 'A' && ch <= 'Z') return static_cast<char>(ch + 32);
  return ch;
}

bool same(Comparator c, char a, char b) { return fold(c, a) == fold(c, b); }

// i;ascii-numeric: the leading digits as a number; no digits is positive infinity (RFC 4790 9.1).
// Compares digit strings without converting, so any length works.
int numeric_compare(std::string_view a, std::string_view b) {
  auto digits = [](std::string_view s) -> std::optional<std::string_view> {
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0) return std::nullopt;
    s = s.substr(0, n);
    while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
    return s;
  };
  auto da = digits(a), db = digits(b);
  if (!da && !db) return 0;
  if (!da) return 1;
  if (!db) return -1;
  if (da->size() != db->size()) return da->size() < db->size() ? -1 : 1;
  const int r = da->compare(*db);
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

bool relation_holds(Relation r, int cmp) {
  switch (r) {
    case Relation::kGt:
      return cmp > 0;
    case Relation::kGe:
      return cmp >= 0;
    case Relation::kLt:
      return cmp < 0;
    case Relation::kLe:
      return cmp <= 0;
    case Relation::kEq:
      return cmp == 0;
    case Relation::kNe:
      return cmp != 0;
  }
  return false;
}

// A pattern element: a literal character, '*' or '?'.
struct Glob {
  enum Kind { kChar, kStar, kOne } kind;
  char ch;
};

std::vector<Glob> compile_glob(std::string_view key) {
  std::vector<Glob> out;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\\' && i + 1 < key.size()) {
      out.push_back({Glob::kChar, key[++i]});
    } else if (key[i] == '*') {
      out.push_back({Glob::kStar, 0});
    } else if (key[i] == '?') {
      out.push_back({Glob::kOne, 0});
    } else {
      out.push_back({Glob::kChar, key[i]});
    }
  }
  return out;
}

// Linear-time test without captures (the classic two-pointer algorithm).
bool glob_matches(Comparator c, const std::vector<Glob>& p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi].kind != Glob::kStar &&
        (p[pi].kind == Glob::kOne || same(c, p[pi].ch, s[si]))) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi].kind == Glob::kStar) {
      star = pi++;
      mark = si;
    } else if (star != std::string::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi].kind == Glob::kStar) ++pi;
  return pi == p.size();
}

// Backtracking with captures; each '*' tries the shortest run first.
bool glob_capture(Comparator c, const std::vector<Glob>& p, size_t pi, std::string_view s,
                  size_t si, std::vector<std::string>& caps, long& steps) {
  if (++steps > kMaxMatchSteps) return false;
  while (pi < p.size()) {
    if (p[pi].kind == Glob::kStar) {
      for (size_t len = 0; si + len <= s.size(); ++len) {
        caps.emplace_back(s.substr(si, len));
        if (glob_capture(c, p, pi + 1, s, si + len, caps, steps)) return true;
        caps.pop_back();
        if (steps > kMaxMatchSteps) return false;
      }
      return false;
    }
    if (si >= s.size()) return false;
    if (p[pi].kind == Glob::kOne) {
      caps.emplace_back(s.substr(si, 1));
      if (glob_capture(c, p, pi + 1, s, si + 1, caps, steps)) return true;
      caps.pop_back();
      return false;
    }
    if (!same(c, p[pi].ch, s[si])) return false;
    ++pi;
    ++si;
  }
  return si == s.size();
}

bool contains(Comparator c, std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && same(c, hay[i + k], needle[k])) ++k;
    if (k == needle.size()) return true;
  }
  return false;
}

}  // namespace

Matcher matcher_of(const Node& node) {
  Matcher m;
  if (const Argument* c = node.tag(":comparator")) {
    const std::string& name = c->strings[0];
    m.comparator = name == "i;octet"           ? Comparator::kOctet
                   : name == "i;ascii-numeric" ? Comparator::kAsciiNumeric
                                               : Comparator::kAsciiCasemap;
  }
  if (node.has(":contains")) m.type = MatchType::kContains;
  if (node.has(":matches")) m.type = MatchType::kMatches;
  if (node.has(":regex")) m.type = MatchType::kRegex;
  const Argument* rel = node.tag(":value");
  if (rel) m.type = MatchType::kValue;
  if (const Argument* r = node.tag(":count")) {
    rel = r;
    m.type = MatchType::kCount;
  }
  if (rel) {
    std::string op = rel->strings[0];
    for (char& ch : op) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    m.relation = op == "gt"   ? Relation::kGt
                 : op == "ge" ? Relation::kGe
                 : op == "lt" ? Relation::kLt
                 : op == "le" ? Relation::kLe
                 : op == "ne" ? Relation::kNe
                              : Relation::kEq;
  }
  return m;
}

int compare(Comparator c, std::string_view a, std::string_view b) {
  if (c == Comparator::kAsciiNumeric) return numeric_compare(a, b);
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = static_cast<unsigned char>(fold(c, a[i]));
    const unsigned char y = static_cast<unsigned char>(fold(c, b[i]));
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : a.size() < b.size() ? -1 : 1;
}

Result<bool, std::string> match(const Matcher& m, std::string_view value, std::string_view key,
                                std::vector<std::string>* captures) {
  switch (m.type) {
    case MatchType::kIs:
      return compare(m.comparator, value, key) == 0;
    case MatchType::kContains:
      return contains(m.comparator, value, key);
    case MatchType::kValue:
      return relation_holds(m.relation, compare(m.comparator, value, key));
    case MatchType::kCount:
      return false;
    case MatchType::kMatches: {
      const auto glob = compile_glob(key);
      if (!glob_matches(m.comparator, glob, value)) return false;
      if (captures) {
        std::vector<std::string> caps;
        long steps = 0;
        captures->clear();
        const size_t wildcards = static_cast<size_t>(std::count_if(
            glob.begin(), glob.end(), [](const Glob& g) { return g.kind != Glob::kChar; }));
        if (wildcards <= kMaxCaptureWildcards &&
            glob_capture(m.comparator, glob, 0, value, 0, caps, steps)) {
          captures->push_back(std::string(value));
          captures->insert(captures->end(), caps.begin(), caps.end());
        } else {
          captures->push_back(std::string(value));  // too costly to split: ${0} only
        }
      }
      return true;
    }
    case MatchType::kRegex: {
      int flags = REG_EXTENDED;
      if (m.comparator == Comparator::kAsciiCasemap) flags |= REG_ICASE;
      if (!captures) flags |= REG_NOSUB;
      const CompiledRegex& re = thread_regex_cache().get(key, flags);
      if (!re.ok()) return fail(re.error());
      // regexec stops at NUL; a value with one is matched up to it.
      const std::string subject(value);
      regmatch_t groups[10];
      const int rc = regexec(&re.regex(), subject.c_str(), captures ? 10 : 0,
                             captures ? groups : nullptr, 0);
      if (rc == 0 && captures) {
        captures->clear();
        for (size_t g = 0; g <= re.regex().re_nsub && g < 10; ++g) {
          if (groups[g].rm_so < 0) {
            captures->emplace_back();
          } else {
            captures->push_back(
                subject.substr(static_cast<size_t>(groups[g].rm_so),
                               static_cast<size_t>(groups[g].rm_eo - groups[g].rm_so)));
          }
        }
      }
      return rc == 0;
    }
  }
  return false;
}

bool count_matches(const Matcher& m, size_t count, std::string_view key) {
  return relation_holds(m.relation, compare(m.comparator, std::to_string(count), key));
}

std::string quote_wildcard(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string quote_regex(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\^$.[]|()?*+{}", c) != nullptr && c != '\0') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace cubby::sieve
