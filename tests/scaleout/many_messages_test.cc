// 1,000 messages (CUBBY_SCALEOUT_MESSAGES to change the count) with 1 to 20 recipients each
// (seeded random, over 30 users) through one front end to three back ends, sent over several
// sessions at once: every recipient gets every message exactly once, on its own back end, as one
// inode per back end per message (hard links within a back end), and the replies come in RCPT
// order (each recipient's 250 is its own back end's: SESSIONID=<be<b>-...>). Every fifth message
// also goes to `ghost`, whom the directory places on a back end that does not exist (a UNIX socket
// path with nothing there), at a random place among the recipients: exactly that recipient gets
// 451 4.4.3.
#include <algorithm>
#include <iostream>
#include <random>
#include <thread>

#include "directory/postgres_directory.h"
#include "tests/scaleout/scaleout_fixture.h"

namespace cubby::scaleout {
namespace {

constexpr int kSessions = 4;
constexpr int kMessagesPerConnection = 50;
constexpr int kGhost = -1;  // in a recipient list: ghost@example.org

TEST_F(ScaleOut, ThousandMessagesOverThreeBackEnds) {
  ClusterOptions options;
  options.front_workers = 2;
  ASSERT_NO_FATAL_FAILURE(start_cluster(options));
  const int messages = env_count("CUBBY_SCALEOUT_MESSAGES", 1000);
  {
    directory::PostgresDirectory admin(pg().conninfo());
    ASSERT_EQ(admin.assign("ghost", {"unix:" + front().root() + "/no-such-back-end", "default"}),
              std::nullopt);
  }

  std::mt19937 random(16);
  std::vector<std::vector<int>> recipients(messages);
  for (int m = 0; m < messages; ++m) {
    auto& users = recipients[m];
    users.resize(options.users);
    for (int u = 0; u < options.users; ++u) users[u] = u;
    std::shuffle(users.begin(), users.end(), random);
    users.resize(1 + random() % 20);
    if (m % 5 == 0) {
      users.insert(users.begin() + static_cast<long>(random() % (users.size() + 1)), kGhost);
    }
  }

  const auto started = std::chrono::steady_clock::now();
  std::vector<Exchange> exchanges(messages);
  std::vector<std::thread> sessions;
  for (int s = 0; s < kSessions; ++s) {
    sessions.emplace_back([&, s] {
      LmtpClient client;
      int sent_here = 0;
      for (int m = s; m < messages; m += kSessions) {
        if (sent_here++ % kMessagesPerConnection == 0) {
          std::string why;
          if (!connect_front(client, &why)) {
            exchanges[m].error = why;
            continue;
          }
        }
        std::vector<std::string> addresses;
        for (int u : recipients[m]) {
          addresses.push_back((u == kGhost ? std::string("ghost") : user_name(u)) + "@example.org");
        }
        exchanges[m] = send(client, "m" + std::to_string(m), addresses);
      }
      client.command("QUIT");
    });
  }
  for (auto& t : sessions) t.join();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  size_t deliveries = 0;
  for (const auto& users : recipients) deliveries += users.size() - std::count(users.begin(), users.end(), kGhost);
  std::cout << messages << " messages, " << deliveries << " deliveries through the front end in "
            << elapsed.count() << " ms (" << kSessions << " sessions)\n";
  RecordProperty("messages", messages);
  RecordProperty("deliveries", static_cast<int>(deliveries));
  RecordProperty("send_ms", static_cast<int>(elapsed.count()));

  std::map<std::string, std::vector<int>> sent;
  int bad = 0;
  for (int m = 0; m < messages && bad < 10; ++m) {
    const std::string id = "m" + std::to_string(m);
    const Exchange& x = exchanges[m];
    const auto& users = recipients[m];
    bool good = x.error.empty() && x.rcpt.size() == users.size() && x.final.size() == users.size();
    EXPECT_TRUE(good) << id << ": " << x.error << " (" << x.rcpt.size() << " RCPT replies, "
                      << x.final.size() << " final replies for " << users.size() << ")";
    for (size_t k = 0; good && k < users.size(); ++k) {
      if (users[k] == kGhost) {
        EXPECT_EQ(x.rcpt[k].code, 250) << id << " ghost: " << x.rcpt[k].text();
        EXPECT_EQ(x.final[k].code, 451) << id << " ghost: " << x.final[k].text();
        EXPECT_EQ(x.final[k].enhanced(), "4.4.3") << id << " ghost: " << x.final[k].text();
        good = good && x.rcpt[k].code == 250 && x.final[k].code == 451;
        continue;
      }
      EXPECT_EQ(x.rcpt[k].code, 250) << id << " " << user_name(users[k]) << ": " << x.rcpt[k].text();
      EXPECT_EQ(x.final[k].code, 250) << id << " " << user_name(users[k]) << ": "
                                      << x.final[k].text();
      // In RCPT order: recipient k's reply is its own back end's.
      const std::string own = "SESSIONID=<be" + std::to_string(home_of(users[k])) + "-";
      EXPECT_NE(x.final[k].text().find(own), std::string::npos)
          << id << " " << user_name(users[k]) << ": " << x.final[k].text();
      good = good && x.rcpt[k].code == 250 && x.final[k].code == 250 &&
             x.final[k].text().find(own) != std::string::npos;
    }
    bad += good ? 0 : 1;
    std::vector<int> delivered = users;
    std::erase(delivered, kGhost);
    sent[id] = delivered;
  }
  ASSERT_EQ(bad, 0);
  const auto checking = std::chrono::steady_clock::now();
  expect_stored_once(sent, {0, 1, 2});
  std::cout << "checked the back ends' files in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - checking)
                   .count()
            << " ms\n";
}

}  // namespace
}  // namespace cubby::scaleout
