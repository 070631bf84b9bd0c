// The real cubby-master binary supervising tiny shell-script workers: prefork, respawn, on-demand
// forking, maxchild, maxforkrate, maxfds, proto, the crash-loop guard and SIGHUP re-enabling it,
// start-up errors, SIGHUP reloads (good and broken), EVENTS, DAEMONs, the control socket, and
// SIGTERM draining; workers killed busy or idle over and over are replaced, never disabled.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "server/master/status_client.h"

namespace {

using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether `pid` is gone or a zombie (a worker orphaned by a dead master waits for init to reap it).
bool dead(pid_t pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return stat.empty() || paren == std::string::npos || stat.compare(paren + 2, 1, "Z") == 0;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

// A worker that reports nothing and lives until killed.
const char* kIdleWorker = "#!/bin/sh\nexec sleep 1000\n";
// A worker that says it is busy (a full event loop) and then lives until killed. The message is a
// StatusMessage{kBusy, pid} in host (little-endian) order.
const char* kBusyWorker =
    "#!/bin/sh\n"
    "b() { printf \"\\\\$(printf %03o $(( ($$ >> $1) & 255 )))\"; }\n"
    "{ printf '\\002\\000\\000\\000'; b 0; b 8; b 16; b 24; } >&3\n"
    "exec sleep 1000\n";
// A worker that, told to stop, finishes its "transaction" (300 ms) and then exits 0.
const char* kDrainingWorker =
    "#!/bin/sh\n"
    "trap 'sleep 0.3; touch \"$0.drained.$$\"; exit 0' TERM\n"
    "while :; do sleep 0.05; done\n";
// A worker that ignores SIGTERM (the shell's SIG_IGN survives exec).
const char* kStubbornWorker = "#!/bin/sh\ntrap '' TERM\nexec sleep 1000\n";
// A worker that fails at once.
const char* kFailingWorker = "#!/bin/sh\nexit 1\n";

// A worker that sends the StatusMessages `statuses` (worker_protocol.h: 1 ready, 3 connection,
// 4 idle) in one write, so that workers starting together do not interleave them, and then lives
// until killed.
std::string reporting_worker(const std::vector<int>& statuses) {
  std::string text =
      "#!/bin/sh\n"
      "o() { printf '\\\\%03o' $(( ($$ >> $1) & 255 )); }\n"
      "p=\"$(o 0)$(o 8)$(o 16)$(o 24)\"\n"
      "printf \"";
  for (int s : statuses) text += "\\\\00" + std::to_string(s) + "\\\\000\\\\000\\\\000$p";
  text += "\" >&3\n";
  return text + "exec sleep 1000\n";
}

class MasterProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cubby-master-XXXXXX";
    dir_ = mkdtemp(tmpl);
    settings("master_shutdown_timeout: 3s\n");
  }
  void settings(const std::string& extra) {
    std::ofstream(dir_ + "/imapd.conf") << "configdirectory: " << dir_ << "\n" << extra;
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (pid_t c : seen_children_) kill(c, SIGKILL);
    std::filesystem::remove_all(dir_);
  }

  std::string worker(const char* text, const std::string& name = "worker") {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    chmod(p.c_str(), 0755);
    return p;
  }
  std::string socket_path(const std::string& name = "lmtp") const { return dir_ + "/sock/" + name; }
  void services(const std::string& text) { std::ofstream(dir_ + "/cyrus.conf") << text; }

  // Starts the master with stderr in dir/master.log.
  void start() {
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      int log = open((dir_ + "/master.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, 2);
      std::string settings = dir_ + "/imapd.conf", svc = dir_ + "/cyrus.conf",
                  ready = dir_ + "/ready";
      execl(CUBBY_BIN_DIR "/cubby-master", "cubby-master", "-C", settings.c_str(), "-M",
            svc.c_str(), "-D", "-r", ready.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  bool ready() {
    return eventually([&] { return std::filesystem::exists(dir_ + "/ready"); });
  }
  std::string log() { return slurp(dir_ + "/master.log"); }

  // Sends SIGHUP and waits until the master has dealt with it (reloaded or refused to).
  bool reload() {
    auto count = [&] {
      std::string text = log();
      size_t n = 0;
      for (size_t at = text.find("SIGHUP: "); at != std::string::npos;
           at = text.find("SIGHUP: ", at + 1)) {
        if (text.compare(at, 17, "SIGHUP: reloaded:") == 0 ||
            text.compare(at, 22, "SIGHUP: cannot reload,") == 0)
          ++n;
      }
      return n;
    };
    size_t before = count();
    kill(pid_, SIGHUP);
    return eventually([&] { return count() > before; });
  }
  size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  std::set<pid_t> children() {
    std::set<pid_t> pids;
    std::stringstream s(
        slurp("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children"));
    pid_t p;
    while (s >> p) pids.insert(p);
    seen_children_.insert(pids.begin(), pids.end());
    return pids;
  }
  bool children_become(size_t n, std::chrono::milliseconds limit = 5s) {
    return eventually([&] { return children().size() == n; }, limit);
  }

  // Waits for the master to exit; returns its wait status, or -1 after `limit`.
  int wait_exit(std::chrono::milliseconds limit = 5s) {
    int status = -1;
    bool gone = eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!gone) return -1;
    pid_ = 0;
    return status;
  }

  int connect_unix() { return connect_unix_at(socket_path()); }
  int connect_unix_at(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  std::string dir_;
  pid_t pid_ = 0;
  std::set<pid_t> seen_children_;
};

TEST_F(MasterProcessTest, PreforksRespawnsAndDrainsOnSigterm) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(2)) << log();
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/master.pid"));
  struct stat st;
  ASSERT_EQ(stat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  std::set<pid_t> before = children();
  pid_t victim = *before.begin();
  kill(victim, SIGKILL);
  ASSERT_TRUE(eventually([&] {
    auto now = children();
    return now.size() == 2 && !now.count(victim);
  })) << log();
  EXPECT_NE(log().find("worker " + std::to_string(victim) + " killed by signal 9"),
            std::string::npos)
      << log();

  std::set<pid_t> workers = children();
  kill(pid_, SIGTERM);
  int status = wait_exit();
  ASSERT_NE(status, -1) << "master did not stop\n" << log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << log();
  for (pid_t w : workers) EXPECT_TRUE(dead(w)) << "worker " << w << " outlived the master";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/master.pid"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ready"));
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

TEST_F(MasterProcessTest, PreforkZeroForksOnTheFirstConnection) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=0\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(children().size(), 0u) << log();

  int fd = connect_unix();
  ASSERT_GE(fd, 0);
  // One worker, counted ready from its fork, so a waiting connection makes no more.
  EXPECT_TRUE(children_become(1, 2s)) << log();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(children().size(), 1u) << log();
  close(fd);
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, BusyWorkersGrowToMaxchildAndNoFurther) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kBusyWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=1 maxchild=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  // The first worker says it is full, so the master forks a second to keep one ready; that one
  // is full too, and maxchild stops it there.
  ASSERT_TRUE(children_become(2)) << log();
  ASSERT_TRUE(eventually([&] { return log().find("reached maxchild=2") != std::string::npos; }))
      << log();
  int fd = connect_unix();  // waits in the backlog: no third worker
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(children().size(), 2u) << log();
  close(fd);
  std::string text = log();
  EXPECT_EQ(text.find("reached maxchild"), text.rfind("reached maxchild")) << "logged twice\n"
                                                                           << text;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, CrashingWorkersDisableTheAddress) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kFailingWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(eventually([&] {
    return log().find("service \"lmtp\" (" + socket_path() +
                      ") disabled: its workers cannot start: 5 exited before they were ready "
                      "within 10 s, the last: worker ") != std::string::npos;
  })) << log();
  EXPECT_NE(log().find("exited with status 1 before it was ready; retrying in 10 s"),
            std::string::npos)
      << log();
  EXPECT_TRUE(children_become(0)) << log();
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(kill(pid_, 0), 0) << "the master itself keeps running";
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, MissingExecutableIsFatalAtStartup) {
  services("SERVICES {\n  lmtp cmd=\"" + dir_ + "/nothing -a\" listen=\"" + socket_path() +
           "\"\n}\n");
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(
      log().find("cyrus.conf:2: service \"lmtp\": cannot find executable \"" + dir_ + "/nothing\""),
      std::string::npos)
      << log();
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

TEST_F(MasterProcessTest, ConfigErrorIsPrintedWithFileAndLine) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\"\n}\n");  // no listen=
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(log().find(dir_ + "/cyrus.conf:2: "), std::string::npos) << log();
}

TEST_F(MasterProcessTest, BindFailureNamesServiceAndAddress) {
  // A regular file where the socket should go is not removed, so binding fails.
  std::filesystem::create_directories(dir_ + "/sock");
  std::ofstream(socket_path()) << "precious\n";
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=1\n}\n");
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(log().find("service \"lmtp\""), std::string::npos) << log();
  EXPECT_NE(log().find("cannot listen on " + socket_path()), std::string::npos) << log();
  EXPECT_EQ(slurp(socket_path()), "precious\n");
}

TEST_F(MasterProcessTest, FailingStartEntryIsFatal) {
  services("START {\n  boot cmd=\"/bin/false\"\n}\nSERVICES {\n  lmtp cmd=\"" +
           worker(kIdleWorker) + "\" listen=\"" + socket_path() + "\" prefork=1\n}\n");
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(log().find("START \"boot\""), std::string::npos) << log();
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

TEST_F(MasterProcessTest, SecondMasterOnTheSamePidfileRefuses) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  pid_t first = pid_;
  std::filesystem::rename(dir_ + "/master.log", dir_ + "/first.log");
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(log().find("is locked by pid " + std::to_string(first)), std::string::npos) << log();
  // The first master still owns its socket.
  EXPECT_TRUE(std::filesystem::exists(socket_path()));
  pid_ = first;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0);
}

TEST_F(MasterProcessTest, WorkersStopWhenTheMasterDiesUncleanly) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(2)) << log();
  std::set<pid_t> workers = children();
  kill(pid_, SIGKILL);
  wait_exit();
  for (pid_t w : workers) {
    EXPECT_TRUE(eventually([&] { return dead(w); }, 2s)) << "worker " << w << " lives on";
  }
}

TEST_F(MasterProcessTest, UnixSocketGetsModeOwnerAndGroup) {
  if (geteuid() != 0) GTEST_SKIP() << "changing a socket's owner needs root";
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" mode=0600 owner=nobody group=nogroup\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  struct stat st;
  ASSERT_EQ(stat(socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, getpwnam("nobody")->pw_uid);
  EXPECT_EQ(st.st_gid, getgrnam("nogroup")->gr_gid);
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, SigtermWaitsForWorkersToFinish) {
  std::string script = worker(kDrainingWorker);
  services("SERVICES {\n  lmtp cmd=\"" + script + "\" listen=\"" + socket_path() +
           "\" prefork=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(2)) << log();
  std::set<pid_t> workers = children();
  std::this_thread::sleep_for(100ms);  // let the shells install their traps
  auto begin = std::chrono::steady_clock::now();
  kill(pid_, SIGTERM);
  // The socket goes at once; the master stays until both workers are done.
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(socket_path()); }, 1s));
  EXPECT_EQ(connect_unix(), -1);
  int status = wait_exit();
  ASSERT_NE(status, -1) << log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log();
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 250ms);
  for (pid_t w : workers)
    EXPECT_TRUE(std::filesystem::exists(script + ".drained." + std::to_string(w))) << log();
  EXPECT_EQ(log().find("killing"), std::string::npos) << log();
}

TEST_F(MasterProcessTest, ShutdownTimeoutKillsStragglers) {
  settings("master_shutdown_timeout: 300ms\n");
  services("SERVICES {\n  lmtp cmd=\"" + worker(kStubbornWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(1)) << log();
  std::this_thread::sleep_for(100ms);
  pid_t w = *children().begin();
  kill(pid_, SIGTERM);
  int status = wait_exit(3s);
  ASSERT_NE(status, -1) << log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log();
  EXPECT_TRUE(dead(w));
  EXPECT_NE(log().find("killing 1 worker"), std::string::npos) << log();
}

TEST_F(MasterProcessTest, TwoServicesOnOneSocketAreRefused) {
  std::string w = worker(kIdleWorker);
  services("SERVICES {\n  a cmd=\"" + w + "\" listen=\"" + socket_path() + "\"\n  b cmd=\"" + w +
           "\" listen=\"" + socket_path() + "\"\n}\n");
  start();
  int status = wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(log().find("is already used by service \"a\""), std::string::npos) << log();
}

TEST_F(MasterProcessTest, SighupAddsRemovesAndRecycles) {
  std::string w = worker(kIdleWorker);
  services("SERVICES {\n  a cmd=\"" + w + "\" listen=\"" + socket_path("a") + "\" prefork=2\n" +
           "  b cmd=\"" + w + "\" listen=\"" + socket_path("b") + "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(3)) << log();
  std::set<pid_t> before = children();
  struct stat a_before;
  ASSERT_EQ(stat(socket_path("a").c_str(), &a_before), 0);

  services("SERVICES {\n  a cmd=\"" + w + "\" listen=\"" + socket_path("a") + "\" prefork=2\n" +
           "  c cmd=\"" + w + "\" listen=\"" + socket_path("c") + "\" prefork=1\n}\n");
  ASSERT_TRUE(reload()) << log();
  // Every old worker is recycled; a keeps its socket, b's goes, c's comes.
  ASSERT_TRUE(eventually([&] {
    auto now = children();
    if (now.size() != 3) return false;
    for (pid_t p : now)
      if (before.count(p)) return false;
    return true;
  })) << log();
  struct stat a_after;
  ASSERT_EQ(stat(socket_path("a").c_str(), &a_after), 0);
  EXPECT_EQ(a_after.st_ino, a_before.st_ino) << "a's socket was bound again";
  EXPECT_FALSE(std::filesystem::exists(socket_path("b")));
  EXPECT_TRUE(std::filesystem::exists(socket_path("c")));
  std::string text = log();
  EXPECT_NE(text.find("SIGHUP: service \"b\" (" + socket_path("b") + ") removed"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("SIGHUP: service \"c\" (" + socket_path("c") + ") added"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("failures"), std::string::npos) << "recycling is no failure\n" << text;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, BrokenFileOnSighupKeepsTheRunningConfiguration) {
  std::string w = worker(kIdleWorker);
  std::string good =
      "SERVICES {\n  a cmd=\"" + w + "\" listen=\"" + socket_path("a") + "\" prefork=1\n}\n";
  services(good);
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(1)) << log();
  std::set<pid_t> before = children();

  services(good + "EVENTS {\n  x cmd=\"" + w + "\" period=often\n}\n");
  ASSERT_TRUE(reload()) << log();
  EXPECT_NE(log().find("SIGHUP: cannot reload, the running configuration stays: " + dir_ +
                       "/cyrus.conf:5: entry \"x\": period \"often\" is not a number"),
            std::string::npos)
      << log();
  settings("master_shutdown_timeout: forever\n");
  services(good);
  ASSERT_TRUE(reload()) << log();
  EXPECT_NE(log().find("imapd.conf:2: "), std::string::npos) << log();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(children(), before) << "workers were recycled by a refused reload\n" << log();
  EXPECT_TRUE(std::filesystem::exists(socket_path("a")));
  int fd = connect_unix_at(socket_path("a"));
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);

  auto status = cubby::server::ask_master(dir_ + "/socket/master-status", "status");
  ASSERT_TRUE(status) << status.error();
  EXPECT_NE(status->find("reloads: 2"), std::string::npos) << *status;
  EXPECT_NE(status->find("imapd.conf:2: "), std::string::npos) << *status;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, CrashLoopIsDisabledUntilSighupEnablesItAgain) {
  std::string script = worker(kFailingWorker);
  services("SERVICES {\n  lmtp cmd=\"" + script + "\" listen=\"" + socket_path() +
           "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(eventually([&] {
    return log().find("service \"lmtp\" (" + socket_path() + ") disabled: ") != std::string::npos;
  })) << log();
  EXPECT_TRUE(children_become(0)) << log();
  EXPECT_EQ(connect_unix(), -1) << "a disabled service refuses connections";
  auto status = cubby::server::ask_master(dir_ + "/socket/master-status", "status");
  ASSERT_TRUE(status) << status.error();
  EXPECT_NE(status->find("disabled"), std::string::npos) << *status;
  EXPECT_NE(status->find("worker "), std::string::npos) << "the last error is shown\n" << *status;
  EXPECT_NE(status->find("\nhealth: DISABLED service \"lmtp\""), std::string::npos) << *status;

  worker(kIdleWorker);  // the administrator fixes the program
  ASSERT_TRUE(reload()) << log();
  EXPECT_TRUE(children_become(1)) << log();
  EXPECT_TRUE(std::filesystem::exists(socket_path()));
  int fd = connect_unix();
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  EXPECT_NE(log().find("enabled again"), std::string::npos) << log();
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, WorkersKilledOverAndOverWithConnectionsOpenAreReplacedNotDisabled) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(reporting_worker({1, 3}).c_str()) + "\" listen=\"" +
           socket_path() + "\" prefork=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  const std::string control = dir_ + "/socket/master-status";
  const std::string labels = "{service=\"lmtp\",listen=\"" + socket_path() + "\"";
  auto metrics_text = [&] {
    auto m = cubby::server::ask_master(control, "metrics");
    return m ? *m : m.error();
  };
  auto metric = [&](const std::string& name_and_labels) -> long {
    auto m = cubby::server::ask_master(control, "metrics");
    if (!m) return -1;
    size_t at = m->find("\n" + name_and_labels + " ");
    return at == std::string::npos ? -1 : atol(m->c_str() + at + name_and_labels.size() + 2);
  };
  // 20 rounds: every worker that has said it has a connection open is killed.
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(eventually([&] {
      return metric("cubby_service_workers" + labels + ",state=\"ready\"}") == 2 &&
             children().size() == 2;
    })) << "round "
        << round << "\n"
        << log();
    // Both have reported (they count as busy deaths) once the connections are counted.
    ASSERT_TRUE(eventually([&] {
      return metric("cubby_service_connections_total" + labels + "}") >= 2 * (round + 1);
    })) << "round "
        << round << "\n"
        << log() << metrics_text();
    for (pid_t p : children()) kill(p, SIGKILL);
  }
  EXPECT_TRUE(eventually([&] {
    return metric("cubby_service_worker_deaths_total" + labels + ",kind=\"busy\"}") == 40;
  })) << log()
      << metrics_text();
  EXPECT_TRUE(children_become(2)) << log();
  EXPECT_EQ(metric("cubby_service_worker_deaths_total" + labels + ",kind=\"at_start\"}"), 0);
  EXPECT_EQ(metric("cubby_service_disabled_total" + labels + "}"), 0);
  EXPECT_EQ(metric("cubby_service_up" + labels + "}"), 1);
  EXPECT_EQ(log().find("disabled"), std::string::npos) << log();
  EXPECT_NE(log().find("with connections open"), std::string::npos) << log();
  EXPECT_EQ(log().find("holding replacements back"), std::string::npos)
      << "busy deaths are replaced at once\n"
      << log();
  auto status = cubby::server::ask_master(control, "status");
  ASSERT_TRUE(status) << status.error();
  EXPECT_NE(status->find("\nhealth: ok\n"), std::string::npos) << *status;
  EXPECT_NE(status->find(" 0/0/40 "), std::string::npos) << *status;
  int fd = connect_unix();
  EXPECT_GE(fd, 0) << "still accepting";
  if (fd >= 0) close(fd);
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, IdleWorkersThatDieAreReplacedHeldBackAndCountedAsIdle) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(reporting_worker({1}).c_str()) + "\" listen=\"" +
           socket_path() + "\" prefork=1\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  const std::string control = dir_ + "/socket/master-status";
  for (int round = 0; round < 12; ++round) {
    ASSERT_TRUE(children_become(1)) << log();
    // Once the worker has said it is ready, its death (a signal it does not handle) is idle.
    std::this_thread::sleep_for(150ms);
    for (pid_t p : children()) kill(p, SIGUSR1);
    ASSERT_TRUE(eventually([&] {
      auto json = cubby::server::ask_master(control, "status json");
      return json && json->find("\"idle\":" + std::to_string(round + 1) + ",") != std::string::npos;
    })) << log();
  }
  auto json = cubby::server::ask_master(control, "status json");
  ASSERT_TRUE(json);
  EXPECT_NE(json->find("\"worker_deaths\":{\"at_start\":0,\"idle\":12,\"busy\":0}"),
            std::string::npos)
      << *json;
  EXPECT_NE(json->find("\"healthy\":true"), std::string::npos) << *json;
  EXPECT_NE(log().find("killed by signal 10 (User defined signal 1) while idle"), std::string::npos)
      << log();
  // More than 10 within 10 s: replacements are held back (and still come).
  EXPECT_NE(log().find("more than 10 workers died within 10 s; holding replacements back"),
            std::string::npos)
      << log();
  EXPECT_TRUE(children_become(1)) << log();
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, MaxforkrateHoldsForksBack) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=8 maxforkrate=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  std::this_thread::sleep_for(150ms);
  EXPECT_LE(children().size(), 3u) << "a burst beyond maxforkrate\n" << log();
  EXPECT_GE(children().size(), 1u);
  EXPECT_TRUE(children_become(8, 8s)) << log();
  EXPECT_NE(log().find("is forking at maxforkrate=2 per second"), std::string::npos) << log();
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, MaxfdsAndArgumentsReachTheWorker) {
  std::string out = dir_ + "/limits";
  std::string script = worker(("#!/bin/sh\necho \"$(ulimit -n) $CYRUS_SERVICE $CYRUS_ID $*\" > " +
                               out + ".$$\nexec sleep 1000\n")
                                  .c_str());
  std::string daemon =
      worker(("#!/bin/sh\nulimit -n > " + out + ".daemon\nexec sleep 1000\n").c_str(), "daemon");
  services("SERVICES {\n  lmtp cmd=\"" + script + " -a\" listen=\"" + socket_path() +
           "\" prefork=1 maxfds=77\n}\nDAEMON {\n  d cmd=\"" + daemon + "\" maxfds=55\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(2)) << log();
  ASSERT_TRUE(eventually([&] { return slurp(out + ".daemon") == "55\n"; }))
      << slurp(out + ".daemon");
  std::string file;  // the worker's, named after its pid
  ASSERT_TRUE(eventually([&] {
    for (pid_t p : children())
      if (!slurp(out + "." + std::to_string(p)).empty()) file = out + "." + std::to_string(p);
    return !file.empty();
  })) << log();
  EXPECT_EQ(slurp(file), "77 lmtp 0 -C " + dir_ + "/imapd.conf -a\n");
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, ProtoChoosesTheAddressFamilies) {
  int port = 0;
  {  // a free port on both families
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    socklen_t len = sizeof sa;
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin6_port);
    close(fd);
  }
  ASSERT_GT(port, 0);
  std::string w = worker(kIdleWorker);
  std::string p = std::to_string(port);
  services("SERVICES {\n  four cmd=\"" + w + "\" listen=\"" + p + "\" proto=tcp4\n" +
           "  six cmd=\"" + w + "\" listen=\"" + std::to_string(port + 1) + "\" proto=tcp6\n" +
           "  both cmd=\"" + w + "\" listen=\"" + std::to_string(port + 2) + "\"\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  std::string text = log();
  EXPECT_NE(text.find("service \"four\" (0.0.0.0:" + p + "): listening"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("service \"four\" ([::]"), std::string::npos) << text;
  EXPECT_NE(text.find("service \"six\" ([::]:" + std::to_string(port + 1) + "): listening"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("service \"six\" (0.0.0.0"), std::string::npos) << text;
  EXPECT_NE(text.find("service \"both\" (0.0.0.0:"), std::string::npos) << text;
  EXPECT_NE(text.find("service \"both\" ([::]:"), std::string::npos) << text;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
}

TEST_F(MasterProcessTest, EventsRunOnTheirScheduleButNeverTwiceAtOnce) {
  // Each run of "slow" takes 1.3 s and is due every second.
  std::string runs = dir_ + "/runs";
  std::string slow = worker(
      ("#!/bin/sh\necho start >> " + runs + "\nsleep 1.3\necho end >> " + runs + "\n").c_str(),
      "slow");
  std::string once = worker("#!/bin/sh\nexit 3\n", "once");
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\"\n}\nEVENTS {\n  slow cmd=\"" + slow + "\" period=1s\n  once cmd=\"" + once +
           "\"\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  std::this_thread::sleep_for(3500ms);
  std::string text = slurp(runs);
  // Started at 0 s, skipped at 1 s, started at 2 s (the first ended at 1.3 s), skipped at 3 s.
  EXPECT_EQ(text.rfind("start\nend\nstart\n", 0), 0u) << text;
  EXPECT_EQ(text.find("start\nstart"), std::string::npos) << "two runs at once:\n" << text;
  std::string l = log();
  EXPECT_NE(l.find("event \"slow\": the run started"), std::string::npos) << l;
  EXPECT_NE(l.find("is still going; skipping this one"), std::string::npos) << l;
  EXPECT_EQ(occurrences(l, "event \"once\": running"), 1u) << l;
  EXPECT_NE(l.find("event \"once\" (pid"), std::string::npos) << l;
  EXPECT_NE(l.find(") exited with status 3 after"), std::string::npos) << l;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << "the master waits for the running event\n" << log();
  EXPECT_EQ(slurp(runs).find("start\nstart"), std::string::npos);
}

TEST_F(MasterProcessTest, DaemonsAreKeptAliveWithBackoffAndStoppedAtTheEnd) {
  std::string starts = dir_ + "/starts";
  std::string quitter =
      worker(("#!/bin/sh\necho $$ >> " + starts + "\nexit 0\n").c_str(), "quitter");
  std::string waiter = worker("#!/bin/sh\nprintf 'ok\\r\\n' >&3\nexec sleep 1000\n", "waiter");
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\"\n}\nDAEMON {\n  quitter cmd=\"" + quitter + "\"\n  waiter cmd=\"" + waiter +
           "\" wait=yes\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  std::this_thread::sleep_for(3500ms);
  // Started at 0 s, again 1 s after its exit, then 2 s after that: three times, not hundreds.
  size_t n = occurrences(slurp(starts), "\n");
  EXPECT_GE(n, 2u) << log();
  EXPECT_LE(n, 4u) << log();
  EXPECT_NE(log().find("daemon \"quitter\" (pid"), std::string::npos) << log();
  EXPECT_NE(log().find("starting it again in 2000 ms"), std::string::npos) << log();
  std::set<pid_t> kids = children();
  ASSERT_EQ(kids.size(), 1u) << "only the waiter runs (prefork=0)\n" << log();
  pid_t waiter_pid = *kids.begin();
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
  EXPECT_TRUE(dead(waiter_pid));
}

TEST_F(MasterProcessTest, ControlSocketAnswersStatusJsonAndMetrics) {
  services("SERVICES {\n  lmtp cmd=\"" + worker(kIdleWorker) + "\" listen=\"" + socket_path() +
           "\" prefork=2\n}\n");
  start();
  ASSERT_TRUE(ready()) << log();
  ASSERT_TRUE(children_become(2)) << log();
  const std::string control = dir_ + "/socket/master-status";
  struct stat st;
  ASSERT_EQ(stat(control.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto text = cubby::server::ask_master(control, "status");
  ASSERT_TRUE(text) << text.error();
  EXPECT_NE(text->find("cubby-master pid " + std::to_string(pid_)), std::string::npos) << *text;
  EXPECT_NE(text->find("lmtp     " + socket_path() + "  enabled  2"), std::string::npos) << *text;
  auto json = cubby::server::ask_master(control, "status json");
  ASSERT_TRUE(json) << json.error();
  EXPECT_NE(json->find("\"service\":\"lmtp\",\"listen\":\"" + socket_path() +
                       "\",\"state\":\"enabled\",\"ready\":2"),
            std::string::npos)
      << *json;
  auto metrics = cubby::server::ask_master(control, "metrics");
  ASSERT_TRUE(metrics) << metrics.error();
  EXPECT_NE(metrics->find("cubby_service_worker_starts_total{service=\"lmtp\",listen=\"" +
                          socket_path() + "\"} 2\n"),
            std::string::npos)
      << *metrics;
  auto bad = cubby::server::ask_master(control, "shutdown");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->rfind("error: unknown request", 0), 0u) << *bad;
  kill(pid_, SIGTERM);
  EXPECT_EQ(wait_exit(), 0) << log();
  EXPECT_FALSE(std::filesystem::exists(control));
}

}  // namespace
