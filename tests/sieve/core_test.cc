// RFC 5228 semantics: control flow, the implicit keep, the core tests, match types, comparators
// and address parts, checked on the RFC's examples and their edge cases.
#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;

TEST(SieveCore, EmptyScriptKeeps) {
  Harness run;
  EXPECT_EQ(run(""), "keep");
  EXPECT_EQ(run("# nothing but a comment\n"), "keep");
}

TEST(SieveCore, ImplicitKeepIsCancelledByDiscardAndExplicitKeep) {
  Harness run;
  EXPECT_EQ(run("discard;"), "discard");
  EXPECT_EQ(run("keep;"), "keep");
  EXPECT_EQ(run("keep; keep;"), "keep");
  EXPECT_EQ(run("keep; discard;"), "keep | discard");
  auto o = run.outcome("keep;");
  ASSERT_EQ(o.actions.size(), 1u);
  EXPECT_FALSE(o.actions[0].implicit);
  o = run.outcome("");
  EXPECT_TRUE(o.actions[0].implicit);
}

TEST(SieveCore, StopEndsTheScript) {
  Harness run;
  EXPECT_EQ(run("stop; discard;"), "keep");
  EXPECT_EQ(run("discard; stop; keep;"), "discard");
}

TEST(SieveCore, IfElsifElse) {
  Harness run;
  const std::string script = R"(require "fileinto";
    if header :contains "subject" "money" { fileinto "spam"; }
    elsif header :contains "subject" "lunch" { fileinto "food"; }
    elsif true { fileinto "never"; }
    else { fileinto "other"; })";
  EXPECT_EQ(run(script), "fileinto food");
  EXPECT_EQ(run("require \"fileinto\"; if false { fileinto \"a\"; } else { fileinto \"b\"; }"),
            "fileinto b");
  // Two separate ifs both run.
  EXPECT_EQ(run("require \"fileinto\"; if true { fileinto \"a\"; } if true { fileinto \"b\"; }"),
            "fileinto a | fileinto b");
}

TEST(SieveCore, AllofAnyofNotShortCircuit) {
  Harness run;
  EXPECT_EQ(run("if allof (true, false) { discard; }"), "keep");
  EXPECT_EQ(run("if allof (true, true) { discard; }"), "discard");
  EXPECT_EQ(run("if anyof (false, true) { discard; }"), "discard");
  EXPECT_EQ(run("if anyof (false, false) { discard; }"), "keep");
  EXPECT_EQ(run("if not false { discard; }"), "discard");
  // Short-circuit: the second test is not evaluated (a bad regex there would be an error).
  EXPECT_EQ(run("require \"regex\"; if anyof (true, header :regex \"a\" \"(\") { discard; }"),
            "discard");
}

TEST(SieveCore, HeaderTest) {
  Harness run;
  EXPECT_EQ(run("if header :is \"Subject\" \"Lunch on Friday?\" { discard; }"), "discard");
  EXPECT_EQ(run("if header :is \"subject\" \"lunch on friday?\" { discard; }"), "discard");
  EXPECT_EQ(
      run("if header :is :comparator \"i;octet\" \"subject\" \"lunch on friday?\" { discard; }"),
      "keep");
  EXPECT_EQ(run("if header :contains [\"X-Nope\", \"Subject\"] [\"zzz\", \"Friday\"] { discard; }"),
            "discard");
  // A missing header never matches, not even "" (RFC 5228 5.7).
  EXPECT_EQ(run("if header :contains \"X-Nope\" \"\" { discard; }"), "keep");
  EXPECT_EQ(run("if header :contains \"Subject\" \"\" { discard; }"), "discard");
}

TEST(SieveCore, MatchesWildcards) {
  Harness run;
  auto is_match = [&](const std::string& value, const std::string& key) {
    std::string msg = "Subject: " + value + "\r\n\r\nx\r\n";
    // The key is written into a Sieve string: escape its quotes and backslashes.
    std::string quoted;
    for (char c : key) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return run("if header :matches \"subject\" \"" + quoted + "\" { discard; }", msg) == "discard";
  };
  EXPECT_TRUE(is_match("Lunch on Friday?", "*friday*"));
  EXPECT_TRUE(is_match("Lunch on Friday?", "Lunch*"));
  EXPECT_FALSE(is_match("Lunch on Friday?", "Friday*"));
  EXPECT_TRUE(is_match("abc", "a?c"));
  EXPECT_FALSE(is_match("abbc", "a?c"));
  EXPECT_TRUE(is_match("a*c", "a\\*c"));
  EXPECT_FALSE(is_match("abc", "a\\*c"));
  EXPECT_TRUE(is_match("a?", "a\\?"));
  EXPECT_TRUE(is_match("", "*"));
  EXPECT_TRUE(is_match("x", "*?*"));
  EXPECT_FALSE(is_match("", "?"));
  EXPECT_TRUE(is_match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*b"));
  EXPECT_FALSE(is_match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "*a*a*a*a*a*a*a*a*b"));
}

TEST(SieveCore, ComparatorsAndNumbers) {
  Harness run;
  const std::string req = "require \"comparator-i;ascii-numeric\";\n";
  EXPECT_EQ(
      run(req +
          "if header :is :comparator \"i;ascii-numeric\" \"X-Spam-Score\" \"012\" { discard; }"),
      "discard");
  EXPECT_EQ(
      run(req +
          "if header :is :comparator \"i;ascii-numeric\" \"X-Spam-Score\" \"13\" { discard; }"),
      "keep");
  // Strings without leading digits are all "positive infinity", equal to each other.
  EXPECT_EQ(
      run(req + "if header :is :comparator \"i;ascii-numeric\" \"Subject\" \"abc\" { discard; }"),
      "discard");
  EXPECT_EQ(run("if header :contains :comparator \"i;octet\" \"Subject\" \"friday\" { discard; }"),
            "keep");
  EXPECT_EQ(run("if header :contains :comparator \"i;ascii-casemap\" \"Subject\" \"FRIDAY\" { "
                "discard; }"),
            "discard");
}

TEST(SieveCore, AddressTestAndParts) {
  Harness run;
  EXPECT_EQ(run("if address :is \"from\" \"joe@example.org\" { discard; }"), "discard");
  EXPECT_EQ(run("if address :is \"from\" \"Joe Example <joe@example.org>\" { discard; }"), "keep");
  EXPECT_EQ(run("if address :localpart :is \"from\" \"JOE\" { discard; }"), "discard");
  EXPECT_EQ(run("if address :domain :is \"to\" \"example.net\" { discard; }"), "discard");
  // A quoted display name with a comma is one address.
  EXPECT_EQ(run("if address :all :is \"cc\" \"friend@example.net\" { discard; }"), "discard");
  EXPECT_EQ(run("if address :all :is \"cc\" \"Good\" { discard; }"), "keep");
  // Groups and comments.
  const std::string msg =
      "To: undisclosed-recipients:;\r\nCc: team: a@x.org, (c) b@y.org;\r\n\r\n.\r\n";
  EXPECT_EQ(run("if address :is \"cc\" \"b@y.org\" { discard; }", msg), "discard");
  // An entry that is no address is dropped; when none is, :all sees the whole value and
  // :localpart/:domain see nothing (RFC 5228 2.7.4, as Pigeonhole does).
  EXPECT_EQ(run("if address :is \"to\" \"undisclosed-recipients:;\" { discard; }", msg), "discard");
  EXPECT_EQ(run("if address :localpart :contains \"to\" \"\" { discard; }", msg), "keep");
  const std::string mixed =
      "To: \"a b\"@example.com, <@route.example:r@example.com>, bad address\r\n\r\n.\r\n";
  EXPECT_EQ(run("if address :localpart :is \"to\" \"a b\" { discard; }", mixed), "discard");
  EXPECT_EQ(run("if address :is \"to\" \"r@example.com\" { discard; }", mixed), "discard");
  EXPECT_EQ(run("if address :contains \"to\" \"bad\" { discard; }", mixed), "keep");
  EXPECT_EQ(sieve_test::compile_error("if address :is \"subject\" \"x\" { keep; }"),
            "line 1: \"subject\" is not an address header (address test)");
}

TEST(SieveCore, EnvelopeTest) {
  Harness run;
  const std::string req = "require \"envelope\";\n";
  EXPECT_EQ(run(req + "if envelope :is \"from\" \"joe@example.org\" { discard; }"), "discard");
  EXPECT_EQ(run(req + "if envelope :domain :is \"to\" \"example.com\" { discard; }"), "discard");
  EXPECT_EQ(run(req + "if envelope :localpart :is \"to\" \"user+lists\" { discard; }"), "discard");
  // The null sender is "" (RFC 5228 5.4).
  run.envelope.from = "";
  EXPECT_EQ(run(req + "if envelope :is \"from\" \"\" { discard; }"), "discard");
  EXPECT_EQ(sieve_test::compile_error(req + "if envelope :is \"x-nope\" \"\" { discard; }"),
            "line 2: envelope part \"x-nope\" is not supported (from, to)");
}

TEST(SieveCore, ExistsAndSize) {
  Harness run;
  EXPECT_EQ(run("if exists [\"From\", \"Date\"] { discard; }"), "discard");
  EXPECT_EQ(run("if exists [\"From\", \"X-Nope\"] { discard; }"), "keep");
  const size_t size = sieve_test::kMessage.size();
  EXPECT_EQ(run("if size :over " + std::to_string(size - 1) + " { discard; }"), "discard");
  EXPECT_EQ(run("if size :over " + std::to_string(size) + " { discard; }"), "keep");
  EXPECT_EQ(run("if size :under " + std::to_string(size) + " { discard; }"), "keep");
  EXPECT_EQ(run("if size :under 1M { discard; }"), "discard");
}

TEST(SieveCore, HeaderValuesAreUnfoldedAndDecoded) {
  Harness run;
  const std::string msg =
      "Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n =?UTF-8?B?wqBjcsOobWU=?= ok\r\n"
      "X-Folded: one\r\n\ttwo\r\n\r\nbody\r\n";
  EXPECT_EQ(run("if header :is \"subject\" \"Caf\xC3\xA9\xC2\xA0"
                "cr\xC3\xA8me ok\" { discard; }",
                msg),
            "discard");
  EXPECT_EQ(run("if header :is \"x-folded\" \"one\ttwo\" { discard; }", msg), "discard");
}

TEST(SieveCore, ReadsBareLineFeedMessages) {
  Harness run;
  EXPECT_EQ(
      run("if header :is \"subject\" \"hi\" { discard; }", "Subject: hi\nFrom: a@b\n\nbody\n"),
      "discard");
}

}  // namespace
}  // namespace cubby::sieve
