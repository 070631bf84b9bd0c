// Hostile clients: 2,000 idle connections.
//
// A dedicated service `lmtpidle` (lmtpd -a on loopback TCP) runs exactly two workers (prefork=2,
// maxchild=2) of lmtp_max_connections=1000 each, with a 5 s idle timeout. 2,000 connections that
// say nothing fill both workers. What must hold:
//   - every one is greeted, and each worker's descriptors stay within its connection limit and
//     its resident memory grows by a bounded amount per connection;
//   - at the limit the server neither crashes nor refuses: connection 2,001 waits in the listen
//     backlog (the master logs "reached maxchild") and is greeted once a slot frees;
//   - meanwhile another client (the UNIX-socket service) delivers at once;
//   - the idle timeout reclaims every connection (421 4.4.1, then closed), the workers return to
//     their descriptor count from before, and a second wave of 2,000 does not make them grow
//     (no leak).
#include <chrono>

#include "tests/e2e/fixture.h"
#include "tests/e2e/hostile.h"

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIdle = 2000;
constexpr int kPerWorker = 1000;
constexpr auto kIdleTimeout = 5s;
// Resident memory an idle connection may cost a worker (session, engine, socket, buffers).
constexpr long kKibPerConnection = 8;

class HostileIdle : public CubbyTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(raise_nofile(3 * kIdle)) << "cannot raise RLIMIT_NOFILE";
    port_ = free_tcp_port();
    InstanceOptions options;
    options.root = root_.path();
    options.settings = {"lmtpidle_lmtp_max_connections: " + std::to_string(kPerWorker),
                        "lmtpidle_lmtp_idle_timeout: 5s"};
    options.extra_services = {"lmtpidle cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(port_) +
                        "\" prefork=2 maxchild=2 maxfds=" + std::to_string(kPerWorker + 200)};
    cubby_ = std::make_unique<CubbyInstance>(options);
    auto error = cubby_->start();
    ASSERT_FALSE(error) << *error;
    ASSERT_FALSE(cubby_->create_mailbox("alice"));
    ASSERT_TRUE(eventually([&] { return cubby_->workers("lmtpidle").size() == 2; }, 10s));
  }

  // Opens `n` connections and reads each greeting; returns them (fails the test on a refusal).
  // They are opened in batches no larger than the listen backlog (128), each batch greeted before
  // the next, so that the kernel never drops a SYN (a dropped SYN costs the client a 1 s retry).
  std::vector<LmtpClient> open_idle(int n) {
    constexpr int kBatch = 64;
    std::vector<LmtpClient> clients(n);
    for (int start = 0; start < n; start += kBatch) {
      const int end = std::min(n, start + kBatch);
      for (int i = start; i < end; ++i) {
        if (!clients[i].connect_tcp(port_)) {
          ADD_FAILURE() << "connection " << i << ": " << clients[i].error();
          return {};
        }
      }
      for (int i = start; i < end; ++i) {
        clients[i].set_timeout(10s);
        LmtpReply r = clients[i].read_reply();
        if (r.code != 220) {
          ADD_FAILURE() << "connection " << i << " greeted " << r.text();
          return {};
        }
      }
    }
    return clients;
  }

  // Waits for the idle timeout to close every connection with 421 4.4.1; returns how many did.
  int reclaimed(std::vector<LmtpClient>& clients) {
    int n = 0;
    for (auto& c : clients) {
      c.set_timeout(kIdleTimeout + 10s);
      LmtpReply r = c.read_reply();
      if (r.code == 421 && r.enhanced() == "4.4.1" && c.wait_closed(5s)) ++n;
    }
    return n;
  }

  std::string describe(const std::vector<WorkerUsage>& us) {
    std::string s;
    for (auto& u : us) s += "\n  " + u.str();
    return s;
  }

  int port_ = 0;
};

TEST_F(HostileIdle, TwoThousandIdleConnectionsAreBoundedServedAroundAndReclaimed) {
  const std::vector<pid_t> pids = cubby_->workers("lmtpidle");
  const std::vector<WorkerUsage> before = usage_of(pids);

  const auto opened_at = Clock::now();
  std::vector<LmtpClient> wave = open_idle(kIdle);
  ASSERT_EQ(static_cast<int>(wave.size()), kIdle);
  const auto opened_in = Clock::now() - opened_at;
  ASSERT_LT(opened_in, kIdleTimeout - 1s) << "opening took too long for the test to mean much";

  // Both workers full; still the same two processes.
  EXPECT_EQ(cubby_->workers("lmtpidle"), pids) << "no worker may die or be added at maxchild";
  const std::vector<WorkerUsage> full = usage_of(pids);
  for (size_t i = 0; i < pids.size(); ++i) {
    EXPECT_LE(full[i].fds, before[i].fds + kPerWorker) << full[i].str();
    if (!kSanitized) {
      EXPECT_LE(full[i].rss_kib - before[i].rss_kib, kKibPerConnection * kPerWorker)
          << "worker memory per idle connection over " << kKibPerConnection << " KiB: before"
          << describe(before) << "\nfull" << describe(full);
    }
  }

  // Connection 2,001 is not refused: it waits in the backlog until a slot frees.
  LmtpClient extra;
  ASSERT_TRUE(extra.connect_tcp(port_)) << extra.error();
  extra.set_timeout(500ms);
  EXPECT_EQ(extra.read_reply().code, 0) << "greeted although both workers are full";
  EXPECT_NE(cubby_->log().find("reached maxchild=2"), std::string::npos);

  // Another service delivers at once meanwhile.
  const auto t0 = Clock::now();
  LmtpClient local = unix_client();
  EXPECT_EQ(local.deliver("sender@example.org", {"alice@e2e.test"}, test_message("idle-1@e2e")),
            "");
  EXPECT_LT(Clock::now() - t0, 2s) << "a client of another service waited";

  // The idle timeout reclaims everything; then connection 2,001 is greeted and delivers.
  EXPECT_EQ(reclaimed(wave), kIdle);
  extra.set_timeout(10s);
  EXPECT_EQ(extra.read_reply().code, 220);
  EXPECT_EQ(extra.deliver("sender@example.org", {"alice@e2e.test"}, test_message("idle-2@e2e"),
                          /*greet=*/false),
            "");
  extra.close();
  wave.clear();

  ASSERT_TRUE(eventually(
      [&] {
        auto now = usage_of(pids);
        for (size_t i = 0; i < pids.size(); ++i) {
          if (now[i].fds > before[i].fds) return false;
        }
        return true;
      },
      5s))
      << "descriptors not released: before" << describe(before) << "\nnow"
      << describe(usage_of(pids));
  const std::vector<WorkerUsage> after = usage_of(pids);

  // A second wave: nothing may grow beyond what the first one needed.
  std::vector<LmtpClient> second = open_idle(kIdle);
  ASSERT_EQ(static_cast<int>(second.size()), kIdle);
  const std::vector<WorkerUsage> full2 = usage_of(pids);
  EXPECT_EQ(reclaimed(second), kIdle);
  second.clear();
  ASSERT_TRUE(eventually(
      [&] {
        auto now = usage_of(pids);
        for (size_t i = 0; i < pids.size(); ++i) {
          if (now[i].fds > before[i].fds) return false;
        }
        return true;
      },
      5s));
  const std::vector<WorkerUsage> after2 = usage_of(pids);
  for (size_t i = 0; i < pids.size() && !kSanitized; ++i) {
    EXPECT_LE(full2[i].rss_kib, full[i].rss_kib + 8 * 1024)
        << "the second wave needed more memory: first" << describe(full) << "\nsecond"
        << describe(full2);
    EXPECT_LE(after2[i].rss_kib, after[i].rss_kib + 8 * 1024) << "leak?" << describe(after2);
  }
  EXPECT_EQ(cubby_->workers("lmtpidle"), pids);
  std::cout << "[ measures ] 2x" << kIdle << " idle connections opened in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(opened_in).count()
            << " ms\n  before" << describe(before) << "\n  full" << describe(full)
            << "\n  reclaimed" << describe(after) << "\n  second wave" << describe(full2)
            << "\n  reclaimed" << describe(after2) << "\n";
  expect_check_passes();
}

}  // namespace
}  // namespace cubby::e2e
