// Starting the master's children: argv with -C, executable lookup, environment, and what a spawned
// worker inherits (fd 3 = status pipe, fd 4 = listening socket, CYRUS_SERVICE, CYRUS_ID).
#include "server/master/master_exec.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace cubby::server {
namespace {

using Argv = std::vector<std::string>;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cubby-master-exec-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& text, mode_t mode) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    chmod(p.c_str(), mode);
    return p;
  }

 private:
  std::string path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MasterExec, InsertsSettingsPathAfterArgv0) {
  EXPECT_EQ(worker_argv({"lmtpd", "-a"}, "/etc/x.conf"),
            (Argv{"lmtpd", "-C", "/etc/x.conf", "-a"}));
  EXPECT_EQ(worker_argv({"lmtpd"}, "/etc/x.conf"), (Argv{"lmtpd", "-C", "/etc/x.conf"}));
}

TEST(MasterExec, KeepsAnExplicitSettingsOption) {
  EXPECT_EQ(worker_argv({"lmtpd", "-C", "/a.conf"}, "/b.conf"), (Argv{"lmtpd", "-C", "/a.conf"}));
  EXPECT_EQ(worker_argv({"lmtpd", "-a", "-C/a.conf"}, "/b.conf"),
            (Argv{"lmtpd", "-a", "-C/a.conf"}));
  // After `--` a -C is an operand, not the option.
  EXPECT_EQ(worker_argv({"prog", "--", "-C"}, "/b.conf"),
            (Argv{"prog", "-C", "/b.conf", "--", "-C"}));
  EXPECT_EQ(worker_argv({"lmtpd"}, ""), (Argv{"lmtpd"}));
  EXPECT_EQ(worker_argv({}, "/b.conf"), Argv{});
}

TEST(MasterExec, ResolvesAbsolutePathsAsTheyAre) {
  auto r = resolve_executable("/bin/sh", "/nonexistent");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(*r, "/bin/sh");
}

TEST(MasterExec, ResolvesNamesNextToTheMaster) {
  TempDir dir;
  std::string worker = dir.write("lmtpd", "#!/bin/sh\n", 0755);
  auto r = resolve_executable("lmtpd", dir.path());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(*r, worker);
}

TEST(MasterExec, MissingOrUnusableExecutablesAreErrors) {
  TempDir dir;
  dir.write("plain", "not a program\n", 0644);
  std::filesystem::create_directory(dir.path() + "/subdir");

  auto missing = resolve_executable("lmtpd", dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(),
            "cannot find executable \"" + dir.path() + "/lmtpd\": No such file or directory");
  auto absolute = resolve_executable("/no/such/lmtpd", dir.path());
  ASSERT_FALSE(absolute.ok());
  EXPECT_NE(absolute.error().find("cannot find executable \"/no/such/lmtpd\""), std::string::npos);
  if (geteuid() != 0) {  // root may execute anything with an x bit, and read the rest
    EXPECT_FALSE(resolve_executable("plain", dir.path()).ok());
  }
  auto directory = resolve_executable("subdir", dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().find("not a regular file"), std::string::npos);
  EXPECT_FALSE(resolve_executable("", dir.path()).ok());
}

TEST(MasterExec, ProgramDirectoryIsWhereTheTestBinaryLives) {
  auto dir = program_directory();
  ASSERT_TRUE(dir.ok()) << dir.error();
  auto self = std::filesystem::read_symlink("/proc/self/exe");
  EXPECT_EQ(*dir, self.parent_path().string());
}

TEST(MasterExec, ChildEnvironmentReplacesAndAdds) {
  const char* base[] = {"PATH=/bin", "CYRUS_ID=9", "HOME=/root", nullptr};
  auto env = child_environment(const_cast<char**>(base), {"CYRUS_SERVICE=lmtp", "CYRUS_ID=0"});
  EXPECT_EQ(env, (Argv{"PATH=/bin", "HOME=/root", "CYRUS_SERVICE=lmtp", "CYRUS_ID=0"}));
}

TEST(MasterExec, DescribesWaitStatuses) {
  EXPECT_EQ(describe_wait_status(0), "exited with status 0");
  EXPECT_EQ(describe_wait_status(71 << 8), "exited with status 71");
  EXPECT_EQ(describe_wait_status(SIGKILL).rfind("killed by signal 9", 0), 0u);
}

int wait_for(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

TEST(MasterExec, SpawnedWorkerGetsDescriptorsEnvironmentAndArgv) {
  TempDir dir;
  std::string out = dir.path() + "/out";
  // Reports what it inherited: the inode behind fds 3 and 4, whether fds 5..9 are open (nothing
  // but 0-4 may leak; the shell itself uses 10 and up), its environment and arguments.
  std::string script = dir.write("worker",
                                 "#!/bin/sh\n"
                                 "{\n"
                                 "  echo \"args=$*\"\n"
                                 "  echo \"service=$CYRUS_SERVICE id=$CYRUS_ID\"\n"
                                 "  echo \"fd3=$(readlink /proc/$$/fd/3)\"\n"
                                 "  echo \"fd4=$(readlink /proc/$$/fd/4)\"\n"
                                 "  for fd in 5 6 7 8 9; do\n"
                                 "    [ -e /proc/$$/fd/$fd ] && echo \"leaked=$fd\"\n"
                                 "  done\n"
                                 "  echo \"nofile=$(ulimit -n)\"\n"
                                 "} > \"$3\"\n",
                                 0755);
  int pipefd[2];
  ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  // Descriptors that happen to sit where the child wants its own must not be clobbered.
  int extra = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(extra, 0);

  Launch launch;
  launch.path = script;
  launch.argv = worker_argv({"worker", out}, "/etc/cubby/test.conf");
  launch.env = child_environment(environ, {"CYRUS_SERVICE=lmtp", "CYRUS_ID=1"});
  launch.status_fd = pipefd[1];
  launch.listen_fd = sock;
  launch.maxfds = 200;
  auto pid = spawn(launch);
  ASSERT_TRUE(pid.ok()) << pid.error();
  int status = wait_for(*pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_wait_status(status);

  struct stat pst, sst;
  fstat(pipefd[1], &pst);
  fstat(sock, &sst);
  std::string text = slurp(out);
  EXPECT_NE(text.find("args=-C /etc/cubby/test.conf " + out + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("service=lmtp id=1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fd3=pipe:[" + std::to_string(pst.st_ino) + "]"), std::string::npos) << text;
  EXPECT_NE(text.find("fd4=socket:[" + std::to_string(sst.st_ino) + "]"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("leaked="), std::string::npos) << text;
  EXPECT_NE(text.find("nofile=200\n"), std::string::npos) << text;
  close(pipefd[0]);
  close(pipefd[1]);
  close(sock);
  close(extra);
}

TEST(MasterExec, ExecFailureExitsWithOsErr) {
  Launch launch;
  launch.path = "/nonexistent/program";
  launch.argv = {"program"};
  launch.env = {};
  auto pid = spawn(launch);
  ASSERT_TRUE(pid.ok()) << pid.error();
  int status = wait_for(*pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitExecFailed);
}

}  // namespace
}  // namespace cubby::server
