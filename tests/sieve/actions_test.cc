// The action extensions: fileinto (RFC 5228 4.1), copy (RFC 3894), reject/ereject (RFC 5429),
// redirect, mailbox (RFC 5490), imap4flags (RFC 5232), and how actions combine and are limited.
#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;

TEST(SieveFileinto, CancelsImplicitKeepUnlessCopy) {
  Harness run;
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"Work/Projects\";"), "fileinto Work/Projects");
  EXPECT_EQ(run("require [\"fileinto\", \"copy\"]; fileinto :copy \"Archive\";"),
            "fileinto Archive :copy | keep");
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"A\"; fileinto \"A\"; fileinto \"B\";"),
            "fileinto A | fileinto B");
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"A\"; keep;"), "fileinto A | keep");
  // keep and fileinto "INBOX" are one delivery into the INBOX (RFC 5228 2.10.3).
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"INBOX\"; keep;"), "fileinto INBOX");
  EXPECT_EQ(run("require [\"fileinto\", \"copy\"]; fileinto :copy \"inbox\";"),
            "fileinto inbox :copy");
  // The later of two stores into one mailbox sets the flags (as Pigeonhole does).
  EXPECT_EQ(run("require [\"fileinto\", \"imap4flags\"];\n"
                "keep :flags \"a\"; fileinto :flags \"\\\\Seen\" \"INBOX\";"),
            "keep [\\Seen]");
  EXPECT_EQ(run("require [\"fileinto\", \"imap4flags\"];\n"
                "fileinto :flags \"a\" \"A\"; fileinto :flags \"b\" \"A\";"),
            "fileinto A [b]");
  EXPECT_EQ(run("require \"fileinto\"; fileinto \"\";"),
            "runtime error: line 1: fileinto needs a mailbox name");
}

TEST(SieveRedirect, AddressesAndCopy) {
  Harness run;
  EXPECT_EQ(run("redirect \"boss@example.com\";"), "redirect boss@example.com");
  EXPECT_EQ(run("require \"copy\"; redirect :copy \"boss@example.com\";"),
            "redirect boss@example.com :copy | keep");
  // One address given twice is one redirect; the local part is case-sensitive (RFC 5321 2.4).
  EXPECT_EQ(run("redirect \"Boss <boss@example.com>\"; redirect \"boss@EXAMPLE.com\";"),
            "redirect boss@example.com");
  EXPECT_EQ(run("redirect \"boss@example.com\"; redirect \"BOSS@example.com\";"),
            "redirect boss@example.com | redirect BOSS@example.com");
  EXPECT_EQ(run("redirect \"not an address\";"),
            "runtime error: line 1: redirect to an invalid address \"not an address\"");
}

TEST(SieveRedirect, LimitGivesImplicitKeep) {
  Harness run;
  run.limits.max_redirects = 2;
  auto o = run.outcome("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\";");
  ASSERT_TRUE(o.error.has_value());
  EXPECT_EQ(o.error->message, "line 1: more than 2 redirects");
  ASSERT_EQ(o.actions.size(), 1u);
  EXPECT_EQ(o.actions[0].kind, Action::Kind::kKeep);
  EXPECT_TRUE(o.actions[0].implicit);
}

TEST(SieveActions, ActionLimit) {
  Harness run;
  run.limits.max_actions = 3;
  EXPECT_EQ(
      run("require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"c\"; fileinto \"d\";"),
      "runtime error: line 1: more than 3 actions");
}

TEST(SieveReject, RejectAndEreject) {
  Harness run;
  EXPECT_EQ(run("require \"reject\"; reject \"I don't want it\";"), "reject I don't want it");
  EXPECT_EQ(run("require \"ereject\"; ereject \"no\";"), "ereject no");
  EXPECT_EQ(run("require \"reject\"; reject text:\nline 1\nline 2\n.\n;"),
            "reject line 1\r\nline 2\r\n");
  EXPECT_EQ(run("require \"reject\"; discard; reject \"no\";"), "discard | reject no");
}

TEST(SieveReject, ConflictsWithDeliveringActions) {
  Harness run;
  // RFC 5429 2.1: reject with keep, fileinto or redirect is a runtime error: implicit keep.
  EXPECT_EQ(run("require \"reject\"; keep; reject \"no\";"),
            "runtime error: line 1: reject/ereject cannot be combined with keep, fileinto, "
            "redirect or vacation");
  EXPECT_EQ(run("require [\"reject\", \"fileinto\"];\nreject \"no\";\nfileinto \"x\";"),
            "runtime error: line 3: reject/ereject cannot be combined with keep, fileinto, "
            "redirect or vacation");
  EXPECT_EQ(
      run("require \"reject\"; redirect \"a@b.org\"; reject \"no\";").rfind("runtime error", 0),
      0u);
  EXPECT_EQ(run("require [\"reject\", \"vacation\"]; vacation \"away\"; reject \"no\";")
                .rfind("runtime error", 0),
            0u);
}

TEST(SieveMailbox, CreateAndExists) {
  Harness run;
  run.env.mailboxes.insert("Work");
  EXPECT_EQ(run("require [\"fileinto\", \"mailbox\"]; fileinto :create \"New/Folder\";"),
            "fileinto New/Folder :create");
  EXPECT_EQ(run("require [\"fileinto\", \"mailbox\"];\n"
                "if mailboxexists \"Work\" { fileinto \"Work\"; } else { fileinto \"INBOX\"; }"),
            "fileinto Work");
  EXPECT_EQ(run("require [\"fileinto\", \"mailbox\"];\n"
                "if mailboxexists [\"Work\", \"Nope\"] { fileinto \"Work\"; }"),
            "keep");
  EXPECT_EQ(sieve_test::compile_error("require \"fileinto\"; fileinto :create \"x\";"),
            "line 1: the tag :create needs require \"mailbox\"");
}

TEST(SieveFlags, SetAddRemoveAndImplicitKeep) {
  Harness run;
  const std::string req = "require [\"imap4flags\", \"fileinto\"];\n";
  // RFC 5232 examples: the internal variable is used by keep, fileinto and the implicit keep.
  EXPECT_EQ(run(req + "setflag \"\\\\Seen\"; addflag [\"\\\\Flagged\", \"$Work\"];"),
            "keep [\\Seen \\Flagged $Work]");
  EXPECT_EQ(
      run(req + "addflag \"\\\\Seen \\\\Answered\"; removeflag \"\\\\seen\"; fileinto \"A\";"),
      "fileinto A [\\Answered]");
  EXPECT_EQ(run(req + "addflag \"a\"; addflag \"A\"; addflag \"b a\";"), "keep [a b]");
  EXPECT_EQ(run(req + "setflag \"x\"; setflag \"y\";"), "keep [y]");
  // :flags replaces the internal variable for that action only.
  EXPECT_EQ(run(req + "setflag \"x\"; fileinto :flags \"\\\\Seen\" \"A\"; keep;"),
            "fileinto A [\\Seen] | keep [x]");
  EXPECT_EQ(run(req + "fileinto :flags \"\" \"A\";"), "fileinto A");
}

TEST(SieveFlags, HasflagAndVariables) {
  Harness run;
  const std::string req =
      "require [\"imap4flags\", \"variables\", \"fileinto\", \"relational\", "
      "\"comparator-i;ascii-numeric\"];\n";
  EXPECT_EQ(run(req + "addflag \"\\\\Seen\"; if hasflag \"\\\\seen\" { fileinto \"yes\"; }"),
            "fileinto yes [\\Seen]");
  EXPECT_EQ(run(req + "addflag \"a b c\"; if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" "
                      "\"3\" { fileinto \"three\"; }"),
            "fileinto three [a b c]");
  EXPECT_EQ(run(req + "addflag \"myflags\" \"x y\"; removeflag \"myflags\" \"x\";\n"
                      "if hasflag \"myflags\" \"y\" { fileinto \"${myflags}\"; } keep;"),
            "fileinto y | keep");
  EXPECT_EQ(run(req + "if hasflag :contains \"x\" { fileinto \"no\"; }"), "keep");
  EXPECT_EQ(sieve_test::compile_error("require \"imap4flags\"; setflag \"var\" \"x\";"),
            "line 1: a variable name in 'setflag' needs require \"variables\"");
}

}  // namespace
}  // namespace cubby::sieve
