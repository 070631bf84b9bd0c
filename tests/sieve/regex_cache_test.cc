// The compiled-regex cache (sieve/regex_cache.h) and :regex through it: one entry per pattern and
// flags, so a pattern seen under another comparator or with captures is not confused with itself;
// a bad pattern still fails every evaluation with regerror's text; the cache stays within its
// bound, dropping the least recently used pattern.
#include <gtest/gtest.h>

#include "sieve/match.h"
#include "sieve/regex_cache.h"
#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;

Matcher regex(Comparator c) {
  Matcher m;
  m.type = MatchType::kRegex;
  m.comparator = c;
  return m;
}

TEST(SieveRegexCache, OneEntryPerPatternAndFlags) {
  RegexCache cache;
  const CompiledRegex& a = cache.get("^ab+c$", REG_EXTENDED);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(regexec(&a.regex(), "ABBC", 0, nullptr, 0), REG_NOMATCH);
  const CompiledRegex& b = cache.get("^ab+c$", REG_EXTENDED | REG_ICASE);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(regexec(&b.regex(), "ABBC", 0, nullptr, 0), 0);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.compiles(), 2u);
  // Hits: nothing compiled again, and each still answers under its own flags.
  EXPECT_EQ(regexec(&cache.get("^ab+c$", REG_EXTENDED).regex(), "ABBC", 0, nullptr, 0),
            REG_NOMATCH);
  EXPECT_EQ(regexec(&cache.get("^ab+c$", REG_EXTENDED | REG_ICASE).regex(), "ABBC", 0, nullptr, 0),
            0);
  EXPECT_EQ(cache.compiles(), 2u);
}

TEST(SieveRegexCache, SamePatternUnderEachComparatorAndWithCapturesThroughMatch) {
  // Through match() and the thread's cache, in an order where a wrong key would show: the
  // case-insensitive NOSUB entry first, then i;octet, then with captures (no REG_NOSUB).
  const std::string key = "^lunch (on|at) (.*)$";
  auto r = match(regex(Comparator::kAsciiCasemap), "LUNCH at noon", key, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value());
  r = match(regex(Comparator::kOctet), "LUNCH at noon", key, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
  std::vector<std::string> caps;
  r = match(regex(Comparator::kAsciiCasemap), "Lunch on Friday", key, &caps);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value());
  EXPECT_EQ(caps, (std::vector<std::string>{"Lunch on Friday", "on", "Friday"}));
  // And again from the cache, the same answers.
  const size_t compiles = thread_regex_cache().compiles();
  r = match(regex(Comparator::kOctet), "LUNCH at noon", key, nullptr);
  EXPECT_FALSE(r.value());
  caps.clear();
  r = match(regex(Comparator::kAsciiCasemap), "lunch at one", key, &caps);
  EXPECT_TRUE(r.value());
  EXPECT_EQ(caps, (std::vector<std::string>{"lunch at one", "at", "one"}));
  EXPECT_EQ(thread_regex_cache().compiles(), compiles);
}

TEST(SieveRegexCache, BadPatternIsReportedEveryTime) {
  RegexCache cache;
  for (int i = 0; i < 3; ++i) {
    const CompiledRegex& bad = cache.get("a(", REG_EXTENDED);
    EXPECT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().rfind("bad regular expression \"a(\": ", 0), 0u) << bad.error();
  }
  EXPECT_EQ(cache.compiles(), 1u);

  // Through a script: each evaluation is a runtime error naming the pattern (implicit keep).
  Harness run;
  const std::string script = "require \"regex\"; if header :regex \"subject\" \"[\" { discard; }";
  for (int i = 0; i < 2; ++i) {
    auto o = run.outcome(script);
    ASSERT_TRUE(o.error);
    EXPECT_EQ(o.error->kind, Error::Kind::kRuntime);
    EXPECT_NE(o.error->message.find("bad regular expression \"[\""), std::string::npos)
        << o.error->message;
    ASSERT_EQ(o.actions.size(), 1u);
    EXPECT_TRUE(o.actions[0].implicit);
  }
}

TEST(SieveRegexCache, StaysWithinItsBoundDroppingTheLeastRecentlyUsed) {
  RegexCache cache(3);
  cache.get("one", REG_EXTENDED);
  cache.get("two", REG_EXTENDED);
  cache.get("three", REG_EXTENDED);
  cache.get("one", REG_EXTENDED);  // now the most recently used
  EXPECT_EQ(cache.compiles(), 3u);
  cache.get("four", REG_EXTENDED);  // evicts "two"
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.compiles(), 4u);
  cache.get("one", REG_EXTENDED);
  cache.get("three", REG_EXTENDED);
  cache.get("four", REG_EXTENDED);
  EXPECT_EQ(cache.compiles(), 4u);  // all three still held
  const CompiledRegex& two = cache.get("two", REG_EXTENDED);  // compiled again, evicts "one"
  EXPECT_EQ(cache.compiles(), 5u);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(regexec(&two.regex(), "a two b", 0, nullptr, 0), 0);
  EXPECT_EQ(cache.size(), 3u);

  // Many distinct patterns (a script that builds them from variables): never above the bound.
  for (int i = 0; i < 1000; ++i) {
    const CompiledRegex& r = cache.get("^x" + std::to_string(i) + "$", REG_EXTENDED | REG_NOSUB);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(regexec(&r.regex(), ("x" + std::to_string(i)).c_str(), 0, nullptr, 0), 0);
    ASSERT_LE(cache.size(), 3u);
  }
  EXPECT_LE(thread_regex_cache().size(), thread_regex_cache().capacity());
}

}  // namespace
}  // namespace cubby::sieve
