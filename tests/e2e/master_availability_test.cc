// End-to-end: the service stays up (issue 17). Under load, every busy lmtpd worker is SIGKILLed 12
// times within 5 s: a prober that connects every 50 ms must get a 220 greeting at least once a
// second throughout, and a delivery 3 s after the last kill must succeed; the service is never
// disabled and the deaths are counted as busy. A service whose workers cannot start (their cmd=
// exits 1) is disabled with a log line naming it and the cause, `cubbyctl status` exits non-zero
// and names it, the metrics say so, the other services keep delivering; it comes back by itself
// (the retry) once the program is fixed, and at once on SIGHUP after its cmd= is fixed.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/master_fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
using AvailabilityE2e = MasterTest;
using Clock = std::chrono::steady_clock;

// Inodes of the connected sockets bound to the UNIX socket `path`: in /proc/net/unix a server's
// accepted connections carry the listening socket's path, and state 03 (connected).
std::set<std::string> connected_inodes(const std::string& path) {
  std::set<std::string> inodes;
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state, inode, p;
    if (!(f >> num >> refs >> proto >> flags >> type >> state >> inode >> p)) continue;
    if (p == path && state == "03") inodes.insert(inode);
  }
  return inodes;
}

// Whether process `pid` holds one of `inodes` (a connection): it is busy.
bool holds_any(pid_t pid, const std::set<std::string>& inodes) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  while (struct dirent* e = readdir(d)) {
    char target[128];
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    std::string t(target, static_cast<size_t>(n));
    if (t.rfind("socket:[", 0) == 0 && inodes.count(t.substr(8, t.size() - 9))) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

TEST_F(AvailabilityE2e, KillingEveryBusyWorker12TimesIn5SecondsNeverTakesLmtpDark) {
  // Two connections per worker, so that the load keeps several workers busy at once. A new worker
  // first recovers what the killed ones left: it makes their delivered-but-not-checkpointed stage
  // files durable, one fsync each, and only then accepts. With the default 1 s checkpoint that is
  // up to a second of this load's deliveries and takes 0.5-1 s on a busy 2-core machine, which is
  // most of the darkness after a kill round; 250 ms keeps it to a quarter, so that what is measured
  // is the master's part (issue 17's soak runs with the default).
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice"}, {"lmtpunix_lmtp_max_connections: 2", "store_checkpoint_interval: 250ms"}, {}));
  const std::string socket = cubby_->socket_path();
  std::atomic<bool> stop{false};
  std::atomic<int> delivered{0}, failed{0};

  // The prober: a connection every ~50 ms; when did it get a greeting?
  std::mutex m;
  std::vector<Clock::time_point> greeted;
  struct Probe {
    Clock::time_point start, end;
    bool ok;
  };
  std::vector<Probe> all_probes;  // for the failure message
  int probes = 0, refused = 0;
  const auto probe_start = Clock::now();
  std::thread prober([&] {
    while (!stop) {
      const auto begun = Clock::now();
      auto next = begun + 50ms;
      LmtpClient c;
      c.set_timeout(2s);
      bool ok = c.connect_unix(socket) && c.read_reply().code == 220;
      auto at = Clock::now();
      {
        std::lock_guard lock(m);
        ++probes;
        all_probes.push_back({begun, at, ok});
        if (ok)
          greeted.push_back(at);
        else
          ++refused;
      }
      c.close();
      std::this_thread::sleep_until(next);
    }
  });
  // The load: six clients delivering one message per connection, again and again.
  std::vector<std::thread> load;
  for (int i = 0; i < 6; ++i) {
    load.emplace_back([&, i] {
      for (int n = 0; !stop; ++n) {
        LmtpClient c;
        c.set_timeout(5s);
        std::string error = "connect: ";
        if (c.connect_unix(socket))
          error = c.deliver(
              kSender, {"alice@e2e.test"},
              test_message("load-" + std::to_string(i) + "-" + std::to_string(n) + "@example.org"));
        if (error.empty()) {
          ++delivered;
        } else {
          ++failed;
          std::this_thread::sleep_for(20ms);
        }
      }
    });
  }
  ASSERT_TRUE(eventually([&] { return delivered >= 20; }, 20s)) << cubby_->log();

  // The killer: 12 rounds within 5 s, each SIGKILLing every worker with a connection open.
  int kills = 0, rounds_with_kills = 0;
  std::vector<std::pair<Clock::time_point, int>> rounds;
  const auto kill_start = Clock::now();
  for (int round = 0; round < 12; ++round) {
    std::this_thread::sleep_until(kill_start + round * 400ms);
    auto inodes = connected_inodes(socket);
    int killed = 0;
    for (pid_t p : cubby_->workers("lmtpunix")) {
      if (holds_any(p, inodes) && kill(p, SIGKILL) == 0) ++killed;
    }
    kills += killed;
    rounds_with_kills += killed > 0;
    rounds.emplace_back(Clock::now(), killed);
  }
  const auto last_kill = Clock::now();
  EXPECT_LT(last_kill - kill_start, 5s);

  // 3 s later a delivery succeeds.
  std::this_thread::sleep_until(last_kill + 3s);
  {
    LmtpClient c;
    ASSERT_TRUE(c.connect_unix(socket)) << c.error() << "\n" << cubby_->log();
    EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("after@example.org")), "")
        << cubby_->log();
  }
  std::this_thread::sleep_for(500ms);
  stop = true;
  const auto probe_end = Clock::now();
  prober.join();
  for (auto& t : load) t.join();

  // Over the whole test, never a second without a greeting.
  std::vector<Clock::time_point> times;
  {
    std::lock_guard lock(m);
    times = greeted;
  }
  times.insert(times.begin(), probe_start);
  times.push_back(probe_end);
  Clock::duration widest{};
  Clock::time_point widest_at{};
  for (size_t i = 1; i < times.size(); ++i) {
    if (times[i] - times[i - 1] > widest) {
      widest = times[i] - times[i - 1];
      widest_at = times[i - 1];
    }
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  if (widest > 1s) {
    // What happened around it, in ms from the first kill.
    std::ostringstream around;
    for (const auto& [at, n] : rounds)
      around << "kill round at " << ms(at - kill_start) << ": " << n << "\n";
    for (const auto& p : all_probes) {
      if (p.end < widest_at - 500ms || p.start > widest_at + widest + 500ms) continue;
      around << "probe " << ms(p.start - kill_start) << " .. " << ms(p.end - kill_start)
             << (p.ok ? " 220" : " no greeting") << "\n";
    }
    ADD_FAILURE() << "no greeting for " << ms(widest) << " ms from " << ms(widest_at - kill_start)
                  << " ms after the first kill\n"
                  << around.str() << cubby_->log();
  }
  EXPECT_GE(kills, 12) << "the load kept too few workers busy";
  EXPECT_GE(rounds_with_kills, 10);
  std::cerr << "kills " << kills << " in " << rounds_with_kills << " rounds; probes " << probes
            << ", without a greeting " << refused << "; widest gap " << ms(widest)
            << " ms; deliveries " << delivered << ", failed attempts " << failed << "\n";

  // Never disabled; the deaths are counted as busy ones.
  EXPECT_EQ(cubby_->log().find("disabled"), std::string::npos) << cubby_->log();
  auto status = cubby_->ctl({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.describe();
  EXPECT_NE(status.out.find("\nhealth: ok\n"), std::string::npos) << status.out;
  auto metrics = cubby_->ctl({"status", "--metrics"});
  const std::string labels = "{service=\"lmtpunix\",listen=\"" + socket + "\"";
  EXPECT_EQ(metric(metrics.out, "cubby_service_state" + labels + ",state=\"enabled\"}"), 1.0)
      << metrics.out;
  EXPECT_GE(metric(metrics.out, "cubby_service_worker_deaths_total" + labels + ",kind=\"busy\"}")
                .value_or(0),
            kills / 2.0)
      << metrics.out;
  EXPECT_LT(metric(metrics.out, "cubby_service_seconds_since_last_connection" + labels + "}")
                .value_or(99),
            3.0)
      << metrics.out;
}

TEST_F(AvailabilityE2e, AServiceWhoseWorkersCannotStartIsDisabledLoudlyAndComesBack) {
  namespace fs = std::filesystem;
  fs::create_directories(root_.path() + "/bin");
  const std::string program = root_.path() + "/bin/worker";
  // Replaced by rename, as a package upgrade does (the old file may be running).
  auto install = [&](const std::string& text) {
    std::ofstream(program + ".new") << text;
    chmod((program + ".new").c_str(), 0755);
    fs::rename(program + ".new", program);
  };
  install("#!/bin/sh\nexit 1\n");
  const std::string path = root_.path() + "/socket/broken";
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice"}, {}, {"broken cmd=\"" + program + "\" listen=\"" + path + "\" prefork=1"}));
  const std::string line = "service \"broken\" (" + path +
                           ") disabled: its workers cannot start: 5 exited before they were ready "
                           "within 10 s, the last: worker ";
  ASSERT_TRUE(eventually([&] { return cubby_->log().find(line) != std::string::npos; }, 10s))
      << cubby_->log();
  const auto disabled_at = Clock::now();
  EXPECT_NE(cubby_->log().find("exited with status 1 before it was ready; retrying in 10 s"),
            std::string::npos)
      << cubby_->log();
  LmtpClient refused;
  EXPECT_FALSE(refused.connect_unix(path)) << "a disabled service refuses connections";

  auto status = cubby_->ctl({"status"});
  EXPECT_NE(status.exit_code, 0) << status.describe();
  EXPECT_NE(status.out.find("health: DISABLED service \"broken\" (" + path + ")"),
            std::string::npos)
      << status.out;
  EXPECT_NE(status.err.find("service \"broken\""), std::string::npos) << status.err;
  auto json = cubby_->ctl({"status", "--json"});
  EXPECT_NE(json.exit_code, 0) << json.describe();
  EXPECT_NE(json.out.find("\"healthy\":false"), std::string::npos) << json.out;
  auto metrics = cubby_->ctl({"status", "--metrics"});
  EXPECT_NE(metrics.exit_code, 0) << metrics.describe();
  const std::string labels = "{service=\"broken\",listen=\"" + path + "\"";
  EXPECT_EQ(metric(metrics.out, "cubby_master_disabled_addresses"), 1.0) << metrics.out;
  EXPECT_EQ(metric(metrics.out, "cubby_service_state" + labels + ",state=\"disabled\"}"), 1.0)
      << metrics.out;
  EXPECT_EQ(metric(metrics.out, "cubby_service_up" + labels + "}"), 0.0);
  EXPECT_GE(
      metric(metrics.out, "cubby_service_worker_deaths_total" + labels + ",kind=\"at_start\"}")
          .value_or(0),
      5.0);
  EXPECT_EQ(metric(metrics.out, "cubby_service_disabled_total" + labels + "}"), 1.0);

  // The other services keep delivering.
  {
    LmtpClient c = unix_client();
    EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("meanwhile@example.org")), "");
  }

  // The administrator fixes the program; the retry brings the service back without SIGHUP.
  install("#!/bin/sh\nexec " + std::string(CUBBY_BIN_DIR) + "/lmtpd \"$@\"\n");
  ASSERT_TRUE(eventually(
      [&] {
        return cubby_->log().find("service \"broken\" (" + path + ") enabled again") !=
               std::string::npos;
      },
      15s))
      << cubby_->log();
  EXPECT_GE(Clock::now() - disabled_at, 8s) << "the first retry comes after 10 s";
  {
    LmtpClient c;
    ASSERT_TRUE(eventually([&] { return c.connect_unix(path); }, 5s)) << cubby_->log();
    EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("retried@example.org")), "")
        << cubby_->log();
  }
  ASSERT_TRUE(eventually([&] { return cubby_->ctl({"status"}).exit_code == 0; }, 5s))
      << cubby_->ctl({"status"}).describe();

  // cmd=/bin/false through a reload: disabled again; cmd= fixed and SIGHUP: back at once.
  const std::string good = services_text();
  write_services(replace_all(good, "cmd=\"" + program + "\"", "cmd=\"/bin/false\""));
  ASSERT_TRUE(reload()) << cubby_->log();
  ASSERT_TRUE(eventually([&] { return count(cubby_->log(), line) == 2; }, 10s)) << cubby_->log();
  EXPECT_NE(cubby_->ctl({"status"}).exit_code, 0);
  write_services(good);
  const auto reloaded_at = Clock::now();
  ASSERT_TRUE(reload()) << cubby_->log();
  LmtpClient c;
  ASSERT_TRUE(eventually([&] { return c.connect_unix(path); }, 3s)) << cubby_->log();
  EXPECT_LT(Clock::now() - reloaded_at, 3s) << "SIGHUP does not wait for the retry";
  EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test"}, test_message("sighup@example.org")), "")
      << cubby_->log();
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 3u);
}

}  // namespace
}  // namespace cubby::e2e
