// End-to-end: started as root, cubby-master binds (a privileged port included), then it and every
// worker run as the service user, with only CAP_NET_BIND_SERVICE left to the master (a reload can
// still bind a privileged port); what the store creates belongs to that user, 0600/0700. lmtpd
// itself refuses to run as root when there is a service user. Needs root and useradd: the test
// user `cubbytest` is created when missing (and left for the next run).
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/master_fixture.h"

namespace cubby::e2e {
namespace {

constexpr const char* kUser = "cubbytest";
constexpr const char* kSender = "sender@example.org";

// A line of /proc/<pid>/status ("Uid", "CapEff"), after the colon, blanks squeezed.
std::string proc_status(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream words(line.substr(field.size() + 1));
      std::string w, out;
      while (words >> w) out += (out.empty() ? "" : " ") + w;
      return out;
    }
  }
  return "";
}

// A free privileged TCP port on 127.0.0.1, 24 if it is free.
int free_privileged_port(int not_this = 0) {
  for (int port : {24, 924, 925, 926, 927, 928, 929, 930}) {
    if (port == not_this) continue;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(static_cast<uint16_t>(port));
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    close(fd);
    if (free) return port;
  }
  return 0;
}

class PrivilegesE2e : public MasterTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the test starts the master as root";
    std::string why;
    auto uid = ensure_user(kUser, &why);
    if (!uid) GTEST_SKIP() << "cannot create the test user: " << why;
    uid_ = *uid;
    struct passwd* pw = getpwuid(uid_);
    ASSERT_NE(pw, nullptr);
    gid_ = pw->pw_gid;
  }
  std::string ids(uid_t id) {
    std::string s = std::to_string(id);
    return s + " " + s + " " + s + " " + s;
  }
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST_F(PrivilegesE2e, TheMasterBindsAsRootThenEverythingRunsAsTheServiceUser) {
  // The root directory holds the ready file the switched master writes.
  ASSERT_EQ(chown(root_.path().c_str(), uid_, gid_), 0);
  const int port = free_privileged_port();
  ASSERT_NE(port, 0) << "no free privileged port";
  ASSERT_NO_FATAL_FAILURE(start_master(
      {"alice", "bob"}, {std::string("cubby_user: ") + kUser},
      {"low cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(port) + "\" prefork=1"}));
  const pid_t master = cubby_->master_pid();
  EXPECT_EQ(proc_status(master, "Uid"), ids(uid_));
  EXPECT_EQ(proc_status(master, "Gid"), ids(gid_));
  EXPECT_EQ(proc_status(master, "CapEff"), "0000000000000400") << "only CAP_NET_BIND_SERVICE";
  EXPECT_EQ(proc_status(master, "CapPrm"), "0000000000000400");
  auto workers = cubby_->workers();
  ASSERT_FALSE(workers.empty());
  for (pid_t w : workers) {
    EXPECT_EQ(proc_status(w, "Uid"), ids(uid_)) << "worker " << w;
    EXPECT_EQ(proc_status(w, "CapEff"), "0000000000000000") << "worker " << w;
    EXPECT_EQ(proc_status(w, "CapPrm"), "0000000000000000") << "worker " << w;
  }
  EXPECT_NE(cubby_->log().find(std::string("running as ") + kUser + ":"), std::string::npos)
      << cubby_->log();

  LmtpClient c = tcp_client(port);
  EXPECT_EQ(c.deliver(kSender, {"alice@e2e.test", "bob@e2e.test"}, test_message("low@example.org")),
            "");
  ASSERT_TRUE(cubby_->wait_settled());
  for (const std::string& path : {CubbyInstance::message_file(cubby_->spool(), "alice", 1),
                                  root_.path() + "/lib/cubby.sqlite"}) {
    auto st = stat_file(path);
    ASSERT_TRUE(st) << path;
    EXPECT_EQ(st->st_uid, uid_) << path;
    EXPECT_EQ(st->st_mode & 07777, 0600u) << path;
  }
  for (const std::string& dir : {CubbyInstance::mailbox_dir(cubby_->spool(), "alice"),
                                 cubby_->spool(), cubby_->spool() + "/stage."}) {
    auto st = stat_file(dir);
    ASSERT_TRUE(st) << dir;
    EXPECT_EQ(st->st_uid, uid_) << dir;
    EXPECT_EQ(st->st_mode & 07777, 0700u) << dir;
  }

  // Unprivileged, the master can still bind a privileged port on reload.
  const int port2 = free_privileged_port(port);
  ASSERT_NE(port2, 0);
  write_services(replace_all(
      services_text(), "}\n",
      "  low2 cmd=\"lmtpd -a\" listen=\"127.0.0.1:" + std::to_string(port2) + "\" prefork=1\n}\n"));
  ASSERT_TRUE(reload());
  LmtpClient c2;
  ASSERT_TRUE(eventually([&] { return c2.connect_tcp(port2); }, 5s)) << cubby_->log();
  EXPECT_EQ(c2.deliver(kSender, {"alice@e2e.test"}, test_message("low2@example.org")), "");

  auto status = cubby_->stop();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

TEST_F(PrivilegesE2e, LmtpdRefusesRootWhenThereIsAServiceUser) {
  ASSERT_NO_FATAL_FAILURE(start_master({}, {}, {}));  // as root: cubby_user: root
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  for (const std::string& user : {std::string(kUser), std::string("nosuchuser4711")}) {
    SCOPED_TRACE(user);
    std::string settings = at_root("as-" + user + ".conf");
    std::ofstream(settings) << read_file(cubby_->settings_path()).value_or("")
                            << "cubby_user: " << user << "\n";
    std::string err = at_root("stderr-" + user);
    ChildFds fds;
    fds.in = fds.out = sv[1];
    fds.stderr_path = err;
    auto pid = spawn_child({std::string(CUBBY_BIN_DIR) + "/lmtpd", "-C", settings}, fds);
    ASSERT_TRUE(pid);
    auto status = wait_for_exit(*pid, 10s);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 78) << *status;
    std::string text = read_file(err).value_or("");
    if (user == kUser) {
      EXPECT_NE(text.find("refusing to run as root: run lmtpd as cubbytest"), std::string::npos)
          << text;
    } else {
      EXPECT_NE(text.find("cubby_user \"nosuchuser4711\" (" + settings), std::string::npos) << text;
      EXPECT_NE(text.find("does not exist"), std::string::npos) << text;
    }
  }
  close(sv[0]);
  close(sv[1]);
}

}  // namespace
}  // namespace cubby::e2e
