// Which cyrus.conf entries run a Cyrus program Cubby does not provide (server/master/
// cyrus_programs.h), on Debian 12's own cyrus.conf (tests/master/fixtures, from cyrus-common 3.6.1)
// and on single entries.
#include "server/master/cyrus_programs.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "server/master/master_plan.h"

namespace cubby::server {
namespace {

conf::ServiceEntry entry(const std::string& cmd) {
  conf::ServiceEntry e;
  e.name = "x";
  e.args["cmd"] = cmd;
  return e;
}

std::string program(const std::string& cmd) {
  return foreign_cyrus_program(entry(cmd)).value_or("(cubby's or unknown)");
}

TEST(CyrusPrograms, DebiansCyrusConfHasOnlyLmtpdLeft) {
  std::vector<std::string> warnings;
  auto file = conf::load_services(std::string(CUBBY_SOURCE_DIR) +
                                      "/tests/master/fixtures/debian-cyrus.conf",
                                  &warnings);
  ASSERT_TRUE(file) << file.error().str();
  std::map<std::string, std::string> services;
  for (const auto& e : file->services)
    services[e.name] = foreign_cyrus_program(e).value_or("-");
  EXPECT_EQ(services, (std::map<std::string, std::string>{{"imap", "imapd"},
                                                           {"pop3", "pop3d"},
                                                           {"nntp", "nntpd"},
                                                           {"http", "httpd"},
                                                           {"lmtpunix", "-"},
                                                           {"sieve", "timsieved"},
                                                           {"notify", "notifyd"}}));
  std::vector<std::string> start, events;
  for (const auto& e : file->start) start.push_back(foreign_cyrus_program(e).value_or("-"));
  for (const auto& e : file->events) events.push_back(foreign_cyrus_program(e).value_or("-"));
  EXPECT_EQ(start, (std::vector<std::string>{"ctl_cyrusdb", "expire", "tls_prune"}));
  EXPECT_EQ(events, (std::vector<std::string>{"ctl_cyrusdb", "expire", "tls_prune", "expire",
                                              "expire"}));
}

TEST(CyrusPrograms, ByNameWithOrWithoutPathOrWrapper) {
  EXPECT_EQ(program("/usr/lib/cyrus/bin/imapd -U 30"), "imapd");
  EXPECT_EQ(program("cyr_expire -E 3"), "cyr_expire");
  EXPECT_EQ(program("/usr/sbin/cyrus tls_prune"), "tls_prune");
  EXPECT_EQ(program("squatter -r user"), "squatter");
}

TEST(CyrusPrograms, CubbysOwnAndUnknownProgramsAreNotSkipped) {
  EXPECT_EQ(program("lmtpd"), "(cubby's or unknown)");
  EXPECT_EQ(program("lmtpd -a"), "(cubby's or unknown)");
  EXPECT_EQ(program("/usr/lib/cyrus/bin/deliver"), "(cubby's or unknown)");
  EXPECT_EQ(program("/usr/sbin/cubbyctl duplicates prune --days 3"), "(cubby's or unknown)");
  EXPECT_EQ(program("/usr/local/bin/imapd-stats"), "(cubby's or unknown)");
  EXPECT_EQ(program("/usr/sbin/cyrus"), "(cubby's or unknown)");
  EXPECT_EQ(program(""), "(cubby's or unknown)");
  EXPECT_FALSE(foreign_cyrus_program(conf::ServiceEntry{}));
}

// The plan leaves skipped entries out with one warning each; a missing program that is not a
// Cyrus one still fails, as before.
TEST(CyrusPrograms, ThePlanSkipsThemWithAWarningAndStillFailsOnOthers) {
  char tmpl[] = "/tmp/cubby-cyrus-plan-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string tool = dir + "/tool";
  std::ofstream(tool) << "#!/bin/sh\n";
  chmod(tool.c_str(), 0755);
  std::ofstream(dir + "/imapd.conf") << "configdirectory: " << dir << "\n";
  std::ofstream(dir + "/cyrus.conf")
      << "START {\n  recover cmd=\"/usr/sbin/cyrus ctl_cyrusdb -r\"\n}\n"
      << "SERVICES {\n  imap cmd=\"imapd -U 30\" listen=\"imap\" prefork=0\n"
      << "  notify cmd=\"notifyd\" listen=\"" << dir << "/notify\" proto=\"udp\" prefork=1\n"
      << "  lmtpunix cmd=\"" << tool << "\" listen=\"" << dir << "/lmtp\"\n}\n"
      << "EVENTS {\n  tlsprune cmd=\"/usr/sbin/cyrus tls_prune\" at=0401\n}\n";
  auto plan = load_plan(dir + "/imapd.conf", dir + "/cyrus.conf");
  ASSERT_TRUE(plan) << plan.error();
  ASSERT_EQ(plan->services.size(), 1u);
  EXPECT_EQ(plan->services[0].spec.name, "lmtpunix");
  EXPECT_TRUE(plan->start.empty());
  EXPECT_TRUE(plan->events.empty());
  const std::string f = dir + "/cyrus.conf:";
  EXPECT_EQ(plan->warnings,
            (std::vector<std::string>{
                f + "2: START \"recover\" skipped: it runs Cyrus's ctl_cyrusdb, which Cubby does "
                    "not provide",
                f + "10: EVENTS \"tlsprune\" skipped: it runs Cyrus's tls_prune, which Cubby does "
                    "not provide",
                f + "5: service \"imap\" skipped: it runs Cyrus's imapd, which Cubby does not "
                    "provide",
                f + "6: service \"notify\" skipped: it runs Cyrus's notifyd, which Cubby does not "
                    "provide"}));

  std::ofstream(dir + "/cyrus.conf")
      << "SERVICES {\n  other cmd=\"no-such-program\" listen=\"" << dir << "/lmtp\"\n}\n";
  plan = load_plan(dir + "/imapd.conf", dir + "/cyrus.conf");
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("service \"other\": cannot find executable"), std::string::npos)
      << plan.error();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cubby::server
