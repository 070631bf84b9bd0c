// Tests of deliver's LMTP client connection (deliver_lmtp.h): reply lines, enhanced codes,
// multi-line replies, bounds and failures, over a real socketpair.
#include "server/deliver/deliver_lmtp.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace cubby::deliver {
namespace {

using namespace std::chrono_literals;

TEST(DeliverReplyLine, Parses) {
  int code = 0;
  bool more = true;
  std::string_view text;
  ASSERT_TRUE(parse_reply_line("250 2.1.5 ok", &code, &more, &text));
  EXPECT_EQ(code, 250);
  EXPECT_FALSE(more);
  EXPECT_EQ(text, "2.1.5 ok");
  ASSERT_TRUE(parse_reply_line("550-Mailbox unknown.", &code, &more, &text));
  EXPECT_EQ(code, 550);
  EXPECT_TRUE(more);
  EXPECT_EQ(text, "Mailbox unknown.");
  ASSERT_TRUE(parse_reply_line("354", &code, &more, &text));
  EXPECT_EQ(code, 354);
  EXPECT_FALSE(more);
  EXPECT_EQ(text, "");
  EXPECT_FALSE(parse_reply_line("25 ok", &code, &more, &text));
  EXPECT_FALSE(parse_reply_line("250ok", &code, &more, &text));
  EXPECT_FALSE(parse_reply_line("abc def", &code, &more, &text));
}

TEST(DeliverReplyLine, EnhancedCode) {
  std::string enhanced, rest;
  split_enhanced("5.1.1 User unknown", &enhanced, &rest);
  EXPECT_EQ(enhanced, "5.1.1");
  EXPECT_EQ(rest, "User unknown");
  split_enhanced("4.2.2", &enhanced, &rest);
  EXPECT_EQ(enhanced, "4.2.2");
  EXPECT_EQ(rest, "");
  split_enhanced("go ahead", &enhanced, &rest);
  EXPECT_EQ(enhanced, "");
  EXPECT_EQ(rest, "go ahead");
  split_enhanced("1.2 not a code", &enhanced, &rest);
  EXPECT_EQ(enhanced, "");
  split_enhanced("5.1234.1 too long", &enhanced, &rest);
  EXPECT_EQ(enhanced, "");
}

TEST(DeliverReplyLine, ReplyText) {
  EXPECT_EQ(reply_text(lmtp::make_reply(550, "5.1.1", "User unknown")), "5.1.1 User unknown");
  EXPECT_EQ(reply_text(lmtp::make_reply(354, "", "go ahead")), "go ahead");
  EXPECT_EQ(reply_text(lmtp::make_reply(452, "4.2.2", "")), "4.2.2");
}

class DeliverConnection : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_ = LmtpConnection(sv[0]);
    server_ = sv[1];
  }
  void TearDown() override {
    if (server_ >= 0) ::close(server_);
  }
  void server_says(const std::string& bytes) {
    ASSERT_EQ(::write(server_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  std::string server_reads() {
    char buf[4096];
    const ssize_t n = ::read(server_, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  LmtpConnection client_{-1};
  int server_ = -1;
};

TEST_F(DeliverConnection, MultiLineReply) {
  server_says(
      "550-Mailbox unknown.  Either there is no mailbox associated with this\r\n"
      "550-name or you do not have authorization to see it.\r\n"
      "550 5.1.1 User unknown\r\n250 2.1.5 ok\n");
  auto r = client_.read_reply();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->code, 550);
  EXPECT_EQ(r->enhanced, "5.1.1");
  EXPECT_EQ(r->text, "User unknown");
  ASSERT_EQ(r->preamble.size(), 2u);
  EXPECT_EQ(r->preamble[1], "name or you do not have authorization to see it.");
  // A bare LF ends a line too.
  r = client_.read_reply();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->code, 250);
}

TEST_F(DeliverConnection, ReplyInPieces) {
  server_says("25");
  std::thread later([this] {
    std::this_thread::sleep_for(20ms);
    server_says("0 2.0.0 o");
    std::this_thread::sleep_for(20ms);
    server_says("k\r\n");
  });
  auto r = client_.read_reply();
  later.join();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->code, 250);
  EXPECT_EQ(r->text, "ok");
}

TEST_F(DeliverConnection, SendsCommandsWithCrlf) {
  ASSERT_TRUE(client_.send_command("RSET"));
  ASSERT_TRUE(client_.send("raw bytes"));
  EXPECT_EQ(server_reads(), "RSET\r\nraw bytes");
}

TEST_F(DeliverConnection, ClosedConnection) {
  server_says("250-partial\r\n");
  ::close(server_);
  server_ = -1;
  auto r = client_.read_reply();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "lmtpd closed the connection");
  EXPECT_FALSE(client_.send_command("QUIT"));
  EXPECT_NE(client_.error().find("sending to lmtpd"), std::string::npos) << client_.error();
}

TEST_F(DeliverConnection, NoReplyTimesOut) {
  client_.set_timeout(100ms);
  auto r = client_.read_reply();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no reply from lmtpd"), std::string::npos) << r.error();
}

TEST_F(DeliverConnection, GarbageAndOverlongLinesAreProtocolErrors) {
  server_says("hello there\r\n");
  auto r = client_.read_reply();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("protocol error"), std::string::npos) << r.error();

  std::thread flood([this] {
    std::string line = "250 " + std::string(70 * 1024, 'x');
    (void)!::send(server_, line.data(), line.size(), MSG_NOSIGNAL);
  });
  r = client_.read_reply();
  flood.join();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("more than 64 KiB"), std::string::npos) << r.error();
}

TEST(DeliverConnect, UnreachableSocket) {
  auto c = LmtpConnection::connect_unix("/nonexistent/cubby/socket");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), "connect /nonexistent/cubby/socket: No such file or directory");
  c = LmtpConnection::connect_unix("/" + std::string(200, 'a'));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("not a usable UNIX socket path"), std::string::npos);
}

}  // namespace
}  // namespace cubby::deliver
