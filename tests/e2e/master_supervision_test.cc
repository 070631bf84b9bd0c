// End-to-end: cubby-master supervising real lmtpd workers: prefork after start and after workers
// are killed; maxchild+5 connections all served, the extra ones later, with a log line naming the
// limit; an lmtpd that cannot start disabling its service until SIGHUP (or the retry); -T shrinking
// back to prefork; and
// workers recycling themselves when their executable is replaced.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "tests/e2e/master_fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
using SupervisionE2e = MasterTest;
using Clock = std::chrono::steady_clock;

TEST_F(SupervisionE2e, PreforkIsHonouredAfterStartAndAfterWorkersAreKilled) {
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice"}, {}, {"pool cmd=\"lmtpd\" listen=\"" + root_.path() + "/socket/pool\" prefork=3"}));
  ASSERT_TRUE(eventually([&] { return cubby_->workers("pool").size() == 3; }, 5s))
      << cubby_->workers("pool").size() << " workers";
  auto before = cubby_->workers("pool");
  kill(before[0], SIGKILL);
  kill(before[1], SIGKILL);
  ASSERT_TRUE(eventually(
      [&] {
        auto now = cubby_->workers("pool");
        return now.size() == 3 && std::count(now.begin(), now.end(), before[0]) == 0 &&
               std::count(now.begin(), now.end(), before[1]) == 0;
      },
      5s))
      << cubby_->workers("pool").size() << " workers";
  LmtpClient c;
  ASSERT_TRUE(c.connect_unix(at_root("socket/pool"))) << c.error();
  EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("pool@example.org")), "");
}

TEST_F(SupervisionE2e, MaxchildPlusFiveConnectionsAreAllServedTheExtraOnesLater) {
  // One connection per worker, at most two workers: five of the seven clients must wait in the
  // listen backlog until a worker is free again.
  constexpr int kMaxchild = 2, kClients = kMaxchild + 5;
  // Each client holds its worker kHold after the greeting. A greeting later than kLate came after
  // a worker was freed; one earlier was served at once (forking the second worker on a loaded
  // machine can take a few hundred milliseconds, so kLate is well above that).
  constexpr auto kHold = 900ms, kLate = 700ms;
  ASSERT_NO_FATAL_FAILURE(
      start_master({"alice"}, {"limited_lmtp_max_connections: 1"},
                   {"limited cmd=\"lmtpd\" listen=\"" + root_.path() +
                    "/socket/limited\" prefork=1 maxchild=" + std::to_string(kMaxchild)}));
  std::atomic<size_t> most_workers{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      most_workers = std::max(most_workers.load(), cubby_->workers("limited").size());
      std::this_thread::sleep_for(5ms);
    }
  });
  const auto t0 = Clock::now();
  std::mutex m;
  std::vector<std::chrono::milliseconds> greeted;
  std::vector<std::string> errors;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      LmtpClient c;
      c.set_timeout(30s);
      std::string error;
      if (!c.connect_unix(at_root("socket/limited"))) {
        error = "connect: " + c.error();
      } else {
        LmtpReply hello = c.read_reply();
        auto when = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
        if (hello.code != 220) {
          error = "greeting: " + hello.text();
        } else {
          std::this_thread::sleep_for(kHold);  // hold the worker a while
          if (c.command("LHLO e2e.client").code != 250) error = "LHLO";
          if (error.empty())
            error =
                c.deliver(kSender, {"alice@e2e.test"},
                          test_message("maxchild-" + std::to_string(i) + "@example.org"), false);
          if (error.empty() && c.command("QUIT").code != 221) error = "QUIT";
        }
        std::lock_guard lock(m);
        greeted.push_back(when);
      }
      if (!error.empty()) {
        std::lock_guard lock(m);
        errors.push_back(error);
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  watcher.join();

  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(greeted.size(), static_cast<size_t>(kClients));
  std::sort(greeted.begin(), greeted.end());
  EXPECT_LT(greeted[kMaxchild - 1], kLate) << "the first two were not served at once";
  EXPECT_GE(greeted[kMaxchild], kLate) << "a third connection was served without waiting";
  EXPECT_GE(greeted.back(), 3 * kHold) << "the last clients should wait for three rounds";
  EXPECT_LE(most_workers.load(), static_cast<size_t>(kMaxchild));
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), static_cast<size_t>(kClients));
  EXPECT_NE(cubby_->log().find("service \"limited\" (" + root_.path() +
                               "/socket/limited) reached maxchild=2; connections wait in the "
                               "listen backlog"),
            std::string::npos)
      << cubby_->log();
}

TEST_F(SupervisionE2e, LmtpdThatCannotStartDisablesItsServiceAndSighupEnablesItAgain) {
  const std::string broken_cmd = "lmtpd -C " + root_.path() + "/missing.conf";
  ASSERT_NO_FATAL_FAILURE(start_master({"alice"}, {},
                                       {"broken cmd=\"" + broken_cmd + "\" listen=\"" +
                                        root_.path() + "/socket/broken\" prefork=1"}));
  ASSERT_TRUE(eventually(
      [&] {
        return cubby_->log().find("service \"broken\" (" + root_.path() +
                                  "/socket/broken) disabled: its workers cannot start") !=
               std::string::npos;
      },
      10s))
      << cubby_->log();
  LmtpClient refused;
  EXPECT_FALSE(refused.connect_unix(at_root("socket/broken"))) << "a disabled service refuses";
  auto status = cubby_->ctl({"status"});
  EXPECT_EQ(status.exit_code, 2) << "a disabled service is unhealthy\n" << status.describe();
  EXPECT_NE(status.out.find("disabled"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("exited with status 78"), std::string::npos) << status.out;

  write_services(replace_all(services_text(), broken_cmd, "lmtpd"));
  ASSERT_TRUE(reload()) << cubby_->log();
  LmtpClient c;
  ASSERT_TRUE(eventually([&] { return c.connect_unix(at_root("socket/broken")); }, 5s))
      << cubby_->log();
  EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("fixed@example.org")), "");
}

TEST_F(SupervisionE2e, IdleWorkersLeaveAfterTAndTheServiceShrinksBackToPrefork) {
  ASSERT_NO_FATAL_FAILURE(start_master(
      {}, {"idle_lmtp_max_connections: 1"},
      {"idle cmd=\"lmtpd -T 1\" listen=\"" + root_.path() + "/socket/idle\" prefork=1"}));
  {
    // Three connections at once need three workers.
    std::vector<LmtpClient> clients(3);
    for (auto& c : clients) {
      ASSERT_TRUE(c.connect_unix(at_root("socket/idle"))) << c.error();
      ASSERT_EQ(c.read_reply().code, 220);
    }
    EXPECT_GE(cubby_->workers("idle").size(), 3u);
  }
  // Closed: each worker that served one leaves 1 s later; one fresh worker stays (prefork).
  ASSERT_TRUE(eventually([&] { return cubby_->workers("idle").size() == 1; }, 6s))
      << cubby_->workers("idle").size() << " workers\n"
      << cubby_->log();
  EXPECT_GE(count(cubby_->log(), "no session for 1 s (-T): recycling this worker"), 3u)
      << cubby_->log();
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(cubby_->workers("idle").size(), 1u) << "a worker that served nothing stays";
}

TEST_F(SupervisionE2e, WorkersRecycleWhenTheirExecutableIsReplaced) {
  namespace fs = std::filesystem;
  fs::create_directories(root_.path() + "/bin");
  const std::string exe = root_.path() + "/bin/lmtpd";
  fs::copy_file(std::string(CUBBY_BIN_DIR) + "/lmtpd", exe);
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice"}, {},
      {"swap cmd=\"" + exe + "\" listen=\"" + root_.path() + "/socket/swap\" prefork=2"}));
  ASSERT_TRUE(eventually([&] { return cubby_->workers("swap").size() == 2; }, 15s)) << cubby_->log();
  auto before = cubby_->workers("swap");
  // As a package upgrade does: a new file renamed over the old one.
  fs::copy_file(std::string(CUBBY_BIN_DIR) + "/lmtpd", exe + ".new");
  fs::rename(exe + ".new", exe);
  ASSERT_TRUE(eventually(
      [&] {
        auto now = cubby_->workers("swap");
        for (pid_t p : now)
          if (std::count(before.begin(), before.end(), p)) return false;
        return now.size() == 2;
      },
      15s))
      << cubby_->log();
  EXPECT_GE(count(cubby_->log(), exe + " has changed on disk: recycling this worker"), 2u)
      << cubby_->log();
  LmtpClient c;
  ASSERT_TRUE(c.connect_unix(at_root("socket/swap"))) << c.error();
  EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("swap@example.org")), "");
}

}  // namespace
}  // namespace cubby::e2e
