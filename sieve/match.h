// Comparators (RFC 4790 as RFC 5228 section 2.7.3 uses them) and match types (RFC 5228 2.7.1,
// relational RFC 5231, regex draft-ietf-sieve-regex) applied to one value and one key.
//
// :matches wildcards: "*" any run, "?" one character, "\" quotes the next; captures follow
// RFC 5229 section 3.2 (each "*" takes as little as possible, leftmost first, as Pigeonhole does).
// :regex uses POSIX extended regular expressions (regcomp/regexec from the C library), compiled once
// per thread and kept in its RegexCache (regex_cache.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.h"
#include "sieve/ast.h"

namespace cubby::sieve {

enum class Comparator { kOctet, kAsciiCasemap, kAsciiNumeric };
enum class MatchType { kIs, kContains, kMatches, kRegex, kValue, kCount };
enum class Relation { kGt, kGe, kLt, kLe, kEq, kNe };

struct Matcher {
  MatchType type = MatchType::kIs;
  Comparator comparator = Comparator::kAsciiCasemap;
  Relation relation = Relation::kEq;
};

// The matcher a test's tags ask for (defaults: :is, i;ascii-casemap).
Matcher matcher_of(const Node& node);

// Does `value` match `key`? `captures` (when not null) receives ${0}..${n} of a successful
// :matches or :regex. An error is a bad regular expression. Not for :count (see count_matches).
Result<bool, std::string> match(const Matcher& m, std::string_view value, std::string_view key,
                                std::vector<std::string>* captures);

// The relation of `count` to `key` under the comparator (RFC 5231 :count).
bool count_matches(const Matcher& m, size_t count, std::string_view key);

// Three-way comparison of two strings under a comparator (used by :value).
int compare(Comparator c, std::string_view a, std::string_view b);

// :quotewildcard / :quoteregex of RFC 5229 and the regex draft.
std::string quote_wildcard(std::string_view s);
std::string quote_regex(std::string_view s);

}  // namespace cubby::sieve
