// Tests of the LMTP engine's command replies: greeting, LHLO, MAIL, RCPT, DATA refusals, RSET,
// NOOP, QUIT, VRFY, AUTH, STARTTLS, authentication, command-line limits (engine.h).
#include <gtest/gtest.h>

#include <regex>

#include "server/lmtp/engine.h"
#include "tests/lmtp/engine_test_backend.h"

namespace cubby::lmtp {
namespace {

using test::Harness;

const std::string kSyntax = "500 5.5.2 Syntax error\r\n";
const std::string kBadParams = "501 5.5.4 Syntax error in parameters\r\n";

TEST(EngineCommands, Greeting) {
  Harness h;
  EXPECT_EQ(h.open(), "220 mail.example.com Cubby LMTP server ready\r\n");
}

TEST(EngineCommands, LhloCapabilitiesInCyrusOrder) {
  Harness h;
  h.open("mail.example.com-1-2-3-4");
  EXPECT_EQ(h.send("LHLO mx.example.com\r\n"),
            "250-mail.example.com\r\n"
            "250-8BITMIME\r\n"
            "250-ENHANCEDSTATUSCODES\r\n"
            "250-PIPELINING\r\n"
            "250-SIZE 2147483647\r\n"
            "250-CHUNKING\r\n"
            "250-SMTPUTF8\r\n"
            "250-AUTH EXTERNAL\r\n"
            "250-IGNOREQUOTA\r\n"
            "250 Ok SESSIONID=<mail.example.com-1-2-3-4>\r\n");
  EXPECT_EQ(h.send("lhlo again\r\n").substr(0, 22), "250-mail.example.com\r\n")
      << "LHLO may repeat";
}

TEST(EngineCommands, LhloWithoutPreauthHasNoAuthAndShowsTheSizeLimit) {
  Harness h;
  h.peer.preauth = false;
  h.config.max_message_size = 10485760;
  h.open("sid");
  EXPECT_EQ(h.send("LHLO x\r\n"),
            "250-mail.example.com\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
            "250-SIZE 10485760\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-IGNOREQUOTA\r\n"
            "250 Ok SESSIONID=<sid>\r\n");
}

TEST(EngineCommands, KeywordFormsAsCyrus) {
  Harness h;
  h.open();
  for (const char* bad :
       {"LHLO",           "LHLO",     "HELO x",   "EHLO x", "",      " NOOP",     "NOOP x", "NOOP ",
        "QUIT ",          "RSET x",   "DATA x",   "VRFY",   "AUTH",  "ETRN x",    "EXPN x", "HELP",
        "XCLIENT NAME=x", "STARTTLS", "starttls", "BDAT",   "LHLOx", "RCPTTO:<a>"}) {
    EXPECT_EQ(h.send(std::string(bad) + "\r\n"), kSyntax) << bad;
  }
  EXPECT_EQ(h.send("noop\r\n"), "250 2.0.0 ok\r\n");
  EXPECT_EQ(h.send("NoOp\r\n"), "250 2.0.0 ok\r\n");
  EXPECT_EQ(h.send("vrfy alice\r\n"), "252 2.3.3 try RCPT to attempt delivery\r\n");
  EXPECT_EQ(h.send("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n"),
            "504 5.5.4 Unrecognized authentication type\r\n");
  // A pre-authenticated peer is offered EXTERNAL only (engine_auth_test.cc has the rest).
  EXPECT_EQ(h.send("AUTH EXTERNAL\r\n"), "334 \r\n");
  EXPECT_EQ(h.send("*\r\n"), "501 5.7.0 Authentication cancelled\r\n");
}

TEST(EngineCommands, LhloArgumentWithControlCharactersIsRefused) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("LHLO a\rReceived: forged\r\n"), kBadParams);
  EXPECT_EQ(h.send(std::string("LHLO a\0b\r\n", 10)), kBadParams);
  EXPECT_EQ(h.send("LHLO a\tb\r\n"), kBadParams);
}

TEST(EngineCommands, QuitClosesAndIgnoresTheRest) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("QUIT\r\nNOOP\r\n"), "221 2.0.0 bye\r\n");
  EXPECT_TRUE(h.engine->closed());
  EXPECT_EQ(h.send("NOOP\r\n"), "");
  EXPECT_EQ(h.engine->buffered_input(), 0u);
}

TEST(EngineCommands, RsetIssuesANewSessionIdAndResets) {
  Harness h;
  h.open("old-sid");
  h.envelope({"alice@example.com"});
  EXPECT_TRUE(h.engine->in_transaction());
  const std::string out = h.send("RSET\r\n");
  const std::string sid = h.engine->session_id();
  EXPECT_NE(sid, "old-sid");
  EXPECT_EQ(out, "250 2.0.0 Ok SESSIONID=<" + sid + ">\r\n");
  EXPECT_TRUE(std::regex_match(sid, std::regex("mail\\.example\\.com-[0-9]+-[0-9]+-[0-9]+-[0-9]+")))
      << sid;
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.send("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<>\r\n"), "250 2.1.0 ok\r\n");
  h.send("RSET\r\n");
  EXPECT_NE(h.engine->session_id(), sid);
}

TEST(EngineCommands, NewSessionIdsDiffer) {
  const std::string a = new_session_id("host"), b = new_session_id("host");
  EXPECT_NE(a, b);
  EXPECT_TRUE(std::regex_match(a, std::regex("host-[0-9]+-[0-9]+-[0-9]+-[0-9]+"))) << a;
}

TEST(EngineCommands, MailReplies) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org>\r\n"), "250 2.1.0 ok\r\n")
      << "MAIL before LHLO is allowed";
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org>\r\n"), "503 5.5.1 Nested MAIL command\r\n");
  h.send("RSET\r\n");
  EXPECT_EQ(h.send("MAIL FROM: <bob@example.org>\r\n"), kBadParams);
  EXPECT_EQ(h.send("MAIL FROM:bob@example.org\r\n"), kBadParams);
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org> RET=HDRS\r\n"),
            "501 5.5.4 Unrecognized parameters\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org> SIZE=\r\n"), "501 5.5.2 SIZE requires a value\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org> BODY=BINARYMIME\r\n"),
            "501 5.5.4 Unrecognized BODY type\r\n");
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.send("mail from:<> body=8bitmime size=100 auth=<> smtputf8\r\n"), "250 2.1.0 ok\r\n");
}

TEST(EngineCommands, DeclaredSizeAgainstTheLimit) {
  Harness h;
  h.config.max_message_size = 1000;
  h.open();
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org> SIZE=1001\r\n"),
            "552 5.2.3 Message SIZE exceeds fixed maximum message size (1000)\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org> SIZE=1000\r\n"), "250 2.1.0 ok\r\n");

  Harness unlimited;
  unlimited.open();
  EXPECT_EQ(unlimited.send("MAIL FROM:<> SIZE=2147483648\r\n"),
            "552 5.2.3 Message SIZE exceeds fixed maximum message size (2147483647)\r\n");
  EXPECT_EQ(unlimited.send("MAIL FROM:<> SIZE=999999999999999999999999\r\n"),
            "552 5.2.3 Message SIZE exceeds fixed maximum message size (2147483647)\r\n");
  EXPECT_EQ(unlimited.send("MAIL FROM:<> SIZE=2147483647\r\n"), "250 2.1.0 ok\r\n");
}

TEST(EngineCommands, UnauthenticatedPeerMustAuthenticateBeforeMail) {
  Harness soft;
  soft.peer.preauth = false;
  soft.open();
  EXPECT_EQ(soft.send("MAIL FROM:<x@y>\r\n"), "430 4.7.0 Authentication required\r\n");
  EXPECT_EQ(soft.send("mailx\r\n"), "430 4.7.0 Authentication required\r\n")
      << "as Cyrus: any m...";
  EXPECT_EQ(soft.send("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(soft.send("DATA\r\n"), "503 5.5.1 No recipients\r\n");
  EXPECT_EQ(soft.send("NOOP\r\n"), "250 2.0.0 ok\r\n");

  Harness hard;
  hard.peer.preauth = false;
  hard.config.soft_noauth = false;
  hard.open();
  EXPECT_EQ(hard.send("MAIL FROM:<x@y>\r\n"), "530 5.7.0 Authentication required\r\n");
}

TEST(EngineCommands, RcptReplies) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("RCPT TO:<alice@example.com>\r\n"), "503 5.5.1 Need MAIL command\r\n");
  h.send("MAIL FROM:<bob@example.org> SIZE=42 AUTH=admin+40example.org\r\n");
  EXPECT_EQ(h.send("RCPT TO:<alice@example.com>\r\n"), "250 2.1.5 ok\r\n");
  EXPECT_EQ(h.send("RCPT TO:<nobody@example.com>\r\n"),
            "550-Mailbox unknown.  Either there is no mailbox associated with this\r\n"
            "550-name or you do not have authorization to see it.\r\n"
            "550 5.1.1 User unknown\r\n");
  EXPECT_EQ(h.send("RCPT TO:<>\r\n"), kBadParams);
  EXPECT_EQ(h.send("RCPT TO: <alice@example.com>\r\n"), kBadParams);
  EXPECT_EQ(h.send("RCPT TO:<alice@example.com> NOTIFY=NEVER\r\n"),
            "501 5.5.4 Unrecognized parameters\r\n");
  EXPECT_EQ(h.send("rcpt to:<@relay.example:bob@example.com> ignorequota\r\n"), "250 2.1.5 ok\r\n");

  ASSERT_EQ(h.backend.checked.size(), 3u) << "syntax errors never reach the backend";
  EXPECT_EQ(h.backend.checked[0].address, "alice@example.com");
  EXPECT_FALSE(h.backend.checked[0].ignore_quota);
  EXPECT_EQ(h.backend.checked[0].declared_size, 42u);
  EXPECT_EQ(h.backend.checked[0].auth_id, "admin@example.org");
  EXPECT_EQ(h.backend.checked[2].address, "bob@example.com");
  EXPECT_TRUE(h.backend.checked[2].ignore_quota);
}

TEST(EngineCommands, TooManyRecipientsCountsOnlyAccepted) {
  Harness h;
  h.config.max_recipients = 2;
  h.open();
  h.send("MAIL FROM:<>\r\n");
  EXPECT_EQ(h.send("RCPT TO:<alice@x>\r\n"), "250 2.1.5 ok\r\n");
  EXPECT_EQ(h.send("RCPT TO:<nobody@x>\r\n").substr(0, 4), "550-");
  EXPECT_EQ(h.send("RCPT TO:<bob@x>\r\n"), "250 2.1.5 ok\r\n");
  EXPECT_EQ(h.send("RCPT TO:<carol@x>\r\n"), "452 4.5.3 Too many recipients\r\n");
  EXPECT_EQ(h.send("RCPT TO:<alice@x>\r\n"), "452 4.5.3 Too many recipients\r\n");
  EXPECT_EQ(h.send("DATA\r\n"), "354 go ahead\r\n");
  EXPECT_EQ(h.backend.opened_for.back(), 2u);
}

TEST(EngineCommands, Smtputf8Addresses) {
  Harness h;
  h.backend.users.insert("j\xC3\xBCrgen");
  h.open();
  EXPECT_EQ(h.send("MAIL FROM:<d\xC3\xB6rte@b\xC3\xBC"
                   "cher.example>\r\n"),
            "553 5.6.7 Non-ASCII addresses require SMTPUTF8\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<bob@example.org>\r\n"), "250 2.1.0 ok\r\n");
  EXPECT_EQ(h.send("RCPT TO:<j\xC3\xBCrgen@example.com>\r\n"),
            "553 5.6.7 Non-ASCII addresses require SMTPUTF8\r\n");
  h.send("RSET\r\n");
  EXPECT_EQ(h.send("MAIL FROM:<d\xC3\xB6rte@b\xC3\xBC"
                   "cher.example> SMTPUTF8\r\n"),
            "250 2.1.0 ok\r\n");
  EXPECT_EQ(h.send("RCPT TO:<j\xC3\xBCrgen@example.com>\r\n"), "250 2.1.5 ok\r\n");
  EXPECT_EQ(h.backend.checked.back().address, "j\xC3\xBCrgen@example.com");
  EXPECT_EQ(h.send("RCPT TO:<j\xFCrgen@example.com>\r\n"), kBadParams) << "not UTF-8";
}

TEST(EngineCommands, DataRefusals) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("DATA\r\n"), "503 5.5.1 No recipients\r\n");
  h.send("MAIL FROM:<>\r\n");
  EXPECT_EQ(h.send("DATA\r\n"), "503 5.5.1 No recipients\r\n");
  h.send("RCPT TO:<nobody@x>\r\n");
  EXPECT_EQ(h.send("DATA\r\n"), "503 5.5.1 No recipients\r\n");
  EXPECT_TRUE(h.engine->in_transaction());
}

TEST(EngineCommands, StageFileFailureRepliesInsteadOf354AndResets) {
  Harness h;
  h.backend.open_failure =
      make_reply(451, "4.3.1", "cannot create temporary file: No space left on device");
  h.open();
  h.envelope({"alice@x", "bob@x"});
  EXPECT_EQ(h.send("DATA\r\n"),
            "451 4.3.1 cannot create temporary file: No space left on device\r\n");
  EXPECT_FALSE(h.engine->in_transaction());
  EXPECT_EQ(h.send("MAIL FROM:<>\r\n"), "250 2.1.0 ok\r\n");
}

TEST(EngineCommands, CommandLineAtTheLimit) {
  Harness h;
  h.config.max_command_line = 64;
  h.open();
  std::string at_limit = "VRFY " + std::string(64 - 7, 'a') + "\r\n";
  ASSERT_EQ(at_limit.size(), 64u);
  EXPECT_EQ(h.send(at_limit), "252 2.3.3 try RCPT to attempt delivery\r\n");
  std::string over = "VRFY " + std::string(64 - 6, 'a') + "\r\n";
  EXPECT_EQ(h.send(over), "500 5.5.2 Line too long\r\n");
  // The same, byte by byte.
  std::string out;
  for (char c : at_limit + over + "NOOP\r\n") out += h.send(std::string(1, c));
  EXPECT_EQ(
      out, "252 2.3.3 try RCPT to attempt delivery\r\n500 5.5.2 Line too long\r\n250 2.0.0 ok\r\n");
}

TEST(EngineCommands, HugeCommandLineIsRefusedWholeInBoundedMemory) {
  Harness h;
  h.open();
  const size_t limit = h.config.max_command_line;
  std::string out = h.send("MAIL FROM:<");
  const std::string chunk(65536, 'x');
  size_t sent = 0;
  while (sent < 10 * 1000 * 1000) {
    out += h.send(chunk);
    sent += chunk.size();
    ASSERT_LT(h.engine->buffered_input(), limit) << "after " << sent << " bytes";
  }
  // The CR and LF arrive in different reads; then a command in the same read as the LF.
  out += h.send("\r");
  EXPECT_LT(h.engine->buffered_input(), limit);
  out += h.send("\nNOOP\r\n");
  EXPECT_EQ(out, "500 5.5.2 Line too long\r\n250 2.0.0 ok\r\n")
      << "one refusal; no fragment of the line is taken as a command";
  EXPECT_FALSE(h.engine->in_transaction());
}

TEST(EngineCommands, HugeCommandLineInOneRead) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("RCPT TO:<" + std::string(10 * 1000 * 1000, 'a') + ">\r\nQUIT\r\n"),
            "500 5.5.2 Line too long\r\n221 2.0.0 bye\r\n");
}

TEST(EngineCommands, BareLfEndsACommandLineAsInCyrus) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("NOOP\nNOOP\r\n"), "250 2.0.0 ok\r\n250 2.0.0 ok\r\n");
  EXPECT_EQ(h.send("NOOP\n"), "250 2.0.0 ok\r\n");
  // One CR is stripped before the LF, not two (Cyrus: "NOOP\r" is no command).
  EXPECT_EQ(h.send("NOOP\r\r\n"), kSyntax);
  // A CR alone ends nothing.
  EXPECT_EQ(h.send("NOOP\rNOOP\n"), kSyntax);
  // Byte by byte, and the LF in a read of its own.
  std::string out;
  for (char c : std::string("VRFY a\nNOOP\n")) out += h.send(std::string(1, c));
  EXPECT_EQ(out, "252 2.3.3 try RCPT to attempt delivery\r\n250 2.0.0 ok\r\n");
}

TEST(EngineCommands, BareLfTransactionIsDeliveredAndDataStillNeedsCrlfDotCrlf) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("LHLO x\n").substr(0, 4), "250-");
  EXPECT_EQ(h.send("MAIL FROM:<a@x>\nRCPT TO:<alice@x>\nDATA\n"),
            "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
  // <LF>.<LF> is content, not the end (smuggling); only <CRLF>.<CRLF> ends the message.
  EXPECT_EQ(h.send("Subject: s\n\nbody\n.\nMAIL FROM:<evil@x>\n"), "");
  EXPECT_FALSE(h.engine->awaiting_delivery());
  h.send("end\r\n.\r\n");
  EXPECT_TRUE(h.engine->awaiting_delivery());
}

TEST(EngineCommands, BareLfLineAtTheLimit) {
  Harness h;
  h.config.max_command_line = 64;
  h.open();
  const std::string at_limit = "VRFY " + std::string(64 - 6, 'a') + "\n";
  ASSERT_EQ(at_limit.size(), 64u);
  EXPECT_EQ(h.send(at_limit), "252 2.3.3 try RCPT to attempt delivery\r\n");
  EXPECT_EQ(h.send("VRFY " + std::string(64 - 5, 'a') + "\nNOOP\n"),
            "500 5.5.2 Line too long\r\n250 2.0.0 ok\r\n");
  // Discarding an over-long line stops at a bare LF too.
  std::string out = h.send(std::string(200, 'x'));
  out += h.send("\nNOOP\n");
  EXPECT_EQ(out, "500 5.5.2 Line too long\r\n250 2.0.0 ok\r\n");
}

TEST(EngineCommands, BareLfEndsAnAuthResponse) {
  Harness h;
  h.open();
  EXPECT_EQ(h.send("AUTH EXTERNAL\n"), "334 \r\n");
  EXPECT_EQ(h.send("\n"), "235 2.7.0 Authentication successful\r\n");
}

}  // namespace
}  // namespace cubby::lmtp
