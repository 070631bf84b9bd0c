// Variables (RFC 5229), relational (RFC 5231), regex (draft-ietf-sieve-regex) and subaddress
// (RFC 5233), from the RFCs' examples.
#include "sieve/variables.h"

#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;
const std::string kReq =
    "require [\"variables\", \"fileinto\", \"relational\", \"regex\", \"subaddress\", "
    "\"envelope\", \"comparator-i;ascii-numeric\"];\n";

TEST(SieveVariables, SetAndExpand) {
  Harness run;
  EXPECT_EQ(
      run(kReq + "set \"folder\" \"Lists\"; set \"Sub\" \"${FOLDER}/ietf\"; fileinto \"${sub}\";"),
      "fileinto Lists/ietf");
  // Unknown variables are empty; malformed references are left as written (RFC 5229 3).
  EXPECT_EQ(run(kReq + "fileinto \"a${nope}b${}c${1x}d${\";"), "fileinto ab${}c${1x}d${");
  // Without require "variables", strings are literal.
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"${x}\";"), "fileinto ${x}");
  // Expansion is not recursive.
  EXPECT_EQ(
      run(kReq + "set \"b\" \"x\"; set \"a\" \"${\"; set \"c\" \"${a}b}\"; fileinto \"${c}\";"),
      "fileinto ${b}");
}

TEST(SieveVariables, Modifiers) {
  Harness run;
  // RFC 5229 4.1 examples.
  EXPECT_EQ(
      run(kReq + "set \"name\" \"Ethelbert\"; set :upper \"a\" \"${name}\"; fileinto \"${a}\";"),
      "fileinto ETHELBERT");
  EXPECT_EQ(run(kReq + "set :lower :upperfirst \"b\" \"JUMBLED\"; fileinto \"${b}\";"),
            "fileinto Jumbled");
  EXPECT_EQ(run(kReq + "set :upperfirst :lower \"b\" \"JUMBLED\"; fileinto \"${b}\";"),
            "fileinto Jumbled");
  EXPECT_EQ(run(kReq + "set :quotewildcard \"b\" \"Rock*\"; fileinto \"${b}\";"),
            "fileinto Rock\\*");
  EXPECT_EQ(run(kReq + "set :length \"n\" \"caf\xC3\xA9\"; fileinto \"${n}\";"), "fileinto 4");
  EXPECT_EQ(run(kReq + "set :quoteregex \"r\" \"a.b\"; fileinto \"${r}\";"), "fileinto a\\.b");
}

TEST(SieveVariables, MatchVariables) {
  Harness run;
  const std::string msg =
      "List-ID: Sieve Discussion <sieve.ietf.org>\r\nSubject: [acme-users] [fwd] version 1.0 is "
      "out\r\n\r\n.\r\n";
  // RFC 5229 3.1 example.
  EXPECT_EQ(
      run(kReq +
              "if header :matches \"List-ID\" \"*<*@*\" { fileinto \"INBOX.lists.${2}\"; stop; }\n"
              "if header :matches \"List-ID\" \"*<*.*.*>\" { fileinto \"lists/${2}\"; }",
          msg),
      "fileinto lists/sieve");
  EXPECT_EQ(run(kReq + "if header :matches \"Subject\" \"[*] *\" { fileinto \"${1}/${2}\"; }", msg),
            "fileinto acme-users/[fwd] version 1.0 is out");
  EXPECT_EQ(
      run(kReq + "if header :matches \"Subject\" \"*\" { fileinto \"${0}|${00}|${3}\"; }", msg),
      "fileinto [acme-users] [fwd] version 1.0 is out|[acme-users] [fwd] version 1.0 is out|");
  // A failed match leaves the previous values.
  EXPECT_EQ(run(kReq + "if header :matches \"Subject\" \"[*]*\" {}\n"
                       "if header :matches \"Subject\" \"nope*\" {}\nfileinto \"${1}\";",
                msg),
            "fileinto acme-users");
  EXPECT_EQ(run(kReq + "if string :matches \"a?c\" \"a?c\" { fileinto \"[${1}]\"; }"),
            "fileinto [?]");
}

TEST(SieveVariables, StringTest) {
  Harness run;
  EXPECT_EQ(run(kReq + "set \"x\" \"abc\"; if string :is \"${x}\" \"abc\" { fileinto \"yes\"; }"),
            "fileinto yes");
  // :count ignores empty strings (RFC 5229 5).
  EXPECT_EQ(run(kReq + "if string :count \"eq\" :comparator \"i;ascii-numeric\" [\"a\", \"\", "
                       "\"b\"] \"2\" { fileinto \"two\"; }"),
            "fileinto two");
}

TEST(SieveVariables, LengthIsBounded) {
  Harness run;
  run.limits.max_variable_bytes = 8;
  EXPECT_EQ(run(kReq + "set \"x\" \"0123456789\"; fileinto \"${x}\";"), "fileinto 01234567");
  run.limits.max_variables = 2;
  EXPECT_EQ(run(kReq + "set \"a\" \"1\"; set \"b\" \"2\"; set \"c\" \"3\";"),
            "runtime error: line 2: more than 2 variables");
}

TEST(SieveVariables, ExpandFunction) {
  auto lookup = [](const std::string& n) -> std::optional<std::string> {
    if (n == "a.b") return "ns";
    if (n == "1") return "one";
    return std::nullopt;
  };
  EXPECT_EQ(expand_variables("${a.b}-${1}-${01}-${a.}-${.a}", lookup), "ns-one-one-${a.}-${.a}");
}

TEST(SieveRelational, ValueAndCount) {
  Harness run;
  // RFC 5231 section 6 examples, on its message.
  const std::string msg =
      "received: ...\r\nreceived: ...\r\nsubject: example\r\nto: foo@example.com.invalid, "
      "baz@example.com.invalid\r\ncc: qux@example.com.invalid\r\n\r\n.\r\n";
  const std::string num = ":comparator \"i;ascii-numeric\"";
  EXPECT_EQ(
      run(kReq + "if address :count \"ge\" " + num + " [\"to\", \"cc\"] [\"3\"] { discard; }", msg),
      "discard");
  EXPECT_EQ(run(kReq + "if anyof ( address :count \"ge\" " + num +
                    " [\"to\"] [\"3\"], address :count \"ge\" " + num +
                    " [\"cc\"] [\"3\"] ) { discard; }",
                msg),
            "keep");
  EXPECT_EQ(
      run(kReq + "if header :count \"ge\" " + num + " [\"received\"] [\"3\"] { discard; }", msg),
      "keep");
  EXPECT_EQ(run(kReq + "if header :count \"ge\" " + num +
                    " [\"received\", \"subject\"] [\"3\"] { discard; }",
                msg),
            "discard");
  EXPECT_EQ(
      run(kReq + "if header :count \"ge\" " + num + " [\"to\", \"cc\"] [\"3\"] { discard; }", msg),
      "keep");
  EXPECT_EQ(run(kReq + "if header :value \"gt\" " + num + " \"X-Spam-Score\" \"10\" { discard; }"),
            "discard");
  EXPECT_EQ(run(kReq + "if header :value \"lt\" " + num + " \"X-Spam-Score\" \"10\" { discard; }"),
            "keep");
  EXPECT_EQ(run(kReq + "if header :value \"lt\" \"Subject\" \"M\" { discard; }"), "discard");
  EXPECT_EQ(sieve_test::compile_error(kReq + "if header :value \"bigger\" \"a\" \"b\" { keep; }"),
            "line 2: unknown relational operator \"bigger\" (gt ge lt le eq ne)");
}

TEST(SieveRegex, MatchesAndCaptures) {
  Harness run;
  EXPECT_EQ(
      run(kReq +
          "if header :regex \"subject\" \"^lunch (on|at) (.*)\\\\?$\" { fileinto \"${1}-${2}\"; }"),
      "fileinto on-Friday");
  EXPECT_EQ(
      run(kReq + "if header :regex :comparator \"i;octet\" \"subject\" \"^lunch\" { discard; }"),
      "keep");
  EXPECT_EQ(run(kReq + "if header :regex \"subject\" \"[\" { discard; }")
                .rfind("runtime error: line 2: bad regular expression \"[\"", 0),
            0u);
}

TEST(SieveSubaddress, UserAndDetail) {
  Harness run;
  // RFC 5233 examples: envelope "to" is user+lists@example.com.
  EXPECT_EQ(run(kReq + "if envelope :user \"to\" \"user\" { fileinto \"u\"; }"), "fileinto u");
  EXPECT_EQ(run(kReq + "if envelope :detail \"to\" \"lists\" { fileinto \"d-${0}\"; }"),
            "fileinto d-");
  EXPECT_EQ(run(kReq + "if envelope :detail :matches \"to\" \"*\" { fileinto \"d/${1}\"; }"),
            "fileinto d/lists");
  // No "+": :detail does not match, not even "" or "*".
  run.envelope.to = "user@example.com";
  EXPECT_EQ(run(kReq + "if envelope :detail :matches \"to\" \"*\" { fileinto \"d\"; }"), "keep");
  // "+" with nothing after it: the detail is "".
  run.envelope.to = "user+@example.com";
  EXPECT_EQ(run(kReq + "if envelope :detail :is \"to\" \"\" { fileinto \"empty\"; }"),
            "fileinto empty");
  EXPECT_EQ(run(kReq + "if address :user \"from\" \"joe\" { fileinto \"joe\"; }"), "fileinto joe");
}

}  // namespace
}  // namespace cubby::sieve
