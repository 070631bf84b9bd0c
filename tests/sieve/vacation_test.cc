// Vacation (RFC 5230) and vacation-seconds (RFC 6131): the answer's fields and every rule that
// holds it back (RFC 5230 4.5-4.6, RFC 3834), including once per period per sender.
#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;
const std::string kVacation = "require \"vacation\";\nvacation :days 7 \"I'm away\";";

Action vacation_of(const Outcome& o) {
  for (const auto& a : o.actions)
    if (a.kind == Action::Kind::kVacation) return a;
  ADD_FAILURE() << "no vacation action in: " << sieve_test::summary(o);
  return Action{};
}

std::string why_not(Harness& run, const std::string& message) {
  return vacation_of(run.outcome(kVacation, message)).why_not;
}

TEST(SieveVacation, AnswersTheSenderAndKeeps) {
  Harness run;
  auto o = run.outcome(kVacation);
  EXPECT_EQ(sieve_test::summary(o), "vacation sent to joe@example.org | keep");
  const Action a = vacation_of(o);
  EXPECT_EQ(a.subject, "Auto: Lunch on Friday?");
  EXPECT_EQ(a.reason, "I'm away");
  EXPECT_EQ(a.period, std::chrono::seconds(7 * 86400));
  EXPECT_FALSE(a.mime);
}

TEST(SieveVacation, Arguments) {
  Harness run;
  auto a = vacation_of(run.outcome(
      "require [\"vacation\", \"vacation-seconds\"];\n"
      "vacation :seconds 3600 :subject \"Out\" :from \"me@example.com\" :mime :handle \"h1\" "
      "text:\nContent-Type: text/plain\n\nAway.\n.\n;"));
  EXPECT_EQ(a.subject, "Out");
  EXPECT_EQ(a.from, "me@example.com");
  EXPECT_TRUE(a.mime);
  EXPECT_EQ(a.handle, "h1");
  EXPECT_EQ(a.reason, "Content-Type: text/plain\r\n\r\nAway.\r\n");
  // Periods are clamped to the site's minimum and maximum.
  EXPECT_EQ(a.period, run.limits.vacation_min_period);
  a = vacation_of(run.outcome("require \"vacation\"; vacation :days 1000 \"x\";"));
  EXPECT_EQ(a.period, run.limits.vacation_max_period);
  EXPECT_EQ(sieve_test::compile_error("require \"vacation\"; vacation :seconds 10 \"x\";"),
            "line 1: the tag :seconds needs require \"vacation-seconds\"");
  EXPECT_EQ(
      sieve_test::compile_error(
          "require [\"vacation\", \"vacation-seconds\"]; vacation :days 1 :seconds 10 \"x\";"),
      "line 1: tags :days and :seconds exclude each other");
}

TEST(SieveVacation, OncePerPeriodPerSender) {
  Harness run;
  auto first = run.outcome(kVacation);
  EXPECT_TRUE(vacation_of(first).sent);
  run.env.record(first);
  auto second = run.outcome(kVacation);
  EXPECT_FALSE(vacation_of(second).sent);
  EXPECT_EQ(vacation_of(second).why_not,
            "an answer was already sent to this sender within the period");
  // Another sender gets an answer.
  run.envelope.from = "ann@example.org";
  EXPECT_TRUE(vacation_of(run.outcome(kVacation)).sent);
  // A different :handle (or different text) is a different answer.
  run.envelope.from = "joe@example.org";
  EXPECT_TRUE(
      vacation_of(run.outcome("require \"vacation\"; vacation :days 7 \"Other text\";")).sent);
  // After the period, the same sender is answered again.
  run.env.clock += std::chrono::hours(24 * 7 + 1);
  EXPECT_TRUE(vacation_of(run.outcome(kVacation)).sent);
}

TEST(SieveVacation, NeverToAutomatedMail) {
  Harness run;
  const std::string base = "From: joe@example.org\r\nTo: user@example.com\r\nSubject: hi\r\n";
  EXPECT_EQ(why_not(run, base + "\r\nx\r\n"), "");
  EXPECT_EQ(why_not(run, base + "Auto-Submitted: no\r\n\r\nx\r\n"), "");
  EXPECT_EQ(why_not(run, base + "Auto-Submitted: auto-replied\r\n\r\nx\r\n"),
            "the message is Auto-Submitted: auto-replied");
  EXPECT_EQ(why_not(run, base + "List-Id: <x.example.org>\r\n\r\nx\r\n"),
            "the message comes from a mailing list (List-Id)");
  EXPECT_EQ(why_not(run, base + "list-unsubscribe: <mailto:x>\r\n\r\nx\r\n"),
            "the message comes from a mailing list (list-unsubscribe)");
  EXPECT_EQ(why_not(run, base + "Precedence: bulk\r\n\r\nx\r\n"),
            "the message has Precedence: bulk");
  EXPECT_EQ(why_not(run, base + "Precedence: JUNK\r\n\r\nx\r\n"),
            "the message has Precedence: JUNK");
  EXPECT_EQ(why_not(run, base + "Precedence: first-class\r\n\r\nx\r\n"), "");
}

TEST(SieveVacation, NeverToDaemonsListsOrOneself) {
  Harness run;
  const std::string msg = "From: x\r\nTo: user@example.com\r\n\r\nx\r\n";
  for (const char* sender : {"MAILER-DAEMON@example.org", "owner-list@example.org",
                             "list-request@example.org", "listserv@example.org"}) {
    run.envelope.from = sender;
    EXPECT_FALSE(vacation_of(run.outcome(kVacation, msg)).sent) << sender;
  }
  run.envelope.from = "";
  EXPECT_EQ(why_not(run, msg), "the message has a null sender");
  run.envelope.from = "USER@example.com";
  EXPECT_EQ(why_not(run, msg), "the sender is the user");
}

TEST(SieveVacation, OnlyWhenTheUserIsARecipient) {
  Harness run;
  run.envelope.to = "user+lists@example.com";
  // The envelope recipient without its detail counts as the user's address.
  EXPECT_EQ(why_not(run, "To: user@example.com\r\n\r\nx\r\n"), "");
  EXPECT_EQ(why_not(run, "To: USER+lists@EXAMPLE.com\r\n\r\nx\r\n"), "");
  EXPECT_EQ(why_not(run, "Cc: a@b.org, user@example.com\r\n\r\nx\r\n"), "");
  EXPECT_EQ(why_not(run, "To: all@example.com\r\n\r\nx\r\n"),
            "none of the user's addresses is in To, Cc or Bcc");
  // :addresses adds the user's other addresses (RFC 5230 4.5).
  auto a = vacation_of(
      run.outcome("require \"vacation\"; vacation :addresses [\"all@example.com\"] \"x\";",
                  "To: all@example.com\r\n\r\nx\r\n"));
  EXPECT_TRUE(a.sent);
  run.envelope.user_addresses = {"alias@example.com"};
  EXPECT_EQ(why_not(run, "To: alias@example.com\r\n\r\nx\r\n"), "");
}

TEST(SieveVacation, OnlyOnePerRun) {
  Harness run;
  EXPECT_EQ(run("require \"vacation\"; vacation \"a\"; vacation \"b\";"),
            "runtime error: line 1: only one vacation per script run");
}

}  // namespace
}  // namespace cubby::sieve
