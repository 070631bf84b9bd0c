// Compiling Sieve scripts (RFC 5228 sections 2, 3.2 and 8): what is accepted, and the error an
// author sees for what is not, "line N: what is wrong".
#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::compile_error;

TEST(SieveCompile, AcceptsTheRfcExampleScript) {
  // RFC 5228 section 9, the "complex" example (with fileinto and its require).
  const char* script = R"(
     #
     # Example Sieve Filter
     # Declare any optional features or extension used by the script
     #
     require ["fileinto"];

     #
     # Handle messages from known mailing lists
     # Move messages from IETF filter discussion list to filter mailbox
     #
     if header :is "Sender" "owner-ietf-mta-filters@imc.org"
             {
             fileinto "filter";  # move to "filter" mailbox
             }
     #
     # Keep all messages to or from people in my company
     #
     elsif address :DOMAIN :is ["From", "To"] "example.com"
             {
             keep;               # keep in "In" mailbox
             }

     #
     # Try and catch unsolicited email.  If a message is not to me,
     # or it contains a subject known to be spam, file it away.
     #
     elsif anyof (NOT address :all :contains
                    ["To", "Cc", "Bcc"] "me@example.com",
                  header :matches "subject"
                    ["*make*money*fast*", "*university*dipl*mas*"])
             {
             fileinto "spam";   # move to "spam" mailbox
             }
     else
             {
             # Move all other (non-company) mail to "personal"
             # mailbox.
             fileinto "personal";
             }
)";
  EXPECT_EQ(compile_error(script), "(compiles)");
}

TEST(SieveCompile, UnknownCommandsAndTests) {
  EXPECT_EQ(compile_error("keep;\nfrobnicate;"), "line 2: unknown command 'frobnicate'");
  EXPECT_EQ(compile_error("if frob \"x\" { keep; }"), "line 1: unknown test 'frob'");
  EXPECT_EQ(compile_error("if keep { stop; }"), "line 1: 'keep' is a command, not a test");
  EXPECT_EQ(compile_error("true;"), "line 1: 'true' is a test, not a command");
}

TEST(SieveCompile, ExtensionsNeedRequire) {
  EXPECT_EQ(compile_error("fileinto \"x\";"),
            "line 1: the command 'fileinto' needs require \"fileinto\"");
  EXPECT_EQ(compile_error("require \"fileinto\"; fileinto :copy \"x\";"),
            "line 1: the tag :copy needs require \"copy\"");
  EXPECT_EQ(compile_error("if header :regex \"a\" \"b\" { keep; }"),
            "line 1: the tag :regex needs require \"regex\"");
  EXPECT_EQ(compile_error("if envelope \"to\" \"a\" { keep; }"),
            "line 1: the test 'envelope' needs require \"envelope\"");
  EXPECT_EQ(compile_error("if header :comparator \"i;ascii-numeric\" \"x\" \"1\" { keep; }"),
            "line 1: the comparator i;ascii-numeric needs require \"comparator-i;ascii-numeric\"");
}

TEST(SieveCompile, RequireOfUnknownOrUnsupportedExtension) {
  EXPECT_EQ(compile_error("require [\"fileinto\", \"x-nonsense\"];"),
            "line 1: unknown Sieve extension \"x-nonsense\" in require");
  EXPECT_EQ(compile_error("require \"editheader\";"),
            "line 1: the Sieve extension \"editheader\" is not supported here (Cyrus has it; see "
            "docs/sieve.md)");
  for (auto ext : unsupported_cyrus_extensions()) {
    EXPECT_NE(compile_error("require \"" + std::string(ext) + "\";"), "(compiles)") << ext;
  }
  for (auto ext : supported_extensions()) {
    EXPECT_EQ(compile_error("require \"" + std::string(ext) + "\";"), "(compiles)") << ext;
  }
}

TEST(SieveCompile, RequireComesFirst) {
  EXPECT_EQ(compile_error("keep;\nrequire \"fileinto\";"),
            "line 2: require must come before any other command");
  EXPECT_EQ(compile_error("if true { require \"fileinto\"; }"),
            "line 1: require must come before any other command");
}

TEST(SieveCompile, ControlStructure) {
  EXPECT_EQ(compile_error("elsif true { keep; }"), "line 1: elsif without a preceding if");
  EXPECT_EQ(compile_error("keep;\nelse { keep; }"), "line 2: else without a preceding if");
  EXPECT_EQ(compile_error("if true keep;"), "line 1: if needs a block { ... }");
  EXPECT_EQ(compile_error("if true;"), "line 1: if needs a block { ... }");
  EXPECT_EQ(compile_error("if true { keep; "), "line 1: missing '}' at the end of the script");
  EXPECT_EQ(compile_error("keep; }"), "line 1: '}' without a matching '{'");
  EXPECT_EQ(compile_error("keep"),
            "line 1: expected ';' or '{' after 'keep', found the end of the script");
  EXPECT_EQ(compile_error("if allof true { keep; }"), "line 1: 'allof' needs a test list ( ... )");
  EXPECT_EQ(compile_error("if not (true, false) { keep; }"),
            "line 1: 'not' needs exactly one test");
  EXPECT_EQ(compile_error("if (true) { keep; }"), "line 1: 'if' needs exactly one test");
}

TEST(SieveCompile, Arguments) {
  EXPECT_EQ(compile_error("redirect;"), "line 1: 'redirect' takes 1 positional argument, not 0");
  EXPECT_EQ(compile_error("redirect [\"a@b\", \"c@d\"];"),
            "line 1: argument 1 of 'redirect' must be one string");
  EXPECT_EQ(compile_error("if size :over \"10\" { keep; }"),
            "line 1: argument 1 of 'size' must be a number");
  EXPECT_EQ(compile_error("if size 10 { keep; }"), "line 1: size needs :over or :under");
  EXPECT_EQ(compile_error("if header :is :contains \"a\" \"b\" { keep; }"),
            "line 1: tags :is and :contains exclude each other");
  EXPECT_EQ(compile_error("if header :over \"a\" \"b\" { keep; }"),
            "line 1: unknown tag :over for 'header'");
  EXPECT_EQ(compile_error("if header \"a\" :is \"b\" { keep; }"),
            "line 1: tag :is must come before the other arguments of 'header'");
  EXPECT_EQ(compile_error("if header :comparator \"i;nope\" \"a\" \"b\" { keep; }"),
            "line 1: unknown comparator \"i;nope\"");
  EXPECT_EQ(
      compile_error("require \"comparator-i;ascii-numeric\";\n"
                    "if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }"),
      "line 2: the comparator i;ascii-numeric supports only :is, :value and :count");
  EXPECT_EQ(compile_error("if header :comparator \"a\" { keep; }"),
            "line 1: 'header' takes 2 positional arguments, not 0");
}

TEST(SieveCompile, NestingLimit) {
  Limits limits;
  limits.max_nesting = 3;
  EXPECT_EQ(compile_error("if true { if true { if true { keep; } } }", limits), "(compiles)");
  EXPECT_EQ(compile_error("if true { if true { if true { if true { keep; } } } }", limits),
            "line 1: nesting deeper than 3 levels");
  EXPECT_EQ(compile_error("if not not not true { keep; }", limits),
            "line 1: nesting deeper than 3 levels");
  // A deep script does not blow the stack (the default limit stops it first).
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "if true {";
  EXPECT_NE(compile_error(deep, Limits{.max_script_bytes = 10'000'000}), "(compiles)");
}

TEST(SieveCompile, SizeLimit) {
  Limits limits;
  limits.max_script_bytes = 10;
  EXPECT_EQ(compile_error("keep; keep; keep;", limits),
            "script is 17 bytes, more than the limit of 10");
}

TEST(SieveCompile, EncodedCharacterIsDecodedOnlyWhenRequired) {
  sieve_test::Harness run;
  EXPECT_EQ(run("require [\"fileinto\", \"encoded-character\"];\n"
                "fileinto \"${hex:49 4e 42 4f 58}-${unicode:263a}\";"),
            "fileinto INBOX-\xE2\x98\xBA");
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"${hex:41}\";"), "fileinto ${hex:41}");
  // Malformed sequences are left as they are; a non-character is an error (RFC 5228 2.4.2.4).
  EXPECT_EQ(run("require [\"fileinto\", \"encoded-character\"]; fileinto "
                "\"${hex:4}${hex:zz}${unicode:}\";"),
            "fileinto ${hex:4}${hex:zz}${unicode:}");
  EXPECT_EQ(compile_error(
                "require [\"fileinto\", \"encoded-character\"];\nfileinto \"${unicode:D800}\";"),
            "line 2: ${unicode:D800} is not a Unicode character");
}

}  // namespace
}  // namespace cubby::sieve
