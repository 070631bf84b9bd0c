// LMTP_README's transport_maps set-up: two domains routed to two LMTP transports (lmtp1 over
// Cubby's UNIX socket, lmtp2 over TCP), each its own master.cf entry so that lmtp(8) keeps a
// cached connection per destination; Postfix's conn_use= log field shows the reuse, which needs
// Cubby to keep a connection usable for transaction after transaction (RSET between them).
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

// The largest conn_use= among delivery log lines; 1 when none says it
// (a first use is logged without conn_use).
int max_conn_use(const std::vector<std::string>& lines) {
  static const std::regex conn_use(R"(, conn_use=(\d+),)");
  int best = lines.empty() ? 0 : 1;
  for (const auto& line : lines) {
    std::smatch m;
    if (std::regex_search(line, m, conn_use)) best = std::max(best, std::stoi(m[1]));
  }
  return best;
}

TEST_F(PostfixInterop, TransportMapsRouteTwoDomainsAndReuseConnectionsPerDestination) {
  ASSERT_NO_FATAL_FAILURE(start_cubby({"alice", "bob"}));
  auto& pf = postfix();
  const std::string tcp_next_hop = "[127.0.0.1]:" + std::to_string(cubby_->tcp_port());
  pf.set("transport_maps",
         write_table("transport", "domain1.test lmtp1:unix:" + cubby_->socket_path() + "\n" +
                                      "domain2.test lmtp2:" + tcp_next_hop + "\n"));
  pf.add_service("lmtp1 unix - - n - - lmtp -o syslog_name=postfix/lmtp1");
  pf.add_service("lmtp2 unix - - n - - lmtp -o syslog_name=postfix/lmtp2");
  pf.set("lmtp1_destination_recipient_limit", "300");
  pf.set("lmtp2_destination_recipient_limit", "300");
  // At most two connections per destination, so that the queued messages must share them.
  pf.set("lmtp1_destination_concurrency_limit", "2");
  pf.set("lmtp2_destination_concurrency_limit", "2");
  // lmtp(8) caches a connection when the queue manager has more mail for the destination, so
  // every message must be queued before any is delivered. Queued while Postfix was stopped, they
  // still came in one by one through pickup, and on a loaded machine the queue manager could hand
  // each to lmtp(8) before the next arrived (CI once saw no reuse). So both transports are
  // deferred (defer_transports) until all the messages wait in the deferred queue; then Postfix
  // restarts without it and the flush of wait_queue_empty() moves them all to the queue manager
  // at once.
  pf.set("defer_transports", "lmtp1, lmtp2");
  ASSERT_NO_FATAL_FAILURE(start_postfix());
  const int kPerDomain = 10;
  for (int i = 1; i <= kPerDomain; ++i) {
    for (const std::string domain : {"domain1.test", "domain2.test"}) {
      auto r = pf.sendmail("sender@cubby.test", {"alice@" + domain, "bob@" + domain},
                           interop_message("c" + std::to_string(i) + "." + domain + "@ix"));
      ASSERT_EQ(r.exit_code, 0) << r.describe();
    }
  }
  auto deferred = [&] {
    size_t n = 0;
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(pf.queue_dir() + "/deferred", ec), end;
    for (; !ec && it != end; it.increment(ec)) n += it->is_regular_file(ec) ? 1 : 0;
    return n;
  };
  for (int i = 0; i < 600 && deferred() < 2u * kPerDomain; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(deferred(), 2u * kPerDomain) << pf.postqueue({"-p"}).out;
  ASSERT_TRUE(pf.log_lines("status=sent").empty()) << "a message left before the others were queued";
  pf.unset("defer_transports");
  ASSERT_FALSE(pf.restart());
  ASSERT_TRUE(pf.wait_queue_empty(60s)) << pf.postqueue({"-p"}).out;

  for (const std::string user : {"alice", "bob"}) {
    auto counts = id_counts(user);
    EXPECT_EQ(counts.size(), 2u * kPerDomain) << user;
    for (const auto& [id, n] : counts) EXPECT_EQ(n, 1) << user << ": " << id;
  }
  // Each message's two recipients of one domain came in one transaction: one inode.
  for (int i = 1; i <= kPerDomain; ++i) {
    for (const std::string domain : {"domain1.test", "domain2.test"}) {
      const std::string id = "c" + std::to_string(i) + "." + domain + "@ix";
      EXPECT_EQ(inode_of(file_with_id(mailbox_dir("alice"), id)),
                inode_of(file_with_id(mailbox_dir("bob"), id)))
          << id;
    }
  }

  const auto unix_sent = pf.log_lines(
      R"(postfix/lmtp1/lmtp\[\d+\]: \w+: to=<(alice|bob)@domain1\.test>, relay=[^,]*)" +
      regex_escape("[" + cubby_->socket_path() + "]") + ".* status=sent \\(250 2\\.1\\.5 ");
  const auto tcp_sent = pf.log_lines(
      R"(postfix/lmtp2/lmtp\[\d+\]: \w+: to=<(alice|bob)@domain2\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:)" +
      std::to_string(cubby_->tcp_port()) + ",.* status=sent \\(250 2\\.1\\.5 ");
  EXPECT_EQ(unix_sent.size(), 2u * kPerDomain);
  EXPECT_EQ(tcp_sent.size(), 2u * kPerDomain);
  EXPECT_GE(max_conn_use(unix_sent), 2) << "lmtp1 never reused a connection to the UNIX socket";
  EXPECT_GE(max_conn_use(tcp_sent), 2) << "lmtp2 never reused a TCP connection";
  // No transport delivered to the other's destination.
  EXPECT_TRUE(pf.log_lines(R"(postfix/lmtp1/lmtp\[\d+\]: \w+: to=<[^>]*@domain2)").empty());
  EXPECT_TRUE(pf.log_lines(R"(postfix/lmtp2/lmtp\[\d+\]: \w+: to=<[^>]*@domain1)").empty());
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::interop
