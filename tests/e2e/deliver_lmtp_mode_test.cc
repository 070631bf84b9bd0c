// End-to-end: `deliver -l` started the way inetd starts it (`lmtp stream tcp nowait cyrus
// .../deliver -e -l`): one connected socket as stdin and stdout. The test speaks LMTP through the
// other end of a socketpair and gets lmtpd's pre-authenticated local session; the message lands,
// QUIT ends it, and deliver exits 0. A client that half-closes after pipelining everything still
// gets every reply; an unreachable lmtpd is reported on the socket itself.
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "server/deliver/deliver_lmtp.h"
#include "tests/e2e/deliver_harness.h"
#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

using cubby::deliver::LmtpConnection;

const std::string kContent =
    "From: Sender <sender@example.org>\r\n"
    "Subject: through deliver -l\r\n"
    "Message-ID: <deliver-l@example.org>\r\n"
    "Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n"
    "\r\n"
    ".a dot-stuffed line\r\n"
    "end\r\n";

// The content as the client puts it on the wire after DATA.
std::string stuffed(const std::string& content) {
  std::string wire;
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '.') wire += '.';
    wire += c;
    line_start = c == '\n';
  }
  return wire + ".\r\n";
}

class DeliverLmtpMode : public CubbyTest {
 protected:
  // Starts `deliver -C <settings> -e -l` on one end of a socketpair; the test keeps the other.
  void start_relay(const std::string& settings) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    std::string error;
    auto pid = spawn_deliver_on_socket({"-C", settings, "-e", "-l"}, sv[1],
                                       root_.path() + "/deliver.log", &error);
    ::close(sv[1]);
    ASSERT_TRUE(pid) << error;
    pid_ = *pid;
    client_ = sv[0];
  }

  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    if (pid_ > 0 && !wait_for_exit(pid_, 10s)) {
      kill(pid_, SIGKILL);
      wait_for_exit(pid_, 5s);
    }
    CubbyTest::TearDown();
  }

  // deliver's exit status once it has ended; -1 if it is still running after 10 s.
  int deliver_exit() {
    auto status = wait_for_exit(pid_, 10s);
    pid_ = -1;
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
  }

  std::string read_to_eof() {
    std::string out;
    char buf[4096];
    for (;;) {
      pollfd p{client_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return out + "(timeout)";
      const ssize_t n = ::read(client_, buf, sizeof buf);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }

  int client_ = -1;
  pid_t pid_ = -1;
};

TEST_F(DeliverLmtpMode, AnInetdStyleSessionDeliversAndEndsWithQuit) {
  ASSERT_NO_FATAL_FAILURE(start({"alice"}));
  ASSERT_NO_FATAL_FAILURE(start_relay(cubby_->settings_path()));
  LmtpConnection c(::dup(client_));
  c.set_timeout(10s);

  auto greeting = c.read_reply();
  ASSERT_TRUE(greeting.ok()) << greeting.error();
  EXPECT_EQ(greeting->code, 220);
  EXPECT_EQ(greeting->text, "e2e.test Cubby LMTP server ready");

  ASSERT_TRUE(c.send_command("LHLO inetd.client"));
  auto lhlo = c.read_reply();
  ASSERT_TRUE(lhlo.ok()) << lhlo.error();
  EXPECT_EQ(lhlo->code, 250);
  // lmtpd treats the relayed session as its local, pre-authenticated one.
  bool auth_external = false;
  for (const auto& line : lhlo->preamble) auth_external = auth_external || line == "AUTH EXTERNAL";
  EXPECT_TRUE(auth_external) << "no AUTH EXTERNAL in the LHLO reply";

  for (const std::string cmd : {"MAIL FROM:<sender@example.org>", "RCPT TO:<alice@e2e.test>"}) {
    ASSERT_TRUE(c.send_command(cmd));
    auto r = c.read_reply();
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->code / 100, 2) << cmd << ": " << r->code << " " << r->text;
  }
  ASSERT_TRUE(c.send_command("DATA"));
  auto go = c.read_reply();
  ASSERT_TRUE(go.ok()) << go.error();
  ASSERT_EQ(go->code, 354);
  ASSERT_TRUE(c.send(stuffed(kContent)));
  auto done = c.read_reply();
  ASSERT_TRUE(done.ok()) << done.error();
  EXPECT_EQ(done->code, 250);
  EXPECT_EQ(done->enhanced, "2.1.5");
  ASSERT_TRUE(c.send_command("QUIT"));
  auto bye = c.read_reply();
  ASSERT_TRUE(bye.ok()) << bye.error();
  EXPECT_EQ(bye->code, 221);

  // lmtpd closes after QUIT; deliver passes that on and exits 0.
  EXPECT_EQ(read_to_eof(), "");
  EXPECT_EQ(deliver_exit(), 0);

  auto file = read_file(CubbyInstance::message_file(cubby_->spool(), "alice", 1));
  ASSERT_TRUE(file) << "nothing in user/alice";
  EXPECT_NE(file->find("Received: from inetd.client ([unix socket])"), std::string::npos) << *file;
  EXPECT_EQ(file->substr(trace_length(*file)), kContent);
}

TEST_F(DeliverLmtpMode, AClientThatHalfClosesStillGetsEveryReply) {
  ASSERT_NO_FATAL_FAILURE(start({"alice", "bob"}));
  ASSERT_NO_FATAL_FAILURE(start_relay(cubby_->settings_path()));
  // Everything at once, then the end of the client's output: the relay must pass the end on
  // only after the bytes, and keep passing lmtpd's replies back.
  const std::string session =
      "LHLO inetd.client\r\nMAIL FROM:<sender@example.org>\r\n"
      "RCPT TO:<alice>\r\nRCPT TO:<bob>\r\nDATA\r\n" +
      stuffed(kContent) + "QUIT\r\n";
  ASSERT_EQ(::send(client_, session.data(), session.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(session.size()));
  ASSERT_EQ(::shutdown(client_, SHUT_WR), 0);
  const std::string replies = read_to_eof();
  EXPECT_EQ(replies.rfind("220 ", 0), 0u) << replies;
  EXPECT_NE(replies.find("\r\n354 "), std::string::npos) << replies;
  size_t delivered = 0;
  for (size_t at = 0; (at = replies.find("\r\n250 2.1.5 Success", at)) != std::string::npos; ++at) {
    ++delivered;
  }
  EXPECT_EQ(delivered, 2u) << replies;
  EXPECT_NE(replies.find("\r\n221 "), std::string::npos) << replies;
  EXPECT_EQ(deliver_exit(), 0);
  for (const char* user : {"alice", "bob"}) {
    auto rows = cubby_->messages(user);
    ASSERT_TRUE(rows) << user;
    EXPECT_EQ(rows->size(), 1u) << user;
  }
}

TEST_F(DeliverLmtpMode, UnreachableLmtpdIsReportedOnTheSocket) {
  const std::string settings = root_.path() + "/lonely.conf";
  {
    std::ofstream out(settings);
    out << "configdirectory: " << root_.path() << "\nlmtpsocket: " << root_.path()
        << "/no-socket\n";
  }
  ASSERT_NO_FATAL_FAILURE(start_relay(settings));
  EXPECT_EQ(read_to_eof(), "421 4.3.0 deliver: couldn't connect to lmtpd\r\n");
  EXPECT_EQ(deliver_exit(), 78);
}

}  // namespace
}  // namespace cubby::e2e
