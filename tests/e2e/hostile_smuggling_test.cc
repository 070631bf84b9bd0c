// Hostile clients: SMTP smuggling (RFC 5321 §4.1.1.4, CVE-2023-51764/51765/51766 in other MTAs).
// Only <CRLF>.<CRLF> ends the data. A second message hidden behind <LF>.<LF>, <CR>.<CR>,
// <LF>.<CR><LF> or <CR><LF>.<LF> must end up inside the first message (a bare LF stored as CRLF,
// a lone CR dropped, as message_writer.h says), never as a separate delivery: the hidden
// envelope's recipient (bob) receives nothing, and the client gets exactly one reply per real
// recipient.
#include "tests/e2e/fixture.h"
#include "tests/e2e/hostile.h"

namespace cubby::e2e {
namespace {

using HostileSmuggling = CubbyTest;

struct Attempt {
  const char* name;
  const char* end;  // what the attacker hopes ends the first message
};

TEST_F(HostileSmuggling, HiddenSecondMessageStaysInsideTheFirst) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  const Attempt attempts[] = {
      {"LF.LF", "\n.\n"},
      {"CR.CR", "\r.\r"},
      {"LF.CRLF", "\n.\r\n"},
      {"CRLF.LF", "\r\n.\n"},
      {"CR.CRLF", "\r.\r\n"},
  };
  int uid = 0;
  for (const Attempt& a : attempts) {
    SCOPED_TRACE(a.name);
    const std::string hidden = std::string("MAIL FROM:<attacker@example.net>\r\n") +
                               "RCPT TO:<bob@e2e.test>\r\nDATA\r\n"
                               "Subject: smuggled " + a.name + "\r\n\r\nforged\r\n";
    // Sent raw (no dot-stuffing by the client library: the attacker controls every byte).
    const std::string body = std::string("From: a@example.org\r\nSubject: first ") + a.name +
                             "\r\nMessage-ID: <smuggle-" + a.name + "@e2e>\r\n\r\nhello" + a.end +
                             hidden;
    LmtpClient c = unix_client();
    ASSERT_EQ(c.begin_transaction("sender@example.org", {"alice@e2e.test"}), "");
    ASSERT_TRUE(c.send(body + "\r\n.\r\nQUIT\r\n"));
    c.set_timeout(10s);
    std::vector<LmtpReply> replies = c.read_replies(2);
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0].code, 250) << replies[0].text();
    EXPECT_EQ(replies[1].code, 221) << "a second transaction was started: " << replies[1].text();
    EXPECT_TRUE(c.wait_closed(5s));
    ++uid;

    auto stored = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", uid));
    ASSERT_TRUE(stored);
    EXPECT_NE(stored->find("hello"), std::string::npos);
    EXPECT_NE(stored->find("RCPT TO:<bob@e2e.test>"), std::string::npos)
        << "the hidden commands are part of the first message";
    EXPECT_NE(stored->find(std::string("Subject: smuggled ") + a.name), std::string::npos);
    // Stored CRLF-clean: no bare CR or LF survives.
    for (size_t i = 0; i < stored->size(); ++i) {
      if ((*stored)[i] == '\n') {
        ASSERT_TRUE(i > 0 && (*stored)[i - 1] == '\r') << "bare LF at " << i;
      }
      if ((*stored)[i] == '\r') {
        ASSERT_EQ((*stored)[i + 1], '\n') << "bare CR at " << i;
      }
    }
  }
  auto bob = cubby_->messages("bob");
  ASSERT_TRUE(bob);
  EXPECT_TRUE(bob->empty()) << "bob received a smuggled message";
  auto alice = cubby_->messages("alice");
  ASSERT_TRUE(alice);
  EXPECT_EQ(static_cast<int>(alice->size()), uid);
  std::cout << "[ measures ] " << uid << " smuggling attempts, 0 smuggled deliveries\n";
}

}  // namespace
}  // namespace cubby::e2e
