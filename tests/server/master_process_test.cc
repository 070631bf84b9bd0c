// The real cubby-master binary supervising tiny shell-script workers: prefork, respawn, on-demand
// forking, maxchild, the crash-loop guard, start-up errors, and SIGTERM draining.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
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
  std::string socket_path() const { return dir_ + "/sock/lmtp"; }
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

  int connect_unix() {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", socket_path().c_str());
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
    return log().find("too many failures for service \"lmtp\"") != std::string::npos;
  })) << log();
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

}  // namespace
