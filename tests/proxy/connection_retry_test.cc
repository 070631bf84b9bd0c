// The front end's cached connections when the back end goes away between two messages
// (server/proxy/backend_connection.h, connection_cache.h, forwarder.h): a failure before DATA
// was sent is retried once on a new connection; a failure after DATA was sent is never retried
// (the back end may have delivered). The back end here is a small scripted LMTP server on a
// loopback port that closes a connection at the step the test names, which a real lmtpd cannot
// be made to do at will; deliveries through real back ends are tests/scaleout's.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "server/proxy/connection_cache.h"
#include "server/proxy/forwarder.h"
#include "server/proxy/front_end_backend.h"

namespace cubby::proxy {
namespace {

// Serves LMTP on 127.0.0.1; `drop(connection, transaction, step)` says when to close a connection
// instead of answering: step is the command's verb ("RSET", "MAIL", ...) or "." for the end of
// the message data; connection and transaction count from 0 (a transaction starts at RSET).
class ScriptedBackEnd {
 public:
  using Drop = std::function<bool(int connection, int transaction, const std::string& step)>;
  explicit ScriptedBackEnd(Drop drop) : drop_(std::move(drop)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), len) == 0 &&
        ::listen(listener_, 8) == 0 &&
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port_ = ntohs(sa.sin_port);
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedBackEnd() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  int messages() const { return messages_; }

 private:
  void serve() {
    for (int n = 0;; ++n) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      converse(fd, n);
      ::close(fd);
    }
  }
  // One connection, to its end (one at a time: the forwarder uses one connection per back end).
  void converse(int fd, int connection) {
    std::string in;
    const auto say = [&](const std::string& line) {
      const std::string out = line + "\r\n";
      return ::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
    };
    const auto next_line = [&](std::string* line) {
      for (;;) {
        const size_t eol = in.find("\r\n");
        if (eol != std::string::npos) {
          *line = in.substr(0, eol);
          in.erase(0, eol + 2);
          return true;
        }
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) return false;
        in.append(buffer, static_cast<size_t>(n));
      }
    };
    if (!say("220 scripted LMTP")) return;
    int transaction = -1, accepted = 0;
    std::string line;
    while (next_line(&line)) {
      const std::string verb = line.substr(0, line.find_first_of(" :"));
      if (verb == "RSET") {
        ++transaction;
        accepted = 0;
      }
      if (drop_(connection, transaction, verb)) return;
      if (verb == "LHLO") {
        if (!say("250-scripted") || !say("250 PIPELINING")) return;
      } else if (verb == "RCPT") {
        ++accepted;
        if (!say("250 2.1.5 Ok")) return;
      } else if (verb == "DATA") {
        if (!say("354 go ahead")) return;
        while (next_line(&line) && line != ".") {
        }
        if (drop_(connection, transaction, ".")) return;
        ++messages_;
        for (int i = 0; i < accepted; ++i) {
          if (!say("250 2.1.5 Delivered t" + std::to_string(transaction))) return;
        }
      } else if (verb == "QUIT") {
        say("221 bye");
        return;
      } else {
        if (!say("250 2.0.0 Ok")) return;
      }
    }
  }

  Drop drop_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0}, messages_{0};
  std::thread thread_;
};

// One message to two recipients on `backend` through `cache`.
std::vector<lmtp::Reply> send(const std::string& backend, ConnectionCache& cache) {
  auto sink = SpoolSink::open("/tmp");
  EXPECT_TRUE(sink.ok());
  if (!sink.ok()) return {};
  sink.value()->write("Subject: retry\r\n\r\nbody\r\n");
  lmtp::DeliveryRequest request;
  request.sink = std::move(sink.value());
  request.info.mail_from = "sender@example.org";
  for (const char* address : {"a@x", "b@x"}) {
    lmtp::RecipientVerdict v;
    v.accepted = true;
    v.target = backend;
    v.request.address = address;
    request.recipients.push_back(v);
  }
  ForwardSettings settings;
  settings.connection.timeout = std::chrono::seconds(5);
  return forward(request, settings, &cache);
}

TEST(ForwarderConnections, ACachedConnectionLostBeforeDataIsRetriedOnANewOne) {
  // The first connection carries one message, then closes at the second transaction's RSET, as
  // a back end restarted in between would.
  ScriptedBackEnd backend([](int connection, int transaction, const std::string& step) {
    return connection == 0 && transaction == 1 && step == "RSET";
  });
  ConnectionCache cache(4, std::chrono::seconds(60));
  for (int m = 0; m < 2; ++m) {
    const auto replies = send(backend.address(), cache);
    ASSERT_EQ(replies.size(), 2u);
    for (const auto& r : replies) EXPECT_EQ(r.code, 250) << m << ": " << r.wire();
  }
  EXPECT_EQ(backend.connections(), 2);
  EXPECT_EQ(backend.messages(), 2);
  // A third message reuses the second connection.
  for (const auto& r : send(backend.address(), cache)) EXPECT_EQ(r.code, 250) << r.wire();
  EXPECT_EQ(backend.connections(), 2);
  EXPECT_EQ(backend.messages(), 3);
}

TEST(ForwarderConnections, AConnectionLostAfterDataIsNeverRetried) {
  // The second message's data arrives whole, then the connection closes before any reply: the
  // back end may have delivered it, so the front end must not send it again.
  ScriptedBackEnd backend([](int connection, int transaction, const std::string& step) {
    return connection == 0 && transaction == 1 && step == ".";
  });
  ConnectionCache cache(4, std::chrono::seconds(60));
  for (const auto& r : send(backend.address(), cache)) EXPECT_EQ(r.code, 250) << r.wire();
  const auto replies = send(backend.address(), cache);
  ASSERT_EQ(replies.size(), 2u);
  for (const auto& r : replies) {
    EXPECT_EQ(r.code, 451) << r.wire();
    EXPECT_EQ(r.enhanced, "4.4.3") << r.wire();
  }
  EXPECT_EQ(backend.connections(), 1);  // no second connection: nothing sent again
  EXPECT_EQ(backend.messages(), 1);
}

}  // namespace
}  // namespace cubby::proxy
