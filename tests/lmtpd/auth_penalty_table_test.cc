// Tests of the AUTH failure table per client address (server/lmtpd/auth_penalty_table.h): turns spaced
// by the doubling delay once an address has failed, other addresses untouched, success and time
// forgetting, and one table shared by two mappings of its file, as two workers share it.
#include "server/lmtpd/auth_penalty_table.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace cubby::server {
namespace {

using namespace std::chrono_literals;

const PenaltyRules kRules{1000ms, 30000ms, 3600000ms};
constexpr int64_t kT0 = 1'800'000'000'000;  // some realtime milliseconds

TEST(AuthPenaltyTable, AnUnknownAddressIsAdmittedAtOnce) {
  auto t = AuthPenaltyTable::in_memory(kRules);
  EXPECT_EQ(t->admit("192.0.2.1", kT0), 0ms);
  EXPECT_EQ(t->admit("192.0.2.1", kT0), 0ms);
  EXPECT_EQ(t->failures("192.0.2.1", kT0), 0u);
}

TEST(AuthPenaltyTable, AfterAFailureParallelAttemptsAreSpacedByTheDelay) {
  auto t = AuthPenaltyTable::in_memory(kRules);
  t->failed("192.0.2.1", kT0);
  // Thirty connections trying at the same moment get turns one second apart.
  for (int i = 1; i <= 30; ++i) {
    EXPECT_EQ(t->admit("192.0.2.1", kT0), std::chrono::milliseconds(1000 * i)) << i;
  }
  EXPECT_EQ(t->admit("192.0.2.2", kT0), 0ms) << "another address is not slowed";
}

TEST(AuthPenaltyTable, TheSpacingDoublesWithEachFailureUpToTheMaximum) {
  auto t = AuthPenaltyTable::in_memory(kRules);
  int64_t now = kT0;
  const std::chrono::milliseconds expected[] = {1000ms, 2000ms, 4000ms, 8000ms,
                                                16000ms, 30000ms, 30000ms};
  for (auto want : expected) {
    t->failed("198.51.100.7", now);
    EXPECT_EQ(t->admit("198.51.100.7", now), want);
    now += want.count();  // the attempt's turn comes; it fails again
  }
  EXPECT_EQ(t->failures("198.51.100.7", now), 7u);
}

TEST(AuthPenaltyTable, ASuccessOrAnHourWithoutFailureForgets) {
  auto t = AuthPenaltyTable::in_memory(kRules);
  t->failed("a", kT0);
  t->failed("a", kT0);
  t->succeeded("a");
  EXPECT_EQ(t->admit("a", kT0), 0ms);
  t->failed("b", kT0);
  EXPECT_GT(t->admit("b", kT0 + 500), 0ms);
  EXPECT_EQ(t->admit("b", kT0 + 3600000 + 10000), 0ms);
  EXPECT_EQ(t->failures("b", kT0 + 3600000 + 10000), 0u);
}

TEST(AuthPenaltyTable, ManyAddressesReuseTheOldestSlots) {
  auto t = AuthPenaltyTable::in_memory(kRules);
  for (int i = 0; i < 3 * static_cast<int>(kPenaltySlots); ++i) {
    t->failed("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), kT0 + i);
  }
  // The latest address is remembered however full the table got.
  EXPECT_GT(t->admit("10.0." + std::to_string((3 * kPenaltySlots - 1) / 256) + "." +
                         std::to_string((3 * kPenaltySlots - 1) % 256),
                     kT0 + 3 * kPenaltySlots),
            0ms);
}

class PenaltyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cubby-penalty-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(PenaltyFile, TwoMappingsShareOneTable) {
  std::string error;
  auto a = AuthPenaltyTable::open(dir_ + "/auth_penalty", kRules, &error);
  EXPECT_EQ(error, "");
  auto b = AuthPenaltyTable::open(dir_ + "/auth_penalty", kRules, &error);
  EXPECT_EQ(error, "");
  a->failed("203.0.113.9", kT0);
  EXPECT_EQ(b->admit("203.0.113.9", kT0), 1000ms) << "the other worker does not see the failure";
  EXPECT_EQ(a->admit("203.0.113.9", kT0), 2000ms) << "turns are shared";
  b->succeeded("203.0.113.9");
  EXPECT_EQ(a->admit("203.0.113.9", kT0), 0ms);
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/auth_penalty").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PenaltyFile, ALinkAtThePathFallsBackToThisProcess) {
  ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/auth_penalty").c_str()), 0);
  std::string error;
  auto t = AuthPenaltyTable::open(dir_ + "/auth_penalty", kRules, &error);
  EXPECT_NE(error, "");
  ASSERT_TRUE(t);
  t->failed("x", kT0);
  EXPECT_EQ(t->admit("x", kT0), 1000ms);
}

}  // namespace
}  // namespace cubby::server
