// Tests of the `deliver -l` relay (deliver_relay.h) on real socketpairs: bytes pass unchanged both
// ways, large transfers in both directions at once do not stall, and each way of ending (client
// half-close, server close, client gone) ends the relay as documented.
#include "server/deliver/deliver_relay.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

namespace cubby::deliver {
namespace {

using namespace std::chrono_literals;

// Reads `fd` until end of file (or 10 s without data).
std::string read_to_eof(int fd) {
  std::string out;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return out + "(timeout)";
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// client <-> [client_end | relay | server_end] <-> server
class Relay : public ::testing::Test {
 protected:
  void SetUp() override {
    int c[2], s[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    client_ = c[0];
    relay_client_ = c[1];
    relay_server_ = s[0];
    server_ = s[1];
    result_ = std::async(std::launch::async, [this] {
      return relay_lmtp(relay_client_, relay_client_, relay_server_);
    });
  }
  void TearDown() override {
    for (int fd : {client_, server_}) {
      if (fd >= 0) ::close(fd);
    }
    if (result_.valid()) result_.wait();
    ::close(relay_client_);
    ::close(relay_server_);
  }
  std::string relay_result() {
    if (result_.wait_for(10s) != std::future_status::ready) return "(still running)";
    return result_.get();
  }

  int client_ = -1, relay_client_ = -1, relay_server_ = -1, server_ = -1;
  std::future<std::string> result_;
};

TEST_F(Relay, ClientHalfCloseThenServerFinishes) {
  ASSERT_TRUE(write_all(server_, "220 ready\r\n"));
  ASSERT_TRUE(write_all(client_, "LHLO x\r\nQUIT\r\n"));
  ::shutdown(client_, SHUT_WR);
  // The server gets everything, then the end of its input...
  EXPECT_EQ(read_to_eof(server_), "LHLO x\r\nQUIT\r\n");
  // ...and can still answer, which reaches the client before the relay ends.
  ASSERT_TRUE(write_all(server_, "250 ok\r\n221 2.0.0 bye\r\n"));
  ::close(server_);
  server_ = -1;
  EXPECT_EQ(read_to_eof(client_), "220 ready\r\n250 ok\r\n221 2.0.0 bye\r\n");
  EXPECT_EQ(relay_result(), "");
}

TEST_F(Relay, ServerCloseEndsTheRelayAndTheClientSeesEof) {
  ASSERT_TRUE(write_all(server_, "421 4.3.2 Shutting down\r\n"));
  ::close(server_);
  server_ = -1;
  EXPECT_EQ(read_to_eof(client_), "421 4.3.2 Shutting down\r\n");
  EXPECT_EQ(relay_result(), "");
}

TEST_F(Relay, LargeTransfersBothWaysAtOnce) {
  // More than every socket buffer on the way holds, in both directions at the same time: a relay
  // that waited on one direction would deadlock here.
  std::string up(8 << 20, '\0'), down(8 << 20, '\0');
  for (size_t i = 0; i < up.size(); ++i) {
    up[i] = static_cast<char>(i * 7 + 1);
    down[i] = static_cast<char>(i * 13 + 5);
  }
  auto client_sent = std::async(std::launch::async, [&] {
    bool ok = write_all(client_, up);
    ::shutdown(client_, SHUT_WR);
    return ok;
  });
  auto server_sent = std::async(std::launch::async, [&] {
    bool ok = write_all(server_, down);
    return ok;
  });
  auto server_got = std::async(std::launch::async, [&] { return read_to_eof(server_); });
  auto client_got = std::async(std::launch::async, [&] { return read_to_eof(client_); });
  EXPECT_TRUE(client_sent.get());
  EXPECT_TRUE(server_sent.get());
  EXPECT_TRUE(server_got.get() == up) << "the server did not get the client's bytes unchanged";
  ::shutdown(server_, SHUT_WR);
  EXPECT_TRUE(client_got.get() == down) << "the client did not get the server's bytes unchanged";
  EXPECT_EQ(relay_result(), "");
}

TEST_F(Relay, ClientGoneWhileTheServerTalks) {
  ::close(client_);
  client_ = -1;
  // The relay sees the client's end of input and shuts the server's input.
  EXPECT_EQ(read_to_eof(server_), "");
  // Whatever the server says now cannot be delivered; the relay ends with an error.
  ASSERT_TRUE(write_all(server_, "221 2.0.0 bye\r\n"));
  EXPECT_NE(relay_result().find("writing to the client"), std::string::npos);
}

TEST(RelayFlags, DescriptorsAreLeftAsTheyWere) {
  int c[2], s[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
  const int before = ::fcntl(c[1], F_GETFL);
  ::close(s[1]);  // the server is gone at once
  EXPECT_EQ(relay_lmtp(c[1], c[1], s[0]), "");
  EXPECT_EQ(::fcntl(c[1], F_GETFL), before);
  EXPECT_EQ(::fcntl(c[1], F_GETFL) & O_NONBLOCK, 0);
  for (int fd : {c[0], c[1], s[0]}) ::close(fd);
}

}  // namespace
}  // namespace cubby::deliver
