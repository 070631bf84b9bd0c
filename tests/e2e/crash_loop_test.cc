// The crash loop (issue 8, docs/reliability.md): LMTP client threads deliver uniquely identified
// messages while a killer thread SIGKILLs random workers, and now and then the whole server
// (master and workers) and starts it again; after every third worker kill it sends the master
// SIGHUP, so reloads under load are part of the loop too. (Killed workers no longer disable a
// service: only workers that cannot start do, docs/master.md.)
// Duplicate suppression is off, so true duplicates show.
// A client retries only recipients that did not get a 250. Afterwards, per (message, recipient):
//   acknowledged but missing                       must be 0
//   acknowledged at the first attempt, stored twice must be 0
//   stored twice after a lost 250 (a retry)         counted, allowed
// Beside them Postfix's smtp-source (LMTP mode, 2 sessions, to the user "load") runs in a loop,
// started again whenever a kill ends it: the load the issue asks for. Its messages carry no
// identity, so they are only counted; `cubbyctl check` covers them with the rest. It runs on a
// Cyrus partition and on a Maildir++ one (partitionformat: maildir): what is stored is read from
// the disk and checked against the index by tests/e2e/inbox_files.h (on a Maildir, every file in
// new/ or cur/ whole, its ,S= its size, nothing but a maildirsize.* left in tmp/). Runs
// CUBBY_CRASH_LOOP_SECONDS seconds (default 15 on Cyrus, 8 on Maildir, which adds to CI's time;
// scripts/reliability runs a minute each).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/e2e/fixture.h"
#include "tests/e2e/inbox_files.h"
#include "tests/e2e/process.h"

namespace cubby::e2e {
namespace {

constexpr const char* kSender = "sender@example.org";
const std::vector<std::string> kUsers = {"alice", "bob", "carol"};

struct Work {
  std::string id;
  std::set<std::string> pending;                   // recipients without a 250 yet
  std::map<std::string, int> attempts_before_ack;  // user -> attempts made until its 250
  int attempts = 0;
  std::string last_error;  // why the last attempt did not get every 250
};

class CrashLoopE2e : public CubbyTest, public ::testing::WithParamInterface<PartitionFormat> {};

TEST_P(CrashLoopE2e, EveryAcknowledgedMessageIsStoredExactlyOnce) {
  const PartitionFormat format = GetParam();
  int seconds = format == PartitionFormat::kMaildir ? 8 : 15;
  if (const char* s = getenv("CUBBY_CRASH_LOOP_SECONDS")) seconds = std::max(1, atoi(s));
  unsigned seed = 8;
  if (const char* s = getenv("CUBBY_CRASH_LOOP_SEED")) seed = static_cast<unsigned>(atoi(s));
  std::vector<std::string> users = kUsers;
  users.push_back("load");
  std::vector<std::string> settings = format_settings(format);
  settings.push_back("duplicatesuppression: no");
  ASSERT_NO_FATAL_FAILURE(start(users, settings));
  const std::string smtp_source = "/usr/sbin/smtp-source";
  ASSERT_EQ(::access(smtp_source.c_str(), X_OK), 0)
      << smtp_source << " is missing (the postfix package; scripts/install-deps installs it)";

  std::mutex mu;
  std::vector<Work> done;   // every recipient acknowledged
  std::vector<Work> retry;  // some recipient still without a 250
  std::atomic<int> next_id{0}, transactions{0}, failed{0};
  std::atomic<bool> stop_load{false}, server_down{false};

  auto connect = [&](LmtpClient& c) {
    c.set_timeout(5s);
    return c.connect_unix(cubby_->socket_path());
  };
  // One transaction of `w` on a fresh connection `c`.
  auto one_attempt = [&](LmtpClient& c, Work& w) {
    std::vector<std::string> users(w.pending.begin(), w.pending.end()), rcpts;
    for (const auto& u : users) rcpts.push_back(u + "@e2e.test");
    ++w.attempts;
    if (auto e = c.begin_transaction(kSender, rcpts); !e.empty()) {
      w.last_error = e;
      return;
    }
    if (!c.send_data(test_message(w.id, 30))) {
      w.last_error = "send: " + c.error();
      return;
    }
    auto replies = c.read_replies(rcpts.size());
    ++transactions;
    for (size_t i = 0; i < replies.size() && i < users.size(); ++i) {
      if (replies[i].code == 250) {
        w.pending.erase(users[i]);
        w.attempts_before_ack[users[i]] = w.attempts;
      } else {
        w.last_error = replies[i].text();
      }
    }
    if (!w.pending.empty()) ++failed;
  };

  auto client = [&](unsigned tseed) {
    std::mt19937 rng(tseed);
    while (!stop_load) {
      LmtpClient c;
      if (server_down || !connect(c)) {  // no new message while the server is away
        std::this_thread::sleep_for(20ms);
        continue;
      }
      Work w;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!retry.empty() && rng() % 2 == 0) {
          w = std::move(retry.back());
          retry.pop_back();
        }
      }
      if (w.id.empty()) {
        w.id = "loop-" + std::to_string(next_id++) + "@example.org";
        for (const auto& u : kUsers) {
          if (rng() % 2 == 0) w.pending.insert(u);
        }
        if (w.pending.empty()) w.pending.insert(kUsers[rng() % kUsers.size()]);
      }
      one_attempt(c, w);
      std::lock_guard<std::mutex> lock(mu);
      (w.pending.empty() ? done : retry).push_back(std::move(w));
    }
  };

  std::vector<std::thread> clients;
  for (unsigned i = 0; i < 3; ++i) clients.emplace_back(client, seed * 100 + i);
  std::atomic<int> source_runs{0}, source_failures{0};
  std::string first_source_failure;
  std::thread source([&] {
    while (!stop_load) {
      if (server_down) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      auto r = run_program({smtp_source, "-L", "-s", "2", "-m", "200", "-l", "2048", "-r", "1",
                            "-t", "load@e2e.test", "-f", kSender, "unix:" + cubby_->socket_path()},
                           20s);
      ++source_runs;
      if (r.exit_code != 0 && source_failures++ == 0) {  // a kill cut a session short
        std::lock_guard<std::mutex> lock(mu);
        first_source_failure = r.describe();
      }
    }
  });
  clients.push_back(std::move(source));

  int worker_kills = 0, server_kills = 0, reloads = 0;
  std::mt19937 rng(seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 300));
    if (rng() % 8 == 0) {
      server_down = true;
      cubby_->crash();
      ++server_kills;
      auto error = cubby_->start();
      server_down = false;
      ASSERT_FALSE(error) << "restart after kill " << server_kills << ": " << *error;
    } else {
      auto ws = cubby_->workers("lmtpunix");
      if (!ws.empty()) {
        kill(ws[rng() % ws.size()], SIGKILL);
        ++worker_kills;
        // The master disables a service after five failures in 10 s, as Cyrus's does, until
        // SIGHUP (docs/master.md); the operator's SIGHUP is part of the loop (a reload, too).
        if (worker_kills % 3 == 0) {
          kill(cubby_->master_pid(), SIGHUP);
          ++reloads;
        }
      }
    }
  }
  stop_load = true;
  for (auto& t : clients) t.join();
  kill(cubby_->master_pid(), SIGHUP);  // whatever the last kills disabled is served again

  // Quiet now: every unacknowledged recipient is retried until it is acknowledged.
  for (int round = 0; round < 20 && !retry.empty(); ++round) {
    if (round > 0) std::this_thread::sleep_for(250ms);
    std::vector<Work> again;
    for (auto& w : retry) {
      LmtpClient c;
      if (connect(c)) {
        one_attempt(c, w);
      } else {
        w.last_error = "connect: " + c.error();
      }
      (w.pending.empty() ? done : again).push_back(std::move(w));
    }
    retry = std::move(again);
  }
  ASSERT_TRUE(retry.empty()) << retry.size() << " messages never acknowledged after the kills; "
                             << retry[0].id << " after " << retry[0].attempts
                             << " attempts: " << retry[0].last_error;
  ASSERT_TRUE(cubby_->wait_settled(20s));

  // What is stored: Message-ID -> count, per user.
  std::map<std::string, std::map<std::string, int>> stored;
  size_t files = 0;
  InboxFiles load = read_inbox(*cubby_, format, "load");
  for (const auto& problem : load.problems) ADD_FAILURE() << problem;
  const size_t load_messages = load.copies.size();
  EXPECT_GT(load_messages, 0u) << "smtp-source delivered nothing";
  for (const auto& u : kUsers) {
    InboxFiles inbox = read_inbox(*cubby_, format, u);
    for (const auto& problem : inbox.problems) ADD_FAILURE() << problem;
    std::set<int64_t> uids;
    for (const auto& copy : inbox.copies) {
      EXPECT_TRUE(uids.insert(copy.uid).second) << u << ": uid " << copy.uid << " twice";
      const std::string id = message_id_of(copy.bytes);
      ASSERT_NE(id, "") << copy.path;
      // Whole: a stored copy is exactly what a client sent (nothing partial).
      EXPECT_EQ(check_stored(copy.bytes, kSender, "[unix socket]", test_message(id, 30)), "")
          << copy.path;
      stored[u][id]++;
      ++files;
    }
  }
  int missing = 0, twice_first_ack = 0, twice_after_lost = 0, checked = 0;
  for (const auto& w : done) {
    for (const auto& [u, attempts] : w.attempts_before_ack) {
      ++checked;
      int n = stored[u].count(w.id) ? stored[u][w.id] : 0;
      if (n == 0) {
        ++missing;
        ADD_FAILURE() << w.id << " acknowledged for " << u << " but missing";
      } else if (n > 1 && attempts == 1) {
        ++twice_first_ack;
        ADD_FAILURE() << w.id << " acknowledged at once for " << u << " but stored " << n << "x";
      } else if (n > 1) {
        ++twice_after_lost;
      }
    }
  }
  expect_check_passes();
  std::cout << "[ crash loop ] " << format_name(format) << ", " << seconds << " s, seed " << seed
            << ": " << worker_kills << " worker kills, " << server_kills << " server kills, "
            << reloads << " SIGHUPs, " << transactions << " transactions (" << failed
            << " without every 250), " << done.size() << " messages, " << checked
            << " acknowledged deliveries checked, " << files
            << " files; smtp-source: " << source_runs << " runs (" << source_failures
            << " cut short by a kill), " << load_messages << " messages stored\n"
            << "[ crash loop ] the first smtp-source run cut short: " << first_source_failure
            << "\n"
            << "[ crash loop ] acknowledged but missing: " << missing
            << "; acknowledged at once and stored twice: " << twice_first_ack
            << "; stored twice after a lost 250: " << twice_after_lost << "\n";
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(twice_first_ack, 0);
}

INSTANTIATE_TEST_SUITE_P(, CrashLoopE2e,
                         ::testing::Values(PartitionFormat::kCyrus, PartitionFormat::kMaildir),
                         [](const auto& info) { return format_name(info.param); });

}  // namespace
}  // namespace cubby::e2e
