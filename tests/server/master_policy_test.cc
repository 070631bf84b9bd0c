// The master's staffing rule, failure window and maxchild episode latch, without processes.
#include "server/master_policy.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cubby::server
