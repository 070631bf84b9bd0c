// What the master checks before it runs anything (server/master/master_plan.h): both files parsed,
// executables found, addresses resolved, the service user and metrics settings checked.
#include "server/master/master_plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cubby::server {
namespace {

class MasterPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cubby-plan-XXXXXX";
    dir_ = mkdtemp(tmpl);
    tool_ = dir_ + "/tool";
    std::ofstream(tool_) << "#!/bin/sh\n";
    chmod(tool_.c_str(), 0755);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Result<MasterPlan, std::string> load(const std::string& settings, const std::string& services) {
    std::ofstream(dir_ + "/imapd.conf") << "configdirectory: " << dir_ << "\n" << settings;
    std::ofstream(dir_ + "/cyrus.conf") << services;
    return load_plan(dir_ + "/imapd.conf", dir_ + "/cyrus.conf");
  }
  std::string dir_, tool_;
};

TEST_F(MasterPlanTest, EventsAndDaemonsAreReadWithTheirTimingAndLimits) {
  auto plan =
      load("", "EVENTS {\n  a cmd=\"" + tool_ + "\" period=30s\n  b cmd=\"" + tool_ +
                   "\" period=5\n  c cmd=\"" + tool_ + "\" at=0415\n}\nDAEMON {\n  d cmd=\"" +
                   tool_ + "\" wait=yes maxfds=55\n}\n");
  ASSERT_TRUE(plan) << plan.error();
  ASSERT_EQ(plan->events.size(), 3u);
  EXPECT_EQ(plan->events[0].spec.period_seconds, 30);
  EXPECT_EQ(plan->events[1].spec.period_seconds, 300);
  EXPECT_EQ(plan->events[1].spec.period_minutes, 5);
  EXPECT_EQ(plan->events[2].spec.at_hhmm, 415);
  ASSERT_EQ(plan->daemons.size(), 1u);
  EXPECT_TRUE(plan->daemons[0].spec.wait);
  EXPECT_EQ(plan->daemons[0].spec.maxfds, 55);
  EXPECT_EQ(plan->daemons[0].executable, tool_);
  EXPECT_EQ(plan->settings_path, dir_ + "/imapd.conf");
  EXPECT_EQ(control_socket_path(plan->settings), dir_ + "/socket/master-status");
}

TEST_F(MasterPlanTest, MistakesAreReportedWithTheirPlace) {
  auto plan = load("", "EVENTS {\n  a cmd=\"" + tool_ + "\" period=0s\n}\n");
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error(),
            dir_ + "/cyrus.conf:2: entry \"a\": period \"0s\" is out of range (1s to 68 years)");
  plan = load("", "EVENTS {\n  a cmd=\"" + tool_ + "\"\n  a cmd=\"" + tool_ + "\"\n}\n");
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error(),
            dir_ + "/cyrus.conf:3: EVENTS \"a\" is already defined at " + dir_ + "/cyrus.conf:2");
  plan = load("", "DAEMON {\n  d cmd=\"" + dir_ + "/missing\"\n}\n");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("cyrus.conf:2: DAEMON \"d\": cannot find executable"),
            std::string::npos)
      << plan.error();
}

TEST_F(MasterPlanTest, MetricsListenMustBeLoopbackAndNotAServiceAddress) {
  auto plan = load("metrics_listen: 0.0.0.0:9124\n", "");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("0.0.0.0:9124 is not a loopback address"), std::string::npos)
      << plan.error();
  plan = load("metrics_listen: 127.0.0.1:9124\n",
              "SERVICES {\n  lmtp cmd=\"" + tool_ + "\" listen=\"127.0.0.1:9124\"\n}\n");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("127.0.0.1:9124 is also metrics_listen"), std::string::npos)
      << plan.error();
  plan = load("metrics_listen: [::1]:9124\n", "");
  ASSERT_TRUE(plan) << plan.error();
  ASSERT_EQ(plan->metrics_listen.size(), 1u);
}

TEST_F(MasterPlanTest, AServiceUserSetButMissingIsAnErrorAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "the service user is only looked at when running as root";
  auto plan = load("cubby_user: nosuchuser4711\n", "");
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error(),
            "cubby_user \"nosuchuser4711\" (" + dir_ + "/imapd.conf:2) does not exist");
  plan = load("cubby_user: root\n", "");
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->identity.kind, ServiceIdentity::Kind::kUnchanged);
  plan = load("cubby_user: nobody\ncubby_group: nosuchgroup4711\n", "");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("cubby_group \"nosuchgroup4711\""), std::string::npos)
      << plan.error();
  plan = load("cubby_user: nobody\n", "");
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->identity.kind, ServiceIdentity::Kind::kSwitch);
  EXPECT_EQ(plan->identity.user, "nobody");
}

}  // namespace
}  // namespace cubby::server
