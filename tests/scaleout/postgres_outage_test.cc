// PostgreSQL stopped for 10 s while a client keeps sending through the front end: users the front
// end has looked up before keep receiving (its cache; directory_cache_seconds is 2 s here, so
// their answers go stale during the outage and are served past it, as directory_stale_seconds
// allows); a user placed in the directory but never looked up is deferred (`451 4.4.3` at RCPT,
// every time it is tried during the outage), never bounced with 550; once PostgreSQL is back it
// is delivered.
#include <iostream>

#include "directory/postgres_directory.h"
#include "tests/scaleout/load_client.h"
#include "tests/scaleout/scaleout_fixture.h"

namespace cubby::scaleout {
namespace {

enum Phase { kUp, kDown, kBack };
constexpr auto kOutage = 10s;

TEST_F(ScaleOut, PostgresStoppedTenSecondsKnownUsersKeepReceivingNewUserDeferred) {
  ClusterOptions options;
  options.front_settings = {"directory_cache_seconds: 2s"};
  ASSERT_NO_FATAL_FAILURE(start_cluster(options));
  // The newcomer: placed now, on be0, and never written to before the outage.
  const int newcomer = options.users;
  {
    directory::PostgresDirectory admin(pg().conninfo());
    ASSERT_EQ(admin.assign(user_name(newcomer), {backend_address(home_of(newcomer)), "default"}),
              std::nullopt);
  }

  std::map<std::string, std::vector<int>> sent;
  // Every known user is looked up once (the front end has one worker, so one cache).
  {
    LmtpClient client;
    std::string why;
    ASSERT_TRUE(connect_front(client, &why)) << why;
    std::vector<int> everybody;
    for (int u = 0; u < options.users; ++u) everybody.push_back(u);
    const Exchange x = send_to_users(client, "warm", everybody);
    ASSERT_EQ(x.error, "");
    for (size_t k = 0; k < everybody.size(); ++k) ASSERT_EQ(x.outcome(k).code, 250) << x.outcome(k).text();
    sent["warm"] = everybody;
  }

  std::atomic<int> phase{kUp};
  LoadClient load([this](LmtpClient& c, std::string* why) { return connect_front(c, why); },
                  options.users, phase, "p", 20ms);
  ASSERT_TRUE(load.wait_more(10, 60s)) << "the client is not getting through";

  ASSERT_EQ(pg().stop(), "");
  phase = kDown;
  const auto outage_end = std::chrono::steady_clock::now() + kOutage;
  // The newcomer, tried every half second during the outage, each time on a new connection.
  std::vector<LmtpReply> newcomer_replies;
  while (std::chrono::steady_clock::now() < outage_end) {
    LmtpClient probe;
    std::string why;
    ASSERT_TRUE(connect_front(probe, &why)) << why;
    ASSERT_EQ(probe.command("MAIL FROM:<sender@example.org>").code, 250);
    newcomer_replies.push_back(probe.command("RCPT TO:<" + user_name(newcomer) + "@example.org>"));
    probe.command("QUIT");
    std::this_thread::sleep_for(500ms);
  }
  const int sent_during_outage = load.sent();
  ASSERT_EQ(pg().start(), "");
  phase = kBack;
  ASSERT_TRUE(load.wait_more(10, 60s)) << "the client is stuck after PostgreSQL returned";

  // The newcomer once PostgreSQL is back (the front end waits 1 s between connection attempts).
  Exchange late;
  LmtpClient client;
  std::string why;
  ASSERT_TRUE(connect_front(client, &why)) << why;
  e2e::eventually(
      [&] {
        late = send_to_users(client, "newcomer", {newcomer});
        return late.error.empty() && late.outcome(0).code == 250;
      },
      10s);
  load.stop();
  ASSERT_EQ(late.error, "");
  EXPECT_EQ(late.outcome(0).code, 250) << late.outcome(0).text();
  sent["newcomer"] = {newcomer};

  ASSERT_GE(newcomer_replies.size(), 10u);
  for (const auto& r : newcomer_replies) {
    EXPECT_EQ(r.code, 451) << r.text();  // deferred, never 550
    EXPECT_EQ(r.enhanced(), "4.4.3") << r.text();
  }

  int during = 0;
  for (const auto& r : load.records()) {
    const std::string when = " (phase " + std::to_string(r.phase_before) + "-" +
                             std::to_string(r.phase_after) + ")";
    ASSERT_EQ(r.exchange.error, "") << r.id << when;
    ASSERT_EQ(r.exchange.rcpt.size(), r.users.size()) << r.id;
    for (size_t k = 0; k < r.users.size(); ++k) {
      EXPECT_EQ(r.exchange.rcpt[k].code, 250)
          << r.id << " " << user_name(r.users[k]) << when << ": " << r.exchange.rcpt[k].text();
      EXPECT_EQ(r.exchange.outcome(k).code, 250)
          << r.id << " " << user_name(r.users[k]) << when << ": " << r.exchange.outcome(k).text();
    }
    during += r.phase_before == kDown && r.phase_after == kDown ? 1 : 0;
    sent[r.id] = r.users;
  }
  std::cout << load.records().size() << " messages, " << during
            << " of them entirely while PostgreSQL was down (" << sent_during_outage
            << " sent by the end of the outage)\n";
  EXPECT_GE(during, 10) << "too few messages while PostgreSQL was down to show anything";
  // The known users' answers had gone stale: the front end served them from its cache because
  // PostgreSQL could not answer (directory_cache.cc logs it).
  EXPECT_NE(front().log().find("served from the cache"), std::string::npos);
  expect_stored_once(sent, {0, 1, 2});
}

}  // namespace
}  // namespace cubby::scaleout
