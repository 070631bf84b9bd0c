// Tests of deliver's LMTP session (deliver_session.h) against a scripted server on a socketpair:
// the exact commands (MAIL parameters by capability, IGNOREQUOTA, dot-stuffed data), how every
// kind of failure decides each recipient, the exit code, and the split after 452 4.5.3. The
// end-to-end tests run the same session against the real lmtpd.
#include "server/deliver/deliver_session.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "tests/deliver/deliver_scripted_lmtp.h"

namespace cubby::deliver {
namespace {

using namespace std::chrono_literals;
using deliver_test::LmtpScript;
using deliver_test::LmtpTranscript;
using deliver_test::ScriptedLmtp;
using Outcome = Recipient::Outcome;

SpooledMessage message_of(const std::string& text) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::thread writer([&] {
    EXPECT_EQ(::write(fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fds[1]);
  });
  auto m = SpooledMessage::read(fds[0], 5s);
  writer.join();
  ::close(fds[0]);
  EXPECT_TRUE(m.ok());
  return std::move(m.value());
}

Envelope envelope_to(std::vector<std::string> recipients) {
  Envelope e;
  e.mail_from = "<bob@example.org>";
  e.recipients = std::move(recipients);
  return e;
}

struct Run {
  std::vector<Recipient> recipients;
  LmtpTranscript transcript;
};

Run run(LmtpScript script, const Envelope& envelope,
        const std::string& text = "Subject: t\n\nbody\n") {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ScriptedLmtp server(sv[1], std::move(script));
  LmtpConnection connection(sv[0]);
  connection.set_timeout(5s);
  const SpooledMessage message = message_of(text);
  Run r;
  r.recipients = deliver_message(connection, "client.test", envelope, message);
  connection = LmtpConnection(-1);  // hang up, so that the server's session ends
  server.wait();
  r.transcript = server.transcript();
  return r;
}

std::vector<Outcome> outcomes(const Run& r) {
  std::vector<Outcome> out;
  for (const auto& x : r.recipients) out.push_back(x.outcome);
  return out;
}

TEST(DeliverSession, TheCommandsCyrusSends) {
  Envelope e = envelope_to({"alice", "bob+Work@example.com"});
  auto r = run(LmtpScript{}, e, "Subject: t\n\n.dot\nend");
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kDelivered, Outcome::kDelivered}));
  EXPECT_EQ(r.recipients[1].address, "bob+Work@example.com");
  EXPECT_EQ(r.transcript.commands,
            (std::vector<std::string>{
                "LHLO client.test", "RSET", "MAIL FROM:<bob@example.org> AUTH=<> SIZE=25",
                "RCPT TO:<alice>", "RCPT TO:<bob+Work@example.com>", "DATA", "QUIT"}));
  ASSERT_EQ(r.transcript.messages.size(), 1u);
  EXPECT_EQ(r.transcript.messages[0], "Subject: t\r\n\r\n..dot\r\nend\r\n.\r\n");
  EXPECT_EQ(exit_code(r.recipients), 0);
}

TEST(DeliverSession, AuthIdEightBitAndIgnoreQuota) {
  Envelope e = envelope_to({"alice"});
  e.auth_id = "carol smith";
  e.ignore_quota = true;
  auto r = run(LmtpScript{}, e, "Subject: caf\xc3\xa9\n\nx\n");
  ASSERT_GE(r.transcript.commands.size(), 4u);
  EXPECT_EQ(r.transcript.commands[2],
            "MAIL FROM:<bob@example.org> AUTH=carol+20smith BODY=8BITMIME SIZE=21");
  EXPECT_EQ(r.transcript.commands[3], "RCPT TO:<alice> IGNOREQUOTA");
}

TEST(DeliverSession, ParametersOnlyWhenOffered) {
  LmtpScript script;
  script.capabilities = {"ENHANCEDSTATUSCODES", "PIPELINING"};
  Envelope e = envelope_to({"alice"});
  e.auth_id = "carol";
  e.ignore_quota = true;
  auto r = run(script, e, "Subject: caf\xc3\xa9\n\nx\n");
  EXPECT_EQ(outcomes(r), std::vector<Outcome>{Outcome::kDelivered});
  ASSERT_GE(r.transcript.commands.size(), 4u);
  EXPECT_EQ(r.transcript.commands[2], "MAIL FROM:<bob@example.org>");
  EXPECT_EQ(r.transcript.commands[3], "RCPT TO:<alice>");
}

TEST(DeliverSession, RefusedRecipientsAndFinalReplies) {
  LmtpScript script;
  script.rcpt_reply = [](const std::string& a) -> std::string {
    if (a == "nobody") {
      return "550-Mailbox unknown.  Either there is no mailbox associated with this\r\n"
             "550-name or you do not have authorization to see it.\r\n"
             "550 5.1.1 User unknown";
    }
    if (a == "full") return "452 4.2.2 Over quota SESSIONID=<x>";
    return "250 2.1.5 ok";
  };
  script.final_reply = [](const std::string& a) -> std::string {
    return a == "broken" ? "451 4.3.0 System I/O error" : "250 2.1.5 Success";
  };
  auto r = run(script, envelope_to({"alice", "nobody", "full", "broken"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kDelivered, Outcome::kPermFail,
                                               Outcome::kTempFail, Outcome::kTempFail}));
  EXPECT_EQ(reply_text(r.recipients[1].reply), "5.1.1 User unknown");
  EXPECT_EQ(reply_text(r.recipients[2].reply), "4.2.2 Over quota SESSIONID=<x>");
  EXPECT_EQ(reply_text(r.recipients[3].reply), "4.3.0 System I/O error");
  EXPECT_EQ(exit_code(r.recipients), 75);
  // Only the accepted ones were owed a reply after the message.
  ASSERT_EQ(r.transcript.messages.size(), 1u);
}

TEST(DeliverSession, PermanentFailuresOnly) {
  LmtpScript script;
  script.rcpt_reply = [](const std::string& a) -> std::string {
    return a == "alice" ? "250 2.1.5 ok" : "550 5.1.1 User unknown";
  };
  script.final_reply = [](const std::string&) -> std::string {
    return "554 5.6.0 Message contains invalid header";
  };
  auto r = run(script, envelope_to({"alice", "nobody"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kPermFail, Outcome::kPermFail}));
  EXPECT_EQ(exit_code(r.recipients), 65);
}

TEST(DeliverSession, NobodyAcceptedMeansNoData) {
  LmtpScript script;
  script.rcpt_reply = [](const std::string&) -> std::string { return "550 5.1.1 User unknown"; };
  auto r = run(script, envelope_to({"x", "y"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kPermFail, Outcome::kPermFail}));
  EXPECT_TRUE(r.transcript.messages.empty());
  for (const auto& c : r.transcript.commands) EXPECT_NE(c, "DATA");
}

TEST(DeliverSession, GreetingOtherThan220IsTemporary) {
  LmtpScript script;
  script.greeting = "554 5.3.2 not today";
  auto r = run(script, envelope_to({"alice", "bob"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kTempFail, Outcome::kTempFail}));
  EXPECT_EQ(reply_text(r.recipients[0].reply), "5.3.2 not today");
  EXPECT_TRUE(r.transcript.commands.empty());
}

TEST(DeliverSession, MailRefusalDecidesEveryoneByItsClass) {
  LmtpScript script;
  script.mail_reply = "552 5.2.3 Message SIZE exceeds fixed maximum message size (100)";
  auto r = run(script, envelope_to({"alice", "bob"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kPermFail, Outcome::kPermFail}));
  EXPECT_EQ(exit_code(r.recipients), 65);
  script.mail_reply = "451 4.3.0 try later";
  r = run(script, envelope_to({"alice"}));
  EXPECT_EQ(outcomes(r), std::vector<Outcome>{Outcome::kTempFail});
}

TEST(DeliverSession, DataRefused) {
  LmtpScript script;
  script.data_reply = "451 4.3.2 cannot create temporary file: No space left on device";
  auto r = run(script, envelope_to({"alice"}));
  EXPECT_EQ(outcomes(r), std::vector<Outcome>{Outcome::kTempFail});
  EXPECT_EQ(reply_text(r.recipients[0].reply),
            "4.3.2 cannot create temporary file: No space left on device");
  EXPECT_TRUE(r.transcript.messages.empty());
}

TEST(DeliverSession, LostWhileSendingTheMessage) {
  LmtpScript script;
  script.close_after_354 = true;
  auto r = run(script, envelope_to({"alice"}), "Subject: big\n\n" + std::string(4 << 20, 'x'));
  EXPECT_EQ(outcomes(r), std::vector<Outcome>{Outcome::kTempFail});
  EXPECT_EQ(r.recipients[0].reply.code, 451);
  EXPECT_EQ(exit_code(r.recipients), 75);
}

TEST(DeliverSession, LostAfterSomeFinalRepliesKeepsTheDeliveredOnes) {
  LmtpScript script;
  script.final_replies_before_close = 1;
  auto r = run(script, envelope_to({"alice", "bob", "carol"}));
  EXPECT_EQ(outcomes(r),
            (std::vector<Outcome>{Outcome::kDelivered, Outcome::kTempFail, Outcome::kTempFail}));
  EXPECT_EQ(reply_text(r.recipients[1].reply), "4.4.2 lmtpd closed the connection");
}

TEST(DeliverSession, TooManyRecipientsGoInAFurtherTransaction) {
  LmtpScript script;
  script.max_recipients = 2;
  auto r = run(script, envelope_to({"r1", "r2", "r3", "r4", "r5"}));
  EXPECT_EQ(outcomes(r), std::vector<Outcome>(5, Outcome::kDelivered));
  EXPECT_EQ(r.transcript.messages.size(), 3u);
  EXPECT_EQ(exit_code(r.recipients), 0);
}

TEST(DeliverSession, TooManyRecipientsWithoutProgressIsTemporary) {
  LmtpScript script;
  script.rcpt_reply = [](const std::string& a) -> std::string {
    return a == "alice" ? "250 2.1.5 ok" : "452 4.5.3 Too many recipients";
  };
  script.final_reply = [](const std::string&) -> std::string { return "451 4.3.0 broken"; };
  auto r = run(script, envelope_to({"alice", "bob"}));
  EXPECT_EQ(outcomes(r), (std::vector<Outcome>{Outcome::kTempFail, Outcome::kTempFail}));
  EXPECT_EQ(r.transcript.messages.size(), 1u);
  EXPECT_EQ(reply_text(r.recipients[1].reply), "4.5.3 Too many recipients");
}

TEST(DeliverSession, NoServerAtAll) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ::close(sv[1]);
  LmtpConnection connection(sv[0]);
  const auto recipients =
      deliver_message(connection, "x", envelope_to({"alice"}), message_of("x\n"));
  ASSERT_EQ(recipients.size(), 1u);
  EXPECT_EQ(recipients[0].outcome, Outcome::kTempFail);
  EXPECT_EQ(exit_code(recipients), 75);
}

}  // namespace
}  // namespace cubby::deliver
