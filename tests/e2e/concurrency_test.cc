// End-to-end: many clients at once. 50 connections (half over the UNIX socket, half over TCP)
// each deliver 10 messages to 3 recipients from a pool of 20 mailboxes; every reply must be 250
// and the store must then hold exactly the deliveries made, with UIDs 1..n in every mailbox.
#include <map>
#include <mutex>
#include <thread>

#include "tests/e2e/fixture.h"

namespace cubby::e2e {
namespace {

constexpr int kConnections = 50;
constexpr int kMessagesPerConnection = 10;
constexpr int kRecipients = 3;
constexpr int kMailboxes = 20;

std::string pool_user(int i) { return "pool" + std::to_string(i); }

// The recipients of message m of connection t: three distinct mailboxes of the pool.
std::vector<int> recipients_of(int t, int m) {
  const int base = (t * 7 + m * 3) % kMailboxes;
  std::vector<int> out;
  for (int k = 0; k < kRecipients; ++k) out.push_back((base + k * 5) % kMailboxes);
  return out;
}

using ConcurrencyE2e = CubbyTest;

TEST_F(ConcurrencyE2e, FiftyConnectionsDeliverTenMessagesEachToThreeRecipients) {
  std::vector<std::string> users;
  for (int i = 0; i < kMailboxes; ++i) users.push_back(pool_user(i));
  ASSERT_NO_FATAL_FAILURE(start(users));

  std::mutex mu;
  std::vector<std::string> failures;
  std::map<int, int> expected;  // mailbox -> deliveries
  uint64_t expected_logical = 0;
  for (int t = 0; t < kConnections; ++t) {
    for (int m = 0; m < kMessagesPerConnection; ++m) {
      for (int r : recipients_of(t, m)) ++expected[r];
    }
  }

  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      LmtpClient c;
      const bool over_unix = t % 2 == 0;
      if (!(over_unix ? c.connect_unix(cubby_->socket_path())
                      : c.connect_tcp(cubby_->tcp_port()))) {
        std::lock_guard lock(mu);
        failures.push_back("connection " + std::to_string(t) + ": " + c.error());
        return;
      }
      c.set_timeout(60s);
      for (int m = 0; m < kMessagesPerConnection; ++m) {
        std::vector<std::string> rcpts;
        for (int r : recipients_of(t, m)) rcpts.push_back(pool_user(r) + "@e2e.test");
        const std::string content = test_message(
            "c" + std::to_string(t) + "-m" + std::to_string(m) + "@example.org", 5 + (t + m) % 30);
        std::string error = c.deliver("sender@example.org", rcpts, content, /*greet=*/m == 0);
        if (!error.empty()) {
          std::lock_guard lock(mu);
          failures.push_back("connection " + std::to_string(t) + " message " + std::to_string(m) +
                             ": " + error);
          return;
        }
      }
      LmtpReply quit = c.command("QUIT");
      if (quit.code != 221) {
        std::lock_guard lock(mu);
        failures.push_back("connection " + std::to_string(t) + " QUIT: " + quit.text());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();

  ASSERT_TRUE(cubby_->wait_settled(30s));
  uint64_t total_rows = 0;
  for (int i = 0; i < kMailboxes; ++i) {
    SCOPED_TRACE(pool_user(i));
    std::string error;
    auto rows = cubby_->messages(pool_user(i), &error);
    ASSERT_TRUE(rows) << error;
    EXPECT_EQ(static_cast<int>(rows->size()), expected[i]);
    for (size_t k = 0; k < rows->size(); ++k) {
      EXPECT_EQ((*rows)[k].uid, static_cast<int64_t>(k + 1)) << "UIDs must be 1..n";
      expected_logical += (*rows)[k].size;
    }
    EXPECT_EQ(CubbyInstance::message_files(cubby_->spool(), pool_user(i)).size(), rows->size());
    total_rows += rows->size();
  }
  EXPECT_EQ(total_rows, uint64_t{kConnections} * kMessagesPerConnection * kRecipients);

  auto stats = cubby_->stats();
  ASSERT_TRUE(stats.count("default"));
  EXPECT_EQ(stats["default"].messages,
            uint64_t{kConnections} * kMessagesPerConnection * kRecipients);
  EXPECT_EQ(stats["default"].inodes, uint64_t{kConnections} * kMessagesPerConnection);
  EXPECT_EQ(stats["default"].logical_bytes, expected_logical);
  EXPECT_EQ(stats["default"].logical_bytes, kRecipients * stats["default"].physical_bytes);
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
