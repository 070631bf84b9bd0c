// A back end killed mid-run while a client keeps sending through the front end (SIGKILL to its
// master and workers, processes this test started): its recipients get `451 4.4.3` while it is
// down, everyone else's are delivered with 250 throughout; once it is started again the client's
// retry of the deferred recipients (the same message, the same Message-ID, as an MTA resends it)
// delivers them, and in the end every recipient has each message exactly once.
#include <iostream>
#include <map>

#include "tests/scaleout/load_client.h"
#include "tests/scaleout/scaleout_fixture.h"

namespace cubby::scaleout {
namespace {

enum Phase { kUp, kKilling, kDown, kRestarting, kBack };
constexpr int kVictim = 2;

TEST_F(ScaleOut, BackEndKilledMidRunDefersOnlyItsRecipientsUntilItReturns) {
  ClusterOptions options;
  ASSERT_NO_FATAL_FAILURE(start_cluster(options));

  std::atomic<int> phase{kUp};
  LoadClient load([this](LmtpClient& c, std::string* why) { return connect_front(c, why); },
                  options.users, phase, "k");
  ASSERT_TRUE(load.wait_more(20, 60s)) << "the client is not getting through";
  phase = kKilling;
  crash_backend(kVictim);
  phase = kDown;
  ASSERT_TRUE(load.wait_more(20, 60s)) << "the client is stuck with be" << kVictim << " down";
  phase = kRestarting;
  ASSERT_EQ(restart_backend(kVictim), "");
  phase = kBack;
  ASSERT_TRUE(load.wait_more(20, 60s)) << "the client is stuck after be" << kVictim << " returned";
  load.stop();

  std::map<std::string, std::vector<int>> sent;
  std::map<std::string, std::vector<int>> deferred;  // id -> users to retry, in RCPT order
  int deferred_while_down = 0;
  for (const auto& r : load.records()) {
    const Exchange& x = r.exchange;
    ASSERT_EQ(x.error, "") << r.id << " (phase " << r.phase_before << "-" << r.phase_after << ")";
    ASSERT_EQ(x.rcpt.size(), r.users.size()) << r.id;
    sent[r.id] = r.users;
    for (size_t k = 0; k < r.users.size(); ++k) {
      const int u = r.users[k];
      const std::string who = r.id + " " + user_name(u) + " (phase " +
                              std::to_string(r.phase_before) + "-" +
                              std::to_string(r.phase_after) + ")";
      // The directory knows everybody: RCPT is accepted, whatever the back ends do.
      EXPECT_EQ(x.rcpt[k].code, 250) << who << ": " << x.rcpt[k].text();
      const LmtpReply& reply = x.outcome(k);
      const bool deferred_reply = reply.code == 451 && reply.enhanced() == "4.4.3";
      if (home_of(u) != kVictim) {
        // Nobody else sees a change.
        EXPECT_EQ(reply.code, 250) << who << ": " << reply.text();
      } else if (r.phase_before == r.phase_after && (r.phase_before == kUp || r.phase_before == kBack)) {
        EXPECT_EQ(reply.code, 250) << who << ": " << reply.text();
      } else if (r.phase_before == kDown && r.phase_after == kDown) {
        EXPECT_TRUE(deferred_reply) << who << ": " << reply.text();
        deferred_while_down += deferred_reply ? 1 : 0;
      } else {
        // Straddling the kill or the restart: delivered, or deferred.
        EXPECT_TRUE(reply.code == 250 || deferred_reply) << who << ": " << reply.text();
      }
      if (deferred_reply) deferred[r.id].push_back(u);
    }
  }
  ASSERT_GT(deferred_while_down, 0) << "no message reached be" << kVictim << " while it was down";

  // The client's retry: the same messages to the deferred recipients only.
  LmtpClient client;
  std::string why;
  ASSERT_TRUE(connect_front(client, &why)) << why;
  for (const auto& [id, users] : deferred) {
    const Exchange x = send_to_users(client, id, users);
    ASSERT_EQ(x.error, "") << id;
    for (size_t k = 0; k < users.size(); ++k) {
      EXPECT_EQ(x.outcome(k).code, 250) << "retry of " << id << " " << user_name(users[k]) << ": "
                                        << x.outcome(k).text();
    }
  }
  client.command("QUIT");
  std::cout << load.records().size() << " messages, " << deferred.size()
            << " with recipients deferred and retried\n";
  // Exactly once per recipient everywhere; one inode per message on the back ends that never went
  // down.
  expect_stored_once(sent, {0, 1});
}

}  // namespace
}  // namespace cubby::scaleout
