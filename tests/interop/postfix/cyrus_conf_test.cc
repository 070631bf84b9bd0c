// A Cyrus site moved over as it is, with a real Postfix: Debian 12's own imapd.conf and cyrus.conf
// (cyrus-common 3.6.1, tests/master/fixtures) with only their paths moved into a temporary
// directory and the one line docs/guide.md tells a moving site to change (the lmtpunix entry gets
// Cyrus's own socket mode, mode=0777). cubby-master starts, logs each skipped Cyrus service, and
// Postfix's lmtp(8), running as postfix, delivers through the socket it made.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/process.h"
#include "tests/interop/postfix/fixture.h"

namespace cubby::interop {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

TEST_F(PostfixInterop, DebiansCyrusConfigurationMovedOverAsItIs) {
  const std::string root = cubby_root_.path();
  ASSERT_EQ(chmod(root.c_str(), 0755), 0);
  auto moved = [&](const std::string& fixture) {
    std::string text = read_file(std::string(CUBBY_SOURCE_DIR) + "/tests/master/fixtures/" + fixture);
    EXPECT_FALSE(text.empty()) << fixture;
    for (const char* dir : {"/var/lib/cyrus", "/run/cyrus", "/var/spool/cyrus", "/var/spool/sieve",
                            "/var/spool/news"})
      text = replace_all(text, dir, root + dir);
    return text;
  };
  std::string services = moved("debian-cyrus.conf");
  const std::string line = "maxchild=20\n";
  size_t at = services.find("lmtpunix");
  ASSERT_NE(at, std::string::npos);
  at = services.find(line, at);
  ASSERT_NE(at, std::string::npos);
  services.replace(at, line.size(), "maxchild=20 mode=0777\n");  // the one line
  std::ofstream(root + "/imapd.conf") << moved("debian-imapd.conf");
  std::ofstream(root + "/cyrus.conf") << services;

  const std::string bin = CUBBY_BIN_DIR;
  auto created = e2e::run_program(
      {bin + "/cubbyctl", "-C", root + "/imapd.conf", "mailbox", "create", "user.bob"});
  ASSERT_EQ(created.exit_code, 0) << created.describe();
  std::string error;
  auto master = e2e::spawn_logged({bin + "/cubby-master", "-C", root + "/imapd.conf", "-M",
                                   root + "/cyrus.conf", "-D", "-r", root + "/ready"},
                                  root + "/master.log", &error);
  ASSERT_TRUE(master) << error;
  struct Stop {
    pid_t pid;
    ~Stop() {
      kill(pid, SIGTERM);
      EXPECT_TRUE(e2e::wait_for_exit(pid, std::chrono::seconds(30)));
    }
  } stop{*master};
  ASSERT_TRUE(e2e::eventually([&] { return std::filesystem::exists(root + "/ready"); },
                              std::chrono::seconds(10)))
      << read_file(root + "/master.log");
  const std::string log = read_file(root + "/master.log");
  for (const char* skipped : {"service \"imap\" skipped: it runs Cyrus's imapd",
                              "service \"pop3\" skipped: it runs Cyrus's pop3d",
                              "service \"nntp\" skipped: it runs Cyrus's nntpd",
                              "service \"http\" skipped: it runs Cyrus's httpd",
                              "service \"sieve\" skipped: it runs Cyrus's timsieved",
                              "service \"notify\" skipped: it runs Cyrus's notifyd",
                              "START \"recover\" skipped: it runs Cyrus's ctl_cyrusdb",
                              "EVENTS \"checkpoint\" skipped: it runs Cyrus's ctl_cyrusdb"})
    EXPECT_NE(log.find(skipped), std::string::npos) << skipped << "\n" << log;
  // With Cyrus's mode the master has nothing to say about Postfix reaching the socket.
  EXPECT_EQ(log.find("postfix (uid"), std::string::npos) << log;

  const std::string socket = root + "/run/cyrus/socket/lmtp";
  postfix().set("local_transport", "lmtp:unix:" + socket);
  postfix().set("local_recipient_maps", "");  // bob has no UNIX account
  ASSERT_NO_FATAL_FAILURE(start_postfix());
  ASSERT_EQ(postfix().smtp({{"sender@cubby.test", {"bob@cubby.test"}, interop_message("deb@ix")}}),
            "");
  ASSERT_TRUE(postfix().wait_queue_empty(std::chrono::seconds(30)))
      << postfix().postqueue({"-p"}).out;
  EXPECT_EQ(postfix()
                .log_lines("to=<bob@cubby\\.test>, relay=[^,]*" + regex_escape("[" + socket + "]") +
                           ".*status=sent \\(250 2\\.1\\.5 ")
                .size(),
            1u)
      << postfix().maillog();
  int files = 0;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(root + "/var/spool/cyrus/mail")) {
    if (e.is_regular_file() && e.path().filename().string().back() == '.' &&
        read_file(e.path()).find("deb@ix") != std::string::npos)
      ++files;
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace cubby::interop
