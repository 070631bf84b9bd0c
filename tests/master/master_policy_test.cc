// The master's staffing rule, failure window, kinds of worker death and which of them disable an
// address, the replacement back-off and the enable retry, maxchild episode latch, fork-rate
// estimate, EVENTS timing and DAEMON restart back-off, without processes.
#include "server/master/master_policy.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <cstdlib>

namespace cubby::server {
namespace {

StaffingDecision decide(int ready, int total, int prefork, int maxchild, int allowance = INT_MAX) {
  return decide_staffing({ready, total, prefork, maxchild, allowance});
}

TEST(MasterPolicy, ForksUpToPrefork) {
  auto d = decide(0, 0, 2, -1);
  EXPECT_EQ(d.fork, 2);
  EXPECT_FALSE(d.watch_listener);
  EXPECT_FALSE(d.at_maxchild);

  d = decide(1, 3, 2, -1);  // two busy workers, one ready
  EXPECT_EQ(d.fork, 1);
  EXPECT_FALSE(d.watch_listener);
}

TEST(MasterPolicy, EnoughReadyWorkersMeansNothingToDo) {
  auto d = decide(3, 3, 2, -1);
  EXPECT_EQ(d.fork, 0);
  EXPECT_FALSE(d.watch_listener);
  EXPECT_FALSE(d.at_maxchild);
  EXPECT_FALSE(d.rate_limited);
}

TEST(MasterPolicy, PreforkZeroWatchesTheListenerAndRunsNoWorker) {
  auto d = decide(0, 0, 0, -1);
  EXPECT_EQ(d.fork, 0);
  EXPECT_TRUE(d.watch_listener);
  EXPECT_FALSE(d.at_maxchild);

  d = decide(1, 1, 0, -1);  // the worker forked for the first connection has room
  EXPECT_EQ(d.fork, 0);
  EXPECT_FALSE(d.watch_listener);

  d = decide(0, 1, 0, 4);  // it is full: the next connection needs another
  EXPECT_EQ(d.fork, 0);
  EXPECT_TRUE(d.watch_listener);
}

TEST(MasterPolicy, NeverExceedsMaxchild) {
  auto d = decide(0, 0, 5, 3);
  EXPECT_EQ(d.fork, 3);
  EXPECT_FALSE(d.watch_listener);
  EXPECT_FALSE(d.at_maxchild);  // three fresh workers count as ready

  d = decide(1, 2, 5, 3);
  EXPECT_EQ(d.fork, 1);
}

TEST(MasterPolicy, MaxchildReachedWithNoReadyWorker) {
  auto d = decide(0, 3, 1, 3);
  EXPECT_EQ(d.fork, 0);
  EXPECT_FALSE(d.watch_listener);
  EXPECT_TRUE(d.at_maxchild);

  d = decide(0, 5, 1, 3);  // more than maxchild (a lower limit after a reload)
  EXPECT_EQ(d.fork, 0);
  EXPECT_TRUE(d.at_maxchild);

  d = decide(1, 3, 1, 3);  // full, but one has room: not the condition
  EXPECT_FALSE(d.at_maxchild);
}

TEST(MasterPolicy, ForkAllowanceLimitsForksAndListenerWatch) {
  auto d = decide(0, 0, 3, -1, 1);
  EXPECT_EQ(d.fork, 1);
  EXPECT_TRUE(d.rate_limited);

  d = decide(0, 1, 0, -1, 0);  // a connection would need a fork the limit does not allow
  EXPECT_EQ(d.fork, 0);
  EXPECT_FALSE(d.watch_listener);
  EXPECT_TRUE(d.rate_limited);
  EXPECT_FALSE(d.at_maxchild);

  d = decide(0, 2, 0, 2, 0);  // at maxchild the rate does not matter
  EXPECT_TRUE(d.at_maxchild);
  EXPECT_FALSE(d.rate_limited);
}

TEST(MasterPolicy, WorkersThatDiedBusyAreReplacedBeyondPreforkUpToMaxchild) {
  StaffingInput in{0, 0, 1, -1};
  in.owed = 4;  // four busy workers were killed; no worker is left
  EXPECT_EQ(decide_staffing(in).fork, 4);
  in.ready = 2;  // prefork is met, yet the four are owed
  in.total = 2;
  EXPECT_EQ(decide_staffing(in).fork, 4);
  in.maxchild = 4;
  EXPECT_EQ(decide_staffing(in).fork, 2);
  in.maxchild = -1;
  in.fork_allowance = 0;  // held back: none now
  StaffingDecision d = decide_staffing(in);
  EXPECT_EQ(d.fork, 0);
  EXPECT_TRUE(d.rate_limited);
  in.fork_allowance = INT_MAX;
  in.owed = 0;
  EXPECT_EQ(decide_staffing(in).fork, 0);
}

TEST(MasterPolicy, FailureWindowTripsOnFiveWithinTenSeconds) {
  using namespace std::chrono_literals;
  FailureWindow w;
  auto t = FailureWindow::Clock::time_point{} + 100s;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(w.record(t + i * 1s));
  EXPECT_TRUE(w.record(t + 9s));

  FailureWindow spread;
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(spread.record(t + i * 3s)) << i;
}

TEST(MasterPolicy, EpisodeLatchReportsOnlyTheStart) {
  EpisodeLatch l;
  EXPECT_FALSE(l.update(false));
  EXPECT_TRUE(l.update(true));
  EXPECT_FALSE(l.update(true));
  EXPECT_FALSE(l.update(false));
  EXPECT_TRUE(l.update(true));
}

using namespace std::chrono_literals;

TEST(MasterPolicy, ForkRateWithoutLimitAllowsEverything) {
  ForkRate r;
  auto t = ForkRate::Clock::time_point{} + 100s;
  for (int i = 0; i < 100; ++i) r.record_fork(t);
  EXPECT_EQ(r.allowance(t), INT_MAX);
}

TEST(MasterPolicy, ForkRateBoundsABurstAndDecaysByHalfEverySecond) {
  ForkRate r(2);
  auto t = ForkRate::Clock::time_point{} + 100s;
  int burst = r.allowance(t);
  EXPECT_EQ(burst, 3);  // ceil(2 / ln 2): Cyrus would let any number through at one instant
  for (int i = 0; i < burst; ++i) r.record_fork(t);
  EXPECT_EQ(r.allowance(t), 0);
  EXPECT_NEAR(r.estimate(t), 3 * 0.6931, 0.001);
  EXPECT_NEAR(r.estimate(t + 1s), 3 * 0.6931 / 2, 0.001);
  EXPECT_EQ(r.allowance(t + 400ms), 1);  // 1.58: room for one more before reaching 2
  EXPECT_EQ(r.allowance(t + 1s), 2);     // 1.04: room for two
}

TEST(MasterPolicy, ForkRateAtASteadyPaceSettlesNearTheLimit) {
  // Fork whenever allowed, checking every 0.4 s (the master's retry) for a minute.
  ForkRate r(5);
  auto t = ForkRate::Clock::time_point{} + 100s;
  int forks = 0;
  for (int step = 0; step < 150; ++step) {
    auto now = t + step * 400ms;
    for (int n = r.allowance(now); n > 0; --n, ++forks) r.record_fork(now);
  }
  double per_second = forks / 60.0;
  EXPECT_GT(per_second, 4.0);
  EXPECT_LT(per_second, 6.5);
}

// EVENTS timing uses local time for at=; pin the zone so the test means the same everywhere.
class EventTimingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    saved_ = tz ? tz : "";
    had_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_)
      setenv("TZ", saved_.c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  // 2024-03-05 hh:mm:ss UTC.
  static std::chrono::system_clock::time_point at(int hh, int mm, int ss = 0, int day = 5) {
    struct tm tm = {};
    tm.tm_year = 124;
    tm.tm_mon = 2;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(EventTimingTest, PeriodRunsAtStartThenEveryPeriodSkippingMissedRuns) {
  EventTiming every5m{300, -1};
  auto start = at(10, 0, 7);
  EXPECT_EQ(first_event_run(every5m, start), start);
  EXPECT_EQ(next_event_run(every5m, start, start + 1s), start + 300s);
  // The master was suspended for 17 minutes: the next run is the next on the grid, not a catch-up.
  EXPECT_EQ(next_event_run(every5m, start, start + 17min), start + 20min);
}

TEST_F(EventTimingTest, NoPeriodRunsOnceAtStart) {
  EventTiming once{0, -1};
  auto start = at(10, 0);
  EXPECT_EQ(first_event_run(once, start), start);
  EXPECT_FALSE(next_event_run(once, start, start + 1s));
}

TEST_F(EventTimingTest, AtRunsDailyAtThatTimeIgnoringPeriod) {
  EventTiming daily{60, 430};
  EXPECT_EQ(first_event_run(daily, at(3, 0)), at(4, 30));
  EXPECT_EQ(first_event_run(daily, at(4, 30)), at(4, 30, 0, 6));  // exactly now: tomorrow
  EXPECT_EQ(first_event_run(daily, at(23, 59)), at(4, 30, 0, 6));
  EXPECT_EQ(next_event_run(daily, at(4, 30), at(4, 30, 2)), at(4, 30, 0, 6));
}

TEST(MasterPolicy, RestartBackoffDoublesForQuickExitsAndResetsAfterAHealthyRun) {
  RestartBackoff b;
  EXPECT_EQ(b.after_exit(100ms), std::chrono::steady_clock::duration(1s));
  EXPECT_EQ(b.after_exit(100ms), std::chrono::steady_clock::duration(2s));
  EXPECT_EQ(b.after_exit(3s), std::chrono::steady_clock::duration(4s));
  for (int i = 0; i < 10; ++i) b.after_exit(0s);
  EXPECT_EQ(b.after_exit(0s), std::chrono::steady_clock::duration(60s));
  EXPECT_EQ(b.after_exit(61s), std::chrono::steady_clock::duration::zero());
  EXPECT_EQ(b.after_exit(1s), std::chrono::steady_clock::duration(1s));
}

// wait_status values as waitpid() reports them.
int exited(int code) { return (code & 0xff) << 8; }
int killed(int sig) { return sig & 0x7f; }

TEST(MasterPolicy, DeathsAreClassifiedByWhatTheWorkerHadSaid) {
  EXPECT_EQ(classify_death(false, false), WorkerDeath::kAtStart);
  EXPECT_EQ(classify_death(false, true), WorkerDeath::kAtStart);
  EXPECT_EQ(classify_death(true, false), WorkerDeath::kIdle);
  EXPECT_EQ(classify_death(true, true), WorkerDeath::kBusy);
  EXPECT_STREQ(death_name(WorkerDeath::kAtStart), "at_start");
  EXPECT_STREQ(death_name(WorkerDeath::kIdle), "idle");
  EXPECT_STREQ(death_name(WorkerDeath::kBusy), "busy");
}

TEST(MasterPolicy, OnlyWorkersThatCannotStartCountTowardsDisabling) {
  ASSERT_TRUE(WIFEXITED(exited(1)) && WEXITSTATUS(exited(1)) == 1);
  ASSERT_TRUE(WIFSIGNALED(killed(SIGKILL)) && WTERMSIG(killed(SIGKILL)) == SIGKILL);
  // Busy and idle deaths never do, whatever killed them.
  for (int status : {exited(1), exited(75), killed(SIGKILL), killed(SIGSEGV), killed(SIGABRT)}) {
    EXPECT_FALSE(counts_towards_disabling(WorkerDeath::kBusy, status)) << status;
    EXPECT_FALSE(counts_towards_disabling(WorkerDeath::kIdle, status)) << status;
  }
  // At start: an exit (a bad cmd=, 75 for a partition that cannot be opened, 78 for a bad
  // settings file) or a crash does; SIGKILL from outside does not.
  EXPECT_TRUE(counts_towards_disabling(WorkerDeath::kAtStart, exited(1)));
  EXPECT_TRUE(counts_towards_disabling(WorkerDeath::kAtStart, exited(75)));
  EXPECT_TRUE(counts_towards_disabling(WorkerDeath::kAtStart, exited(78)));
  EXPECT_TRUE(counts_towards_disabling(WorkerDeath::kAtStart, killed(SIGSEGV)));
  EXPECT_FALSE(counts_towards_disabling(WorkerDeath::kAtStart, killed(SIGKILL)));
}

TEST(MasterPolicy, OnlyDeathsWithoutAClientHoldReplacementsBack) {
  EXPECT_TRUE(holds_back_replacements(WorkerDeath::kAtStart));
  EXPECT_TRUE(holds_back_replacements(WorkerDeath::kIdle));
  // A busy death took a client with it: bounded by the clients, and its replacement is wanted now.
  EXPECT_FALSE(holds_back_replacements(WorkerDeath::kBusy));
}

TEST(MasterPolicy, ReplacementBackoffDoublesBeyondTheFreeDeathsAndForgetsOldOnes) {
  ReplacementBackoff b;
  using D = ReplacementBackoff::Clock::duration;
  auto t = ReplacementBackoff::Clock::time_point{} + 100s;
  for (int i = 0; i < ReplacementBackoff::kFree; ++i) {
    EXPECT_EQ(b.record(t + i * 10ms), D::zero()) << i;
    EXPECT_EQ(b.allowance(t + i * 10ms), INT_MAX);
  }
  auto now = t + 200ms;
  EXPECT_EQ(b.record(now), D(50ms));
  EXPECT_EQ(b.allowance(now), 0);
  EXPECT_EQ(b.allowance(now + 49ms), 0);
  EXPECT_EQ(b.allowance(now + 50ms), INT_MAX);
  EXPECT_EQ(b.record(now), D(100ms));
  EXPECT_EQ(b.record(now), D(200ms));
  EXPECT_EQ(b.record(now), D(250ms));
  EXPECT_EQ(b.record(now), D(250ms));
  // Deaths spread out more than the window apart are free again.
  EXPECT_EQ(b.record(now + ReplacementBackoff::kWindow + 1s), D::zero());
  b.clear();
  EXPECT_EQ(b.allowance(now), INT_MAX);
}

TEST(MasterPolicy, EnableRetryDoublesUpToFiveMinutesAndStartsOverAfterReset) {
  EnableRetry r;
  using D = EnableRetry::Clock::duration;
  EXPECT_EQ(r.next(), D(10s));
  EXPECT_EQ(r.next(), D(20s));
  EXPECT_EQ(r.next(), D(40s));
  for (int i = 0; i < 10; ++i) r.next();
  EXPECT_EQ(r.next(), D(300s));
  r.reset();
  EXPECT_EQ(r.next(), D(10s));
}

}  // namespace
}  // namespace cubby::server
