// Hostile clients: an AUTH brute-force storm. 200 connections to the SASL service (lmtpauth, no
// pre-authentication) guess passwords at once. Each failed AUTH is answered only after its delay
// (lmtp_auth_failure_delay, doubling), waited on the session's own timer, and the
// lmtp_max_auth_failures-th failure closes the connection with 421 4.7.0. Meanwhile a legitimate
// client of the same service authenticates and delivers, again and again, each time within a
// bounded delay. The attackers and the admin share one address (127.0.0.1), so the penalty per
// address (hostile_auth_penalty_test.cc) is turned off here: this test is about the delays of each
// connection and the cost of a storm to the worker.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "tests/auth/sasl_fixtures.h"
#include "tests/e2e/fixture.h"
#include "tests/e2e/hostile.h"

namespace cubby::e2e {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kAttackers = 200;
constexpr int kMaxFailures = 5;
constexpr auto kDelay = 100ms;  // the first failure's delay; then 200, 400, 800 ms, then 421

class HostileAuthStorm : public CubbyTest {
 protected:
  void SetUp() override {
    const std::string sasldb = root_.path() + "/sasldb2";
    auto e = test::add_sasl_user(sasldb, "e2e.test", "postman", "p0stm4n-secret");
    ASSERT_FALSE(e) << *e;
    ASSERT_NO_FATAL_FAILURE(start({"alice"}, {"sasl_pwcheck_method: auxprop",
                                              "sasl_auxprop_plugin: sasldb",
                                              "sasl_sasldb_path: " + sasldb,
                                              "lmtpauth_admins: postman", "allowplaintext: yes",
                                              "lmtpauth_lmtp_auth_failure_delay: 100ms",
                                              "lmtpauth_lmtp_max_auth_failures: 5",
                                              "lmtp_auth_penalty_timeout: 0"}));
  }
};

TEST_F(HostileAuthStorm, GuessersAreSlowedAndCutOffWhileAnAdminDelivers) {
  std::atomic<bool> storm_over{false};
  std::atomic<int> closed_after_limit{0}, wrong_replies{0}, ready{0};
  std::mutex mu;
  std::string first_problem;
  const auto storm_start = Clock::now();
  std::vector<std::thread> attackers;
  for (int i = 0; i < kAttackers; ++i) {
    attackers.emplace_back([&, i] {
      LmtpClient c;
      auto problem = [&](const std::string& what) {
        ++wrong_replies;
        std::lock_guard lock(mu);
        if (first_problem.empty()) first_problem = "attacker " + std::to_string(i) + ": " + what;
      };
      if (!c.connect_tcp(cubby_->auth_port())) return problem(c.error());
      c.set_timeout(20s);
      if (c.read_reply().code != 220 || c.command("LHLO attacker").code != 250) {
        return problem("no greeting");
      }
      ++ready;
      for (int attempt = 1; attempt <= kMaxFailures; ++attempt) {
        LmtpReply r = c.command(plain("postman", "guess-" + std::to_string(attempt)));
        const std::string want = attempt < kMaxFailures
                                     ? "535 5.7.8 Authentication credentials invalid"
                                     : "421 4.7.0 Too many authentication failures";
        if (r.text() != want) return problem("attempt " + std::to_string(attempt) + ": " + r.text());
      }
      if (c.wait_closed(5s)) ++closed_after_limit;
    });
  }
  // The admin delivers while the storm runs.
  ASSERT_TRUE(eventually([&] { return ready.load() >= kAttackers / 2; }, 20s));
  std::vector<std::chrono::milliseconds> took;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = Clock::now();
    LmtpClient admin = tcp_client(cubby_->auth_port());
    admin.set_timeout(10s);
    ASSERT_EQ(admin.read_reply().code, 220);
    ASSERT_EQ(admin.command("LHLO admin.client").code, 250);
    ASSERT_EQ(admin.command(plain("postman", "p0stm4n-secret")).code, 235);
    EXPECT_EQ(admin.deliver("sender@example.org", {"alice@e2e.test"},
                            test_message("storm-" + std::to_string(round) + "@e2e"), false),
              "");
    took.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0));
    std::this_thread::sleep_for(200ms);
  }
  for (auto& t : attackers) t.join();
  const auto storm_took = Clock::now() - storm_start;
  storm_over = true;

  EXPECT_EQ(wrong_replies.load(), 0) << first_problem;
  EXPECT_EQ(closed_after_limit.load(), kAttackers) << "every guesser is cut off after 5 failures";
  // Each guesser waited 100 + 200 + 400 + 800 + 1600 ms for its five answers.
  EXPECT_GE(storm_took, 3100ms);
  for (size_t i = 0; i < took.size(); ++i) {
    EXPECT_LT(took[i], 1500ms) << "admin delivery " << i << " was held up by the storm";
  }
  auto rows = cubby_->messages("alice");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 5u);
  std::cout << "[ measures ] " << kAttackers << " guessers x " << kMaxFailures << " AUTH in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(storm_took).count()
            << " ms; admin AUTH+delivery took";
  for (auto t : took) std::cout << " " << t.count();
  std::cout << " ms\n";
}

}  // namespace
}  // namespace cubby::e2e
