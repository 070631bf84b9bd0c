// The front end's parts without a running back end or PostgreSQL: what a recipient is told when
// the directory cannot answer or names no user, and what forward() answers for back ends that
// cannot be reached (each group's own recipients only, in RCPT order). Deliveries that succeed
// are tests/scaleout's (real back ends). A directory that hangs (a listener that never answers)
// holds a lookup no longer than the BoundedDirectory's wait, and no one behind it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

#include "directory/bounded_directory.h"
#include "directory/directory_cache.h"
#include "directory/postgres_directory.h"
#include "server/proxy/forwarder.h"
#include "server/proxy/front_end_backend.h"

namespace cubby::proxy {
namespace {

lmtp::RecipientVerdict routed(const std::string& address, const std::string& backend) {
  lmtp::RecipientVerdict v;
  v.accepted = true;
  v.target = backend;
  v.request.address = address;
  return v;
}

TEST(FrontEndBackend, AnUnreachableDirectoryDefersAndASharedAddressIsUnknown) {
  // Nothing listens on port 1: the directory is unreachable and the cache knows nobody.
  directory::DirectoryCache cache(std::make_unique<directory::PostgresDirectory>(
                                      "host=127.0.0.1 port=1 user=cubby dbname=postgres"),
                                  {});
  FrontEndBackend backend(cache, store::AddressRules{}, "/tmp");
  lmtp::RecipientRequest alice;
  alice.address = "alice@example.org";
  auto verdict = backend.check_recipient(alice);
  EXPECT_FALSE(verdict.accepted);
  EXPECT_EQ(verdict.rejection.code, 451);
  EXPECT_EQ(verdict.rejection.enhanced, "4.4.3");

  lmtp::RecipientRequest shared;
  shared.address = "+shared.news@example.org";
  verdict = backend.check_recipient(shared);
  EXPECT_FALSE(verdict.accepted);
  EXPECT_EQ(verdict.rejection.code, 550);
  EXPECT_EQ(verdict.rejection.enhanced, "5.1.1");
}

TEST(Forwarder, BackEndsThatCannotBeReachedDeferTheirOwnRecipientsInOrder) {
  auto sink = SpoolSink::open("/tmp");
  ASSERT_TRUE(sink.ok()) << sink.error();
  sink.value()->write("Subject: hello\r\n\r\nbody\r\n");
  ASSERT_EQ(sink.value()->failure(), nullptr);
  lmtp::DeliveryRequest request;
  request.sink = std::move(sink.value());
  request.info.mail_from = "sender@example.org";
  request.recipients = {routed("a@x", "127.0.0.1:1"), routed("b@x", "unix:/nonexistent/lmtp"),
                        routed("c@x", "127.0.0.1:1"), routed("d@x", "no-colon-here")};
  ForwardSettings settings;
  settings.connection.connect_timeout = std::chrono::seconds(2);
  settings.connection.timeout = std::chrono::seconds(5);
  const auto replies = forward(request, settings);
  ASSERT_EQ(replies.size(), 4u);
  for (const auto& r : replies) {
    EXPECT_EQ(r.code, 451) << r.text;
    EXPECT_EQ(r.enhanced, "4.4.3") << r.text;
  }
  // Each says which back end failed: the replies are in RCPT order.
  EXPECT_NE(replies[0].text.find("127.0.0.1:1"), std::string::npos) << replies[0].text;
  EXPECT_NE(replies[1].text.find("/nonexistent/lmtp"), std::string::npos) << replies[1].text;
  EXPECT_NE(replies[2].text.find("127.0.0.1:1"), std::string::npos) << replies[2].text;
  EXPECT_NE(replies[3].text.find("no-colon-here"), std::string::npos) << replies[3].text;
}

// A loopback listener that never accepts: connections complete, nothing is ever answered.
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0 &&
        ::listen(fd_, 64) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port_ = ntohs(sa.sin_port);
    }
  }
  ~Blackhole() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(FrontEndBackend, AHangingDirectoryHoldsARecipientNoLongerThanTheWait) {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  Blackhole hole;
  ASSERT_NE(hole.port(), 0);
  // libpq waits connect_timeout (2 s) for the server's answer to its startup packet.
  directory::BoundedDirectory directory(
      std::make_unique<directory::PostgresDirectory>(
          "host=127.0.0.1 port=" + std::to_string(hole.port()) + " user=cubby dbname=postgres"),
      {}, 200ms);
  FrontEndBackend backend(directory, store::AddressRules{}, "/tmp");
  for (int i = 0; i < 5; ++i) {
    lmtp::RecipientRequest someone;
    someone.address = "user" + std::to_string(i) + "@example.org";
    const auto start = Clock::now();
    auto verdict = backend.check_recipient(someone);
    const auto took = Clock::now() - start;
    EXPECT_FALSE(verdict.accepted);
    EXPECT_EQ(verdict.rejection.code, 451);
    EXPECT_EQ(verdict.rejection.enhanced, "4.4.3");
    // The first waits its 200 ms; those behind the hanging lookup do not wait at all (150 ms
    // leaves room for a loaded machine and is still less than the wait they would share).
    EXPECT_LT(took, i == 0 ? 400ms : 150ms) << i;
    if (i == 0) {
      EXPECT_GE(took, 190ms);
    }
  }
}

}  // namespace
}  // namespace cubby::proxy
